/* SPDX-License-Identifier: ISC */
/* The demo's site, brought up step by step (see demo_site.h). */
#include "cli/demo_site.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cli/demo_bundle.h"
#include "cli/demo_proc.h"
#include "cli/demo_stack.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "protocol/deploy_info.h"

static uint64_t
mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void
path_in(const struct demo_site *s, char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", s->dir, rel);
}

static bool
tcp_open(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, rc;

    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return false;
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return false;
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)); /* loopback: at once */
    close(fd);
    return rc == 0;
}

/* Waits (bounded) until <ip>:<port> accepts, or process <h> died, or Ctrl-C. */
static int
wait_port(struct demo_proc_set *ps, const char *what, const char *ip, int port, int h, uint64_t ms,
          struct err *err)
{
    uint64_t deadline = mono_ms() + ms;

    while (!tcp_open(ip, port)) {
        if (h >= 0 && !demo_proc_alive(ps, h))
            return err_set(err, -ECHILD, "%s exited at start (see its log)", what);
        if (mono_ms() > deadline)
            return err_set(err, -ETIMEDOUT, "%s not accepting on %s:%d after %llu ms", what, ip,
                           port, (unsigned long long)ms);
        if (!demo_proc_sleep(ps, 50))
            return err_set(err, -EINTR, "interrupted");
    }
    return 0;
}

static int
read_first_line(const char *path, char *out, size_t size, struct err *err)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fgets(out, (int)size, f) == NULL) {
        fclose(f);
        return err_set(err, -EIO, "%s: empty", path);
    }
    fclose(f);
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

static int
start_server(struct demo_site *s, struct demo_proc_set *ps, struct err *err)
{
    char data[PATH_MAX], conf[PATH_MAX], log[PATH_MAX], listen[64], tok[PATH_MAX];
    const char *init[] = {s->self, "server", "init", "--data", data, "--listen", listen, NULL};
    const char *run[] = {s->self, "server", "-c", conf, NULL};
    int rc, h;

    path_in(s, data, sizeof(data), "server");
    path_in(s, conf, sizeof(conf), "server/server.yaml");
    path_in(s, tok, sizeof(tok), "server/admin.token");
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->server_port);
    path_in(s, log, sizeof(log), "logs/server-init.log");
    if ((rc = demo_proc_run(ps, "server init", init, NULL, log, 30000, err)) < 0)
        return rc;
    if (rc != 0)
        return err_set(err, -EIO, "cutover server init exited %d (see %s)", rc, log);
    if ((rc = read_first_line(tok, s->token, sizeof(s->token), err)) != 0)
        return rc;
    s->api.server = s->server_url;
    s->api.token = s->token;
    path_in(s, log, sizeof(log), "logs/server.log");
    if ((h = demo_proc_spawn(ps, "server", run, NULL, NULL, log, err)) < 0)
        return h;
    return wait_port(ps, "the server", "127.0.0.1", s->server_port, h, 15000, err);
}

static int
start_proxy(struct demo_site *s, struct demo_proc_set *ps, struct err *err)
{
    char conf[PATH_MAX], log[PATH_MAX];
    const char *check[] = {s->self, "proxy", "-c", conf, "--check", NULL};
    const char *run[] = {s->self, "proxy", "-c", conf, "--log-level", "warn", NULL};
    int rc, h;

    path_in(s, conf, sizeof(conf), "proxy.yaml");
    path_in(s, log, sizeof(log), "logs/proxy.log");
    if ((rc = demo_stack_write_proxy(s, conf, err)) != 0)
        return rc;
    if ((rc = demo_proc_run(ps, "proxy --check", check, NULL, log, 30000, err)) < 0)
        return rc;
    if (rc != 0)
        return err_set(err, -EINVAL, "cutover proxy --check refused %s (see %s)", conf, log);
    if ((h = demo_proc_spawn(ps, "proxy", run, NULL, NULL, log, err)) < 0)
        return h;
    if ((rc = wait_port(ps, "the proxy's admin API", "127.0.0.1", s->admin_port, h, 15000, err)) !=
        0)
        return rc;
    return wait_port(ps, "the proxy's test listener", "127.0.0.1", s->test_port, h, 15000, err);
}

static int
start_nginx(struct demo_site *s, struct demo_proc_set *ps, const struct demo_host *h,
            struct err *err)
{
    char prefix[PATH_MAX], conf[PATH_MAX + 16], pid[PATH_MAX + 16], elog[PATH_MAX + 16],
        log[PATH_MAX + 64];
    const char *argv[] = {"nginx", "-e", elog, "-p", prefix, "-c", conf, NULL};
    uint64_t deadline = mono_ms() + 10000;
    struct stat st;
    struct buf b;
    int rc, ph;

