/* SPDX-License-Identifier: ISC */
/* Fuzz target: stack.yaml (cutover apply) on arbitrary bytes. Whatever parses must plan against
 * an empty proxy and server (every object a create), and every body it would send must be
 * well-formed: each deployment group's body parses again as group.json. A refusal must say
 * where: "fuzz.yaml:LINE:COL: …". */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "fuzz.h"
#include "protocol/deploy_group.h"
#include "protocol/stack.h"
#include "protocol/stack_plan.h"

static void
exercise(const struct stack *s)
{
    const char **none = calloc(s->nconfigs + s->ndgroups + 1, sizeof(*none));
    struct stack_live live = {.listeners_doc = "{\"listeners\":[]}",
                              .groups_doc = "{\"target_groups\":[]}",
                              .apps_doc = "{\"applications\":[]}",
                              .config_docs = none,
                              .group_docs = none};
    struct stack_plan p;
    struct err err;
    char *body;

    ASSERT(none != NULL);
    for (size_t i = 0; i < s->ndgroups; i++) {
        struct deploy_group g;

        ASSERT(deploy_group_parse(s->dgroups[i].body, strlen(s->dgroups[i].body), "body", &g,
                                  &err) == 0);
        deploy_group_fini(&g);
    }
    for (size_t i = 0; i < s->nconfigs; i++)
        free(stack_config_body_format(s, i));
    if (stack_plan_make(s, &live, false, &p, &err) == 0) {
        ASSERT(p.nupdate == 0);
        free(stack_plan_changes_format(s, &p));
        body = stack_plan_format(&p, NULL, true);
        free(body);
        stack_plan_fini(&p);
    } else {
        ASSERT(strncmp(err.msg, "fuzz.yaml:", 10) == 0);
    }
    free(none);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stack s;
    struct err err;

    if (stack_parse(&s, "fuzz.yaml", (const char *)data, size, NULL, &err) != 0) {
        ASSERT(strncmp(err.msg, "fuzz.yaml:", 10) == 0);
        return 0;
    }
    exercise(&s);
    stack_fini(&s);
    return 0;
}
