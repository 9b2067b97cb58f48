/* SPDX-License-Identifier: ISC */
/* stack.yaml (`cutover apply`, docs/man/cutover-apply.md): one declarative file for the proxy's
 * listeners and target groups, deployment configs, applications and deployment groups.
 * This module parses and validates it (every error "stack.yaml:LINE:COL: what (expected what)",
 * a deployment group's group.json-level error mapped back to its YAML node), compares it with
 * what the proxy and the server hold (the plan) and writes the request bodies that apply it.
 * It does no I/O beyond reading the file: the CLI fetches and sends. */
#ifndef PROTOCOL_STACK_H
#define PROTOCOL_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/yaml_conf.h"
#include "protocol/deploy.h"
#include "protocol/proxy_api.h"

struct err;

/* Defaults a target group's omitted settings take (the proxy.yaml defaults, cutover-proxy(1)).
 * apply sends every setting explicitly, so a setting left out of the stack is reset to these. */
#define STACK_DEFAULT_ALGORITHM "round_robin"
#define STACK_DEFAULT_DEREGISTRATION_MS 300000
#define STACK_DEFAULT_HC_PATH "/"
#define STACK_DEFAULT_HC_INTERVAL_MS 30000
#define STACK_DEFAULT_HC_TIMEOUT_MS 5000
#define STACK_DEFAULT_HC_HEALTHY 5
#define STACK_DEFAULT_HC_UNHEALTHY 2
#define STACK_DEFAULT_HC_MATCHER "200"

struct stack_listener {
    const char *name;
    const char *bind;                  /* canonical HOST:PORT */
    struct proxy_api_forward *forward; /* nforward entries; 0: no forward in the file */
    size_t nforward;
    const struct yaml_conf_node *node; /* borrowed: the listener's map */
};

struct stack_target_group {
    struct proxy_api_group want;       /* every setting, defaults filled in; strings in the arena */
    bool has_targets;                  /* false: the live targets are left alone */
    const struct yaml_conf_node *node; /* borrowed: the group's map (or null scalar) */
};

struct stack_config {
    const char *name;
    enum deploy_min_healthy_type type;
    uint32_t value;
    const struct yaml_conf_node *node; /* borrowed */
};

struct stack_application {
    const char *name;
    const struct yaml_conf_node *node; /* borrowed: the application's key */
};

struct stack_group {
    const char *application;
    const char *name;
    const char *body;        /* the group.json text apply sends (compact JSON) */
    const char *config_name; /* deploymentConfigName, default filled in */
    const char *proxy_admin; /* loadBalancerInfo.proxyAdmin (filled in), or NULL */
    /* what the group names on the proxy (NULL: nothing) */
    const char *listener;
    const char *test_listener;
    const char *target_groups[3];      /* fleets' targetGroup and loadBalancerInfo.targetGroup */
    const struct yaml_conf_node *node; /* borrowed: the group's map */
};

struct stack {
    struct yaml_conf_doc *doc; /* owned: every node pointer above borrows from it */
    struct arena arena;        /* owns every string and array of the model */
    const char *server;        /* server: URL, or NULL */
    const char *admin;         /* proxy.admin, or NULL */
    bool has_proxy;            /* a proxy: section with listeners or target groups */
    struct stack_listener *listeners;
    size_t nlisteners;
    struct stack_target_group *groups;
    size_t ngroups;
    struct stack_config *configs;
    size_t nconfigs;
    struct stack_application *apps;
    size_t napps;
    struct stack_group *dgroups; /* every application's deployment groups, in file order */
    size_t ndgroups;
};

/* Parses and validates stack.yaml text (<len> bytes, <name> used in messages) as far as it can
 * without asking anyone: syntax, keys, types, durations, addresses, and each deployment group
 * through deploy_group_parse. A group whose loadBalancerInfo has no proxyAdmin gets <admin_url>
 * ("http://127.0.0.1:9901"), or when that is NULL "http://" + the file's proxy.admin (a TCP
 * one). On success *out owns everything (stack_fini); on error <err> holds "NAME:LINE:COL: …"
 * and nothing is left to free. Returns 0 or -EINVAL. */
int stack_parse(struct stack *out, const char *name, const char *text, size_t len,
                const char *admin_url, struct err *err);
void stack_fini(struct stack *s);

/* True when <name> is a built-in deployment config or one the stack declares. */
bool stack_config_is_known(const struct stack *s, const char *name);

/* The node at JSON path <path> under <root> ("loadBalancerInfo.listener", "alarms[1].name"), or
 * the deepest one on the way that exists: where a message about that path should point. */
const struct yaml_conf_node *stack_node_at(const struct yaml_conf_node *root, const char *path);

/* The body of POST /v1/deployment-configs for config <i> (malloc'd). */
char *stack_config_body_format(const struct stack *s, size_t i);

#endif /* PROTOCOL_STACK_H */