    snprintf(prefix, sizeof(prefix), "%s/nginx", h->dir);
    snprintf(conf, sizeof(conf), "%s/nginx.conf", prefix);
    snprintf(pid, sizeof(pid), "%s/nginx.pid", prefix);
    snprintf(elog, sizeof(elog), "%s/error.log", prefix);
    snprintf(log, sizeof(log), "%s/logs/nginx-%s.log", s->dir, h->name);
    buf_init(&b);
    buf_appendf(&b,
                "# nginx of demo host %s: its own prefix, pid and logs; the webapp's server\n"
                "# block is installed into conf.d/ by the bundle's AfterInstall hook.\n"
                "daemon off;\nmaster_process on;\nworker_processes 1;\n%s"
                "pid %s;\nerror_log %s warn;\nevents { worker_connections 1024; }\n"
                "http {\n    access_log off;\n    client_body_temp_path %s/body;\n"
                "    proxy_temp_path %s/proxy;\n    fastcgi_temp_path %s/fcgi;\n"
                "    uwsgi_temp_path %s/uwsgi;\n    scgi_temp_path %s/scgi;\n"
                "    include %s/conf.d/*.conf;\n}\n",
                h->name, geteuid() == 0 ? "user root root;\n" : "", pid, elog, prefix, prefix,
                prefix, prefix, prefix, prefix);
    rc = fsutil_write_text(conf, b.data, err);
    buf_fini(&b);
    if (rc != 0)
        return rc;
    if ((ph = demo_proc_spawn(ps, "nginx", argv, NULL, NULL, log, err)) < 0)
        return ph;
    while (stat(pid, &st) != 0) {
        if (!demo_proc_alive(ps, ph) || mono_ms() > deadline)
            return err_set(err, -ECHILD, "nginx of %s did not start (see %s)", h->name, elog);
        if (!demo_proc_sleep(ps, 50))
            return err_set(err, -EINTR, "interrupted");
    }
    return 0;
}

static int
start_host(struct demo_site *s, struct demo_proc_set *ps, const struct demo_host *h,
           struct err *err)
{
    char root[PATH_MAX], tok[PATH_MAX], log[PATH_MAX], tags[64], sub[PATH_MAX + 32];
    const char *argv[] = {s->self,    "agent",   "--server", s->server_url, "--token-file",
                          tok,        "--name",  h->name,    "--tags",      tags,
                          "--target", h->target, "--root",   root,          "--poll-wait",
                          "2",        NULL};
    const char *env[8];
    char storage[PATH_MAX * 4];
    int rc;

    snprintf(sub, sizeof(sub), "%s/nginx/conf.d", h->dir);
    if ((rc = fsutil_mkdir_p(sub, 0755)) != 0)
        return err_set(err, rc, "%s: %s", sub, strerror(-rc));
    if (s->nginx && (rc = start_nginx(s, ps, h, err)) != 0)
        return rc;
    snprintf(root, sizeof(root), "%s/agent", h->dir);
    path_in(s, tok, sizeof(tok), "server/enroll.token");
    snprintf(tags, sizeof(tags), "fleet=%s", h->fleet);
    snprintf(log, sizeof(log), "%s/logs/agent-%s.log", s->dir, h->name);
    if (demo_bundle_hook_env(s, h, env, 8, storage, sizeof(storage)) != 0)
        return err_set(err, -ENOSPC, "the hooks' environment is too large");
    rc = demo_proc_spawn(ps, h->name, argv, env, h->dir, log, err);
    return rc < 0 ? rc : 0;
}

static int
agents_online(struct demo_site *s, struct demo_proc_set *ps, struct err *err)
{
    uint64_t deadline = mono_ms() + 30000;

    for (;;) {
        struct deploy_onprem_list l;
        struct buf out;
        long status = 0;
        int online = 0;

        buf_init(&out);
        if (cli_deploy_call(&s->api, "GET", "/v1/instances", NULL, 0, NULL, &status, &out) == 0 &&
            status == 200 && deploy_info_onprem_list_parse(out.data, out.len, &l, NULL) == 0) {
            for (size_t i = 0; i < l.n; i++)
                online += l.items[i].status != NULL && strcmp(l.items[i].status, "Online") == 0;
            deploy_info_onprem_list_fini(&l);
        }
        buf_fini(&out);
        if (online >= 2)
            return 0;
        if (demo_proc_first_dead(ps) != NULL)
            return err_set(err, -ECHILD, "%s exited at start (see its log)",
                           demo_proc_first_dead(ps));
        if (mono_ms() > deadline)
            return err_set(err, -ETIMEDOUT, "the agents did not come online within 30 s");
        if (!demo_proc_sleep(ps, 100))
            return err_set(err, -EINTR, "interrupted");
    }
}

int
demo_site_start(struct demo_site *s, struct demo_proc_set *ps, struct err *err)
{
    char dir[PATH_MAX];
    int rc;

    for (int i = 0; i < 2; i++) {
        path_in(s, dir, sizeof(dir), i == 0 ? "logs" : "bundles");
        if ((rc = fsutil_mkdir_p(dir, 0755)) != 0)
            return err_set(err, rc, "%s: %s", dir, strerror(-rc));
    }
    if ((rc = demo_stack_ports(s, err)) != 0 || (rc = start_server(s, ps, err)) != 0 ||
        (rc = start_proxy(s, ps, err)) != 0)
        return rc;
    for (int i = 0; i < 2; i++)
        if ((rc = start_host(s, ps, &s->hosts[i], err)) != 0)
            return rc;
    path_in(s, dir, sizeof(dir), "logs/apply.log");
    if ((rc = demo_stack_apply(s, ps, dir, err)) != 0 ||
        (rc = wait_port(ps, "the proxy's web listener (created by cutover apply)", "127.0.0.1",
                        s->web_port, -1, 5000, err)) != 0)
        return rc;
    return agents_online(s, ps, err);
}
