/* SPDX-License-Identifier: ISC */
/* The demo's site and objects (see demo_stack.h). Ports are probed by binding, so two demos
 * (or a demo and the test suite) on one machine do not collide. */
#include "cli/demo_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/demo_proc.h"
#include "common/buf.h"
#include "common/err.h"

/* Binds <ip>:<port> (0: any) and returns the port bound, or a negative errno. */
static int
probe_port(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof(sa);
    int fd, one = 1, rc;

    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return -EINVAL;
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        rc = -errno;
    else
        rc = ntohs(sa.sin_port);
    close(fd);
    return rc;
}

static int
free_port(const char *ip, struct err *err)
{
    int p = probe_port(ip, 0);

    if (p < 0)
        return err_set(err, p, "no free port on %s: %s", ip, strerror(-p));
    return p;
}

/* A port free on both hosts' addresses (each host's nginx binds its own). */
static int
port_on_both(const char *a, const char *b, struct err *err)
{
    for (int i = 0; i < 50; i++) {
        int p = probe_port(a, 0);

        if (p < 0)
            return err_set(err, p, "cannot bind %s (is it a loopback address here?): %s", a,
                           strerror(-p));
        if (probe_port(b, p) == p)
            return p;
    }
    return err_set(err, -EADDRINUSE, "no port free on both %s and %s", a, b);
}

/* Worker ports are taken below the kernel's ephemeral range (32768 and up on Linux): there no
 * outgoing connection can hold them — thousands of TIME_WAIT sockets from a busy machine make
 * blocks of 4 consecutive ephemeral ports rare — and none can grab one between this probe and
 * the worker's bind. Scans [20000, 32764) by blocks of 4 from a start that differs per
 * process, so that two demos at once are unlikely to probe the same blocks. */
static int
worker_block(int avoid, struct err *err)
{
    const int lo = 20000, blocks = (32764 - 20000) / 4;
    int start = (int)(((unsigned)getpid() * 2654435761u) % (unsigned)blocks);

    for (int i = 0; i < blocks; i++) {
        int p = lo + 4 * ((start + i) % blocks), k;

        if (p == avoid)
            continue;
        for (k = 0; k < 4; k++)
            if (probe_port("127.0.0.1", p + k) != p + k)
                break;
        if (k == 4)
            return p;
    }
    return err_set(err, -EADDRINUSE, "no block of 4 free ports on 127.0.0.1 in %d-32763", lo);
}

int
demo_stack_ports(struct demo_site *s, struct err *err)
{
    int *ports[] = {&s->server_port, &s->admin_port, &s->web_port, &s->test_port};
    int p;

    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        do {
            if ((p = free_port("127.0.0.1", err)) < 0)
                return p;
            for (size_t j = 0; j < i; j++)
                if (*ports[j] == p)
                    p = 0;
        } while (p == 0);
        *ports[i] = p;
    }
    if ((p = port_on_both(s->hosts[0].ip, s->hosts[1].ip, err)) < 0)
        return p;
    for (int h = 0; h < 2; h++) {
        int base = worker_block(h == 1 ? s->hosts[0].worker_base : 0, err);

        if (base < 0)
            return base;
        s->hosts[h].port = p;
        s->hosts[h].worker_base = base;
        if (s->nginx)
            snprintf(s->hosts[h].target, sizeof(s->hosts[h].target), "%s:%d", s->hosts[h].ip, p);
        else /* no nginx: the proxy reaches the first worker directly */
            snprintf(s->hosts[h].target, sizeof(s->hosts[h].target), "127.0.0.1:%d", base);
    }
    snprintf(s->server_url, sizeof(s->server_url), "http://127.0.0.1:%d", s->server_port);
    snprintf(s->admin_url, sizeof(s->admin_url), "http://127.0.0.1:%d", s->admin_port);
    return 0;
}

int
demo_stack_write_proxy(const struct demo_site *s, const char *path, struct err *err)
{
    struct buf b;
    FILE *f;
    int rc = 0;

    buf_init(&b);
    buf_appendf(&b,
                "# cutover demo: what the proxy (the ALB role) starts with: its admin API and the\n"
                "# test listener (a proxy needs one listener to start). `cutover apply -f\n"
                "# stack.yaml` creates the web listener and the blue group, and sets green up.\n"
                "admin: 127.0.0.1:%d\n"
                "workers: 1\n"
                "listeners:\n"
                "  test:\n"
                "    bind: 127.0.0.1:%d\n"
                "    forward: [{target_group: green, weight: 1}]\n"
                "target_groups:\n"
                "  green:\n"
                "    targets: []\n",
                s->admin_port, s->test_port);
    if ((f = fopen(path, "w")) == NULL || fwrite(b.data, 1, b.len, f) != b.len)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    buf_fini(&b);
    return rc;
}

static int
write_text(const char *path, const struct buf *b, struct err *err)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fwrite(b->data, 1, b->len, f) != b->len)
        rc = err_set(err, -EIO, "%s: write failed", path);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    return rc;
}

