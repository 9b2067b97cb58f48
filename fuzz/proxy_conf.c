/* SPDX-License-Identifier: ISC */
/* Fuzz target: proxy.yaml → generation, with and without a registry; then clone and the admin
 * modifiers on every success, so a generation that loads is also one that can be changed. */
#include <string.h>

#include "common/err.h"
#include "fuzz.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

static void
exercise(struct proxy_conf *c, struct target_group_registry *reg)
{
    struct proxy_conf *next = proxy_conf_clone(c);
    struct err err;

    for (size_t i = 0; i < c->nlisteners && c->ngroups > 0; i++) {
        struct proxy_conf_weight fw[] = {{c->groups[0].name, 7},
                                         {c->groups[c->ngroups - 1].name, 3}};
        (void)proxy_conf_set_forward(next, c->listeners[i].name, fw, c->ngroups > 1 ? 2 : 1, &err);
    }
    for (size_t i = 0; i < c->ngroups; i++) {
        const struct target_group *g = &c->groups[i];
        if (g->ntargets > 0) {
            struct addr a = g->targets[0]->addr;
            (void)proxy_conf_remove_targets(next, g->name, &a, 1, &err);
            (void)proxy_conf_add_targets(next, g->name, &a, 1, reg, &err);
        }
        (void)proxy_conf_group_in_use(c, g);
    }
    proxy_conf_unref(next);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct target_group_registry *reg = target_group_registry_new(2);
    struct proxy_conf *c = NULL;
    struct err err;

    if (proxy_conf_load_buffer(&c, "fuzz.yaml", (const char *)data, size, NULL, &err) == 0) {
        exercise(c, NULL);
        proxy_conf_unref(c);
    }
    if (proxy_conf_load_buffer(&c, "fuzz.yaml", (const char *)data, size, reg, &err) == 0) {
        exercise(c, reg);
        proxy_conf_unref(c);
    }
    target_group_registry_free(reg);
    return 0;
}
