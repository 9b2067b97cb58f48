/* SPDX-License-Identifier: ISC */
/* What `cutover demo` sets up: the site (one temporary directory, the ports, the two hosts on
 * their own loopback addresses) and the objects of the reference architecture as one
 * stack.yaml applied with `cutover apply` — the proxy's listeners and target groups, the
 * application and the blue/green deployment group with its canary, alarm and automatic
 * rollback on the server. */
#ifndef CLI_DEMO_STACK_H
#define CLI_DEMO_STACK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/cli_deploy.h"

struct demo_proc_set;
struct err;

#define DEMO_STACK_APP "webapp"
#define DEMO_STACK_GROUP "prod"
#define DEMO_STACK_LISTENER "web"
#define DEMO_STACK_CANARY_PERCENT 10
#define DEMO_STACK_CANARY_INTERVAL "6s"
#define DEMO_STACK_ALARM_WINDOW "3s"
#define DEMO_STACK_ALARM_THRESHOLD "0.01"
#define DEMO_STACK_DEREGISTRATION "1s"

struct demo_host {
    const char *name;  /* "blue-1" */
    const char *fleet; /* "blue": its tag fleet=blue and its target group */
    const char *ip;    /* its own loopback address, "127.0.0.2" */
    int port;          /* nginx's port on <ip> (the proxy's target) */
    int worker_base;   /* worker i listens on 127.0.0.1:worker_base+i */
    char dir[320];     /* SITE/hosts/NAME: its "/" for the webapp's absolute paths */
    char target[64];   /* where the proxy sends its traffic ("127.0.0.2:PORT") */
};

struct demo_site {
    char dir[256];       /* the temporary directory everything lives in */
    char self[PATH_MAX]; /* this cutover binary, run by the hooks and for sub-steps */
    char marker[40];     /* CUTOVER_DEMO_ID of every process started for the demo */
    bool nginx;          /* nginx installed: one per host in front of its workers */
    int server_port, admin_port, web_port, test_port;
    char server_url[64];
    char admin_url[64];
    char token[256]; /* the server's admin token */
    struct cli_deploy_client api;
    struct demo_host hosts[2]; /* blue-1, green-1 */
};

/* Fills the ports of <s> (the caller set dir, self, nginx): free ports on 127.0.0.1 for the
 * server, the proxy's admin API and listeners; for each host a port free on its own address
 * and a block of 4 free worker ports. Returns 0 or a negative errno. */
int demo_stack_ports(struct demo_site *s, struct err *err);

/* Writes what the proxy starts with to <path>: its admin API and the test listener on an empty
 * target group green (a proxy needs a listener to start); demo_stack_apply creates the rest. */
int demo_stack_write_proxy(const struct demo_site *s, const char *path, struct err *err);

/* Writes stack.yaml for the site to <path> (cutover-apply(1)): the proxy part (listeners web
 * and test, target groups blue and green with one target per host, 1 s health checks, a short
 * deregistration delay), application
 * webapp and deployment group prod: blue/green over the two fleets, TimeBasedCanary, alarm
 * target_5xx_ratio on the replacement, automatic rollback on failure and alarm. The one place
 * that decides what the reference architecture consists of. */
int demo_stack_write(const struct demo_site *s, const char *path, struct err *err);

/* Writes SITE/stack.yaml and runs `cutover apply -f` on it against the site's server and proxy
 * (output appended to <log>). Returns 0, or a negative errno with <err> set (-EINTR: Ctrl-C). */
int demo_stack_apply(const struct demo_site *s, struct demo_proc_set *ps, const char *log,
                     struct err *err);

#endif /* CLI_DEMO_STACK_H */