/* The proxy part of stack.yaml: both listeners and both target groups, one target per host. */
static void
stack_proxy(const struct demo_site *s, struct buf *b)
{
    buf_appendf(b,
                "proxy:\n"
                "  admin: 127.0.0.1:%d\n"
                "  listeners:\n"
                "    web:                  # forward applied at creation; then deployments own it\n"
                "      bind: 127.0.0.1:%d\n"
                "      forward:\n"
                "        - {target_group: blue, weight: 100}\n"
                "        - {target_group: green, weight: 0}\n"
                "    test:\n"
                "      bind: 127.0.0.1:%d\n"
                "      forward: [{target_group: green, weight: 1}]\n"
                "  target_groups:\n",
                s->admin_port, s->web_port, s->test_port);
    for (int h = 0; h < 2; h++)
        buf_appendf(b,
                    "    %s:\n"
                    "      deregistration_delay: %s\n"
                    "      health_check: {path: /health, interval: 1s, timeout: 500ms,\n"
                    "                     healthy_threshold: 2, unhealthy_threshold: 2,\n"
                    "                     matcher: \"200-399\"}\n"
                    "      targets: [\"%s\"]\n",
                    s->hosts[h].fleet, DEMO_STACK_DEREGISTRATION, s->hosts[h].target);
}

/* The server part: the application and its blue/green group (group.json's keys in YAML). */
static void
stack_group(const struct demo_site *s, struct buf *b)
{
    buf_appendf(
        b,
        "applications:\n"
        "  %s:\n"
        "    deployment_groups:\n"
        "      %s:\n"
        "        deploymentConfigName: CodeDeployDefault.AllAtOnce\n"
        "        deploymentStyle: {deploymentType: BLUE_GREEN, "
        "deploymentOption: WITH_TRAFFIC_CONTROL}\n"
        "        blueGreenFleets:\n"
        "          - {tag: {Key: fleet, Value: blue}, targetGroup: blue}\n"
        "          - {tag: {Key: fleet, Value: green}, targetGroup: green}\n"
        "        loadBalancerInfo: {proxyAdmin: \"%s\", listener: %s, testListener: test}\n"
        "        trafficRoutingConfig:\n"
        "          type: TimeBasedCanary\n"
        "          timeBasedCanary: {canaryPercentage: %d, canaryInterval: %s}\n"
        "        blueGreenDeploymentConfiguration:\n"
        "          deploymentReadyOption: {actionOnTimeout: CONTINUE_DEPLOYMENT}\n"
        "          terminateBlueInstancesOnDeploymentSuccess: {action: KEEP_ALIVE,\n"
        "                                                      terminationWaitTimeInMinutes: 0}\n"
        "        autoRollbackConfiguration:\n"
        "          enabled: true\n"
        "          events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]\n"
        "        alarmConfiguration:\n"
        "          enabled: true\n"
        "          alarms:\n"
        "            - {name: errors, metric: target_5xx_ratio, targetGroup: replacement,\n"
        "               threshold: %s, window: %s}\n"
        "        healthCheck: {timeout: 60s}\n",
        DEMO_STACK_APP, DEMO_STACK_GROUP, s->admin_url, DEMO_STACK_LISTENER,
        DEMO_STACK_CANARY_PERCENT, DEMO_STACK_CANARY_INTERVAL, DEMO_STACK_ALARM_THRESHOLD,
        DEMO_STACK_ALARM_WINDOW);
}

int
demo_stack_write(const struct demo_site *s, const char *path, struct err *err)
{
    struct buf b;
    int rc;

    buf_init(&b);
    buf_appendf(&b,
                "# cutover demo: the reference architecture as one declarative file,\n"
                "# applied with `cutover apply -f stack.yaml` (cutover-apply(1)).\n"
                "server: %s\n\n",
                s->server_url);
    stack_proxy(s, &b);
    buf_append_str(&b, "\n");
    stack_group(s, &b);
    rc = write_text(path, &b, err);
    buf_fini(&b);
    return rc;
}

int
demo_stack_apply(const struct demo_site *s, struct demo_proc_set *ps, const char *log,
                 struct err *err)
{
    char stack[PATH_MAX], token[PATH_MAX], admin[64];
    const char *argv[] = {s->self,        "apply", "-f",      stack, "--server", s->server_url,
                          "--token-file", token,   "--admin", admin, NULL};
    int rc, n;

    n = snprintf(stack, sizeof(stack), "%s/stack.yaml", s->dir);
    ASSERT(n > 0 && (size_t)n < sizeof(stack));
    n = snprintf(token, sizeof(token), "%s/server/admin.token", s->dir);
    ASSERT(n > 0 && (size_t)n < sizeof(token));
    snprintf(admin, sizeof(admin), "127.0.0.1:%d", s->admin_port);
    if ((rc = demo_stack_write(s, stack, err)) != 0)
        return rc;
    if ((rc = demo_proc_run(ps, "apply", argv, NULL, log, 60000, err)) < 0)
        return rc;
    if (rc != 0)
        return err_set(err, -EIO, "cutover apply -f %s exited %d (see %s)", stack, rc, log);
    return 0;
}
