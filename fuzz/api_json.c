/* SPDX-License-Identifier: ISC */
/* Fuzz target: every control plane JSON parser (the API's request bodies and the agent's view
 * of the server's answers) on arbitrary bytes; a body that parses is formatted and parsed
 * again where a formatter exists. */
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "fuzz.h"
#include "protocol/deploy_agent.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"

static void
agent_bodies(const char *s, size_t n)
{
    struct deploy_agent_register reg;
    struct deploy_command_list cmds;
    struct deploy_event_report ev;
    struct deploy_heartbeat hb;
    struct err err;

    if (deploy_agent_register_parse(s, n, &reg, &err) == 0) {
        char *again = deploy_agent_register_format(&reg);

        deploy_agent_register_fini(&reg);
        if (deploy_agent_register_parse(again, strlen(again), &reg, &err) != 0)
            abort();
        deploy_agent_register_fini(&reg);
        free(again);
    }
    if (deploy_agent_commands_parse(s, n, &cmds, &err) == 0) {
        char *again = deploy_agent_commands_format(cmds.items, cmds.n);

        deploy_agent_commands_fini(&cmds);
        if (deploy_agent_commands_parse(again, strlen(again), &cmds, &err) != 0)
            abort();
        deploy_agent_commands_fini(&cmds);
        free(again);
    }
    if (deploy_agent_event_parse(s, n, &ev, &err) == 0)
        deploy_agent_event_fini(&ev);
    if (deploy_agent_heartbeat_parse(s, n, &hb, &err) == 0)
        deploy_agent_heartbeat_fini(&hb);
}

static void
admin_bodies(const char *s, size_t n)
{
    struct deploy_group g;
    struct deploy_config c;
    struct deploy_create_request r;
    struct deploy_info d;
    struct deploy_instance_summaries is;
    struct deploy_onprem_list ol;
    struct arena a;
    const char *name;
    struct err err;
    int ar;

    if (deploy_group_parse(s, n, "fuzz.json", &g, &err) == 0)
        deploy_group_fini(&g);
    if (deploy_group_config_parse(s, n, &c, &err) == 0)
        deploy_group_config_fini(&c);
    if (deploy_info_request_parse(s, n, &r, &err) == 0)
        deploy_info_request_fini(&r);
    if (deploy_info_parse(s, n, &d, &err) == 0)
        deploy_info_fini(&d);
    if (deploy_info_instances_parse(s, n, &is, &err) == 0)
        deploy_info_instances_fini(&is);
    if (deploy_info_onprem_list_parse(s, n, &ol, &err) == 0)
        deploy_info_onprem_list_fini(&ol);
    (void)deploy_info_stop_parse(s, n, &ar, &err);
    arena_init(&a, 256);
    (void)deploy_info_application_parse(s, n, &a, &name, &err);
    arena_fini(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agent_bodies((const char *)data, size);
    admin_bodies((const char *)data, size);
    return 0;
}
