/* SPDX-License-Identifier: ISC */
/* cutover: one binary, one subcommand per role. This file only dispatches argv[1]. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/local.h"
#include "cli/cli_apply.h"
#include "cli/cli_apps.h"
#include "cli/cli_demo.h"
#include "cli/cli_deploy.h"
#include "cli/cli_proxy.h"
#include "common/err.h"
#include "proxy/proxy.h"
#include "server/server.h"
#include "supervisor/supervisor.h"

static int version_main(int argc, char **argv);
static int help_main(int argc, char **argv);

static const struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommands[] = {
    {"proxy", proxy_main, "reverse proxy and load balancer (the ALB role)"},
    {"supervise", supervisor_main, "run N app workers, reload gracefully (the PM2 role)"},
    {"apps", cli_apps_main, "command-line client for the supervisor"},
    {"server", server_main, "control plane: API, state, orchestration (the CodeDeploy role)"},
    {"deploy", cli_deploy_main, "command-line client for the server (aws deploy verbs)"},
    {"agent", agent_main, "host agent: runs deployments from the server on this host"},
    {"local", local_main, "run one revision on this host (codedeploy-local)"},
    {"apply", cli_apply_main, "create or update listeners, target groups, apps, groups"},
    {"demo", cli_demo_main, "the whole reference architecture on this machine, under load"},
    {"version", version_main, "print the version"},
    {"help", help_main, "list the subcommands"},
};

#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static int
version_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("cutover %s\n", CUTOVER_VERSION);
    return ERR_EXIT_OK;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover <subcommand> [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < NSUBCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n`cutover <subcommand> --help` describes each one; see docs/man/.\n");
}

static int
help_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return ERR_EXIT_OK;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return help_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0)
        return version_main(argc - 1, argv + 1);
    if (argc >= 3 && strcmp(argv[1], "proxy") == 0 && cli_proxy_is_verb(argv[2]))
        return cli_proxy_main(argc - 2, argv + 2); /* client verbs; else the proxy itself */
    for (size_t i = 0; i < NSUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "cutover: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return ERR_EXIT_USAGE;
}
