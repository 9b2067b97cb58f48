/* SPDX-License-Identifier: ISC */
/* The plan of `cutover apply`: stack.yaml (protocol/stack.h) compared with what the proxy and
 * the server hold, one item per object ("+" create, "~" update, "=" unchanged), and the request
 * bodies that carry it out. Pure: the CLI fetches the live documents and sends the bodies. */
#ifndef PROTOCOL_STACK_PLAN_H
#define PROTOCOL_STACK_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"

struct err;
struct stack;

/* What exists, as fetched by the caller (texts borrowed for the call). */
struct stack_live {
    const char *listeners_doc;  /* GET /listeners answer; NULL when the stack has no proxy */
    const char *groups_doc;     /* GET /target-groups answer */
    const char *apps_doc;       /* GET /v1/applications answer; NULL: no server part */
    const char **config_docs;   /* nconfigs: GET /v1/deployment-configs/NAME answer, NULL if 404 */
    const char **group_docs;    /* ndgroups: GET …/deployment-groups/NAME answer, NULL if 404 */
    const char **known_configs; /* configs named by groups, not in the stack, that the server has */
    size_t nknown_configs;
};

enum stack_kind {
    STACK_TARGET_GROUP = 0,
    STACK_LISTENER,
    STACK_CONFIG,
    STACK_APPLICATION,
    STACK_DEPLOYMENT_GROUP,
};

enum stack_action {
    STACK_UNCHANGED = 0, /* "=" */
    STACK_CREATE,        /* "+" */
    STACK_UPDATE,        /* "~" */
};

struct stack_item {
    enum stack_kind kind;
    enum stack_action action;
    size_t index;        /* into the stack's array for <kind> */
    const char *name;    /* borrowed: plan arena; "blue", "web/prod" */
    const char *differs; /* borrowed: plan arena; UPDATE: the settings that differ ("bind,
                          * health_check.interval"), else NULL */
    const char *note;    /* static: a remark ("traffic owned by deployments"), or NULL */
    bool send_forward;   /* LISTENER: the request carries the stack's forward action */
};

struct stack_plan {
    struct arena arena; /* owns items and their strings */
    struct stack_item *items;
    size_t n;
    size_t ncreate;
    size_t nupdate;
    size_t nproxy_changes; /* items that go into POST /changes */
};

/* Checks what needs the live state (a forward or a group naming a listener or target group
 * that neither the stack nor the proxy has, an unknown deploymentConfigName, a deployment
 * config that exists with other settings) and compares. <reset_traffic>: existing listeners'
 * forward actions are compared and replaced too. Errors are "NAME:LINE:COL: …" (-EINVAL) or a
 * live answer that does not parse (-EPROTO). On success *out is filled (stack_plan_fini). */
int stack_plan_make(const struct stack *s, const struct stack_live *live, bool reset_traffic,
                    struct stack_plan *out, struct err *err);
void stack_plan_fini(struct stack_plan *p);

/* "target_group", "listener", "deployment_config", "application", "deployment_group" */
const char *stack_plan_kind_name(enum stack_kind k);
/* "unchanged", "create", "update" */
const char *stack_plan_action_name(enum stack_action a);

/* The body of the proxy's POST /changes for the plan's proxy items (malloc'd), or NULL when
 * there are none. */
char *stack_plan_changes_format(const struct stack *s, const struct stack_plan *p);
/* {"plan":[{"kind","name","action","differs","note","applied"}…],"dry_run","changes",
 * "applied"} (malloc'd). <applied>[i] tells whether item i was written (NULL: none). */
char *stack_plan_format(const struct stack_plan *p, const bool *applied, bool dry_run);

#endif /* PROTOCOL_STACK_PLAN_H */
