/* SPDX-License-Identifier: ISC */
/* `cutover server`: `init --data DIR` lays out a data directory (server.yaml, cutover.db,
 * admin.token, enroll.token); `-c server.yaml` runs the control plane: store, revision store,
 * orchestrator and REST API on one libuv loop until SIGINT/SIGTERM. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/http_fetch.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "protocol/deploy_info.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/orchestrator.h"
#include "server/revisions.h"
#include "server/server_conf.h"
#include "server/store.h"

void
server_command_queued(struct server *srv, const char *instance)
{
    if (srv->api != NULL)
        api_agent_wake(srv->api, instance);
}

void
server_set_hooks(struct server *srv, const struct server_hooks *hooks)
{
    srv->hooks = *hooks;
}

/* ---- init ---- */

static void
usage_init(FILE *out)
{
    fprintf(out, "usage: cutover server init --data DIR [--listen ADDR] [--output json|table]\n");
}

static int
write_conf(const char *path, const char *listen, struct err *err)
{
    FILE *fp;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if ((fp = fdopen(fd, "w")) == NULL) {
        close(fd);
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    fprintf(fp,
            "# cutover server configuration (docs/man/cutover-server.md)\n"
            "listen: %s\n"
            "data: .                          # cutover.db, revisions/ and the tokens live here\n"
            "admin_token_file: admin.token\n"
            "enroll_token_file: enroll.token\n"
            "heartbeat_interval: 5s\n"
            "heartbeat_timeout: 15s\n"
            "# tls: {cert: cert.pem, key: key.pem}\n",
            listen);
    if (fclose(fp) != 0)
        return err_set(err, -EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int
write_new_token(const char *path, struct err *err)
{
    char token[AUTH_TOKEN_LEN + 1];

    if (auth_token_new(token) != 0)
        return err_set(err, -EIO, "no randomness for a token");
    return auth_token_write(path, token, err);
}

struct init_paths {
    char conf[4096], db[4096], admin[4096], enroll[4096], revisions[4096];
};

/* <dir>/<name> into <out>; -ENAMETOOLONG when it does not fit. */
static int
join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int
init_layout(const char *dir, const char *listen, struct init_paths *p, struct err *err)
{
    struct store *st = NULL;
    int rc;

    if (join(p->conf, sizeof(p->conf), dir, "server.yaml") ||
        join(p->db, sizeof(p->db), dir, "cutover.db") ||
        join(p->admin, sizeof(p->admin), dir, "admin.token") ||
        join(p->enroll, sizeof(p->enroll), dir, "enroll.token") ||
        join(p->revisions, sizeof(p->revisions), dir, "revisions"))
        return err_set(err, -ENAMETOOLONG, "%.200s: path too long", dir);
    if (access(p->conf, F_OK) == 0 || access(p->admin, F_OK) == 0 || access(p->db, F_OK) == 0)
        return err_set(err, -EEXIST,
                       "%s: already initialised (server.yaml, cutover.db or "
                       "admin.token exists); nothing changed",
                       dir);
    if ((rc = fsutil_mkdir_p(dir, 0750)) != 0)
        return err_set(err, rc, "%s: %s", dir, strerror(-rc));
    if ((rc = fsutil_mkdir_p(p->revisions, 0750)) != 0)
        return err_set(err, rc, "%s: %s", p->revisions, strerror(-rc));
    if ((rc = write_new_token(p->admin, err)) != 0 || (rc = write_new_token(p->enroll, err)) != 0)
        return rc;
    if ((rc = store_open(&st, p->db, err)) != 0)
        return rc;
    store_close(st);
    return write_conf(p->conf, listen, err);
}

static int
server_init_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *listen = SERVER_CONF_DEFAULT_LISTEN, *output = "table";
    struct init_paths p;
    struct err err = {0};
    struct addr a;
    char abs[4096];
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:l:o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            usage_init(stdout);
            return ERR_EXIT_OK;
        default:
            usage_init(stderr);
            return ERR_EXIT_USAGE;
        }
    }
    if (dir == NULL || optind != argc || addr_parse(&a, listen) != 0 ||
        (strcmp(output, "json") != 0 && strcmp(output, "table") != 0)) {
        usage_init(stderr);
        return ERR_EXIT_USAGE;
    }
    if (fsutil_mkdir_p(dir, 0750) == 0 && realpath(dir, abs) != NULL)
        dir = abs;
    if (init_layout(dir, listen, &p, &err) != 0) {
        fprintf(stderr, "cutover: server init: %s\n", err.msg);
        return ERR_EXIT_FAILED;
    }
    if (strcmp(output, "json") == 0) {
        char *json = deploy_info_server_init_format(p.conf, p.db, p.admin, p.enroll, listen);

        printf("%s\n", json);
        free(json);
    } else {
        printf("config        %s\ndatabase      %s\nadmin token   %s (0600)\n"
               "enroll token  %s (0600)\nlisten        %s\n\nstart: cutover server -c %s\n",
               p.conf, p.db, p.admin, p.enroll, listen, p.conf);
    }
    return ERR_EXIT_OK;
}

/* ---- run ---- */

struct server_run {
    struct server srv;
    uv_signal_t sigint, sigterm;
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover server -c server.yaml [--check] [--log-level LEVEL]\n"
                 "       cutover server init --data DIR [--listen ADDR]\n");
}

static void
on_api_closed(void *arg)
{
    struct server_run *run = arg;

    run->srv.api = NULL;
    orchestrator_stop(&run->srv);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct server_run *run = h->data;

    if (run->srv.is_stopping)
        return;
    log_info("server: %s: shutting down", strsignal(signum));
    run->srv.is_stopping = true;
    api_close(run->srv.api, on_api_closed, run);
}

static void
on_check_closed(void *arg)
{
    (void)arg;
}

/* What --check can verify beyond the YAML: the tokens are readable and the TLS certificate and
 * key load and match. */
static int
check_files(const struct server_conf *conf, struct err *err)
{
    struct http_server_conf hc = {.tls_cert_file = conf->tls_cert, .tls_key_file = conf->tls_key};
    struct http_server_callbacks cb = {0};
    struct http_server *hs = NULL;
    char token[256];
    uv_loop_t loop;
    int rc;

    if ((rc = auth_token_read(conf->admin_token_file, token, sizeof(token), err)) != 0 ||
        (rc = auth_token_read(conf->enroll_token_file, token, sizeof(token), err)) != 0)
        return rc;
    if (conf->tls_cert == NULL)
        return 0;
    uv_loop_init(&loop);
    if ((rc = http_server_new(&hs, &loop, &hc, &cb, err)) == 0)
        http_server_close(hs, on_check_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

static int
run_server(const struct server_conf *conf)
{
    struct server_run run;
    struct err err = {0};
    struct rlimit rl;
    int rc;

    memset(&run, 0, sizeof(run));
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* one connection or two per agent */
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    run.srv.loop = uv_default_loop();
    run.srv.conf = conf;
    signal(SIGPIPE, SIG_IGN);
    if ((rc = store_open(&run.srv.store, conf->db_path, &err)) != 0 ||
        (rc = revisions_new(&run.srv.revisions, conf->revisions_dir, conf->max_bundle_size,
                            &err)) != 0 ||
        (rc = api_new(&run.srv.api, &run.srv, &err)) != 0)
        goto fail;
    if ((rc = orchestrator_start(&run.srv)) != 0) {
        err_set(&err, rc, "orchestrator: %s", strerror(-rc));
        goto fail;
    }
    orchestrator_set_heartbeat_timeout(&run.srv, conf->heartbeat_timeout_ms);
    if ((rc = api_listen(run.srv.api, &err)) != 0) {
        orchestrator_stop(&run.srv);
        goto fail;
    }
    uv_signal_init(run.srv.loop, &run.sigint);
    uv_signal_init(run.srv.loop, &run.sigterm);
    run.sigint.data = run.sigterm.data = &run;
    uv_signal_start(&run.sigint, on_signal, SIGINT);
    uv_signal_start(&run.sigterm, on_signal, SIGTERM);
    log_info("server: listening on %s%s (data %s)", conf->listen.text,
             conf->tls_cert != NULL ? " with TLS" : "", conf->data_dir);
    uv_run(run.srv.loop, UV_RUN_DEFAULT);
    revisions_free(run.srv.revisions);
    store_close(run.srv.store);
    uv_loop_close(run.srv.loop);
    log_info("server: stopped");
    return ERR_EXIT_OK;
fail:
    fprintf(stderr, "cutover: server: %s\n", err.msg);
    if (run.srv.api != NULL) {
        api_close(run.srv.api, NULL, NULL);
        uv_run(run.srv.loop, UV_RUN_DEFAULT);
    }
    revisions_free(run.srv.revisions);
    store_close(run.srv.store);
    return ERR_EXIT_FAILED;
}

int
server_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"conf", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *level = NULL;
    bool check = false;
    struct server_conf conf;
    struct err err = {0};
    enum log_level lvl;
    int ch, rc;

    umask(077); /* database, WAL and tokens: for the server's user only */
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return server_init_main(argc - 1, argv + 1);
    while ((ch = getopt_long(argc, argv, "c:L:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'L':
            level = optarg;
            break;
        case 'h':
            usage(stdout);
            return ERR_EXIT_OK;
        default:
            usage(stderr);
            return ERR_EXIT_USAGE;
        }
    }
    if (path == NULL || optind != argc || (level != NULL && log_level_parse(level, &lvl) != 0)) {
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    if (server_conf_load(&conf, path, &err) != 0 || check_files(&conf, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        if (conf.path != NULL)
            server_conf_fini(&conf);
        return ERR_EXIT_USAGE;
    }
    if (check) {
        printf("ok\n");
        server_conf_fini(&conf);
        return ERR_EXIT_OK;
    }
    if (level == NULL)
        (void)log_level_parse(conf.log_level, &lvl);
    log_init("server", lvl);
    http_fetch_global_init();
    rc = run_server(&conf);
    server_conf_fini(&conf);
    return rc;
}
