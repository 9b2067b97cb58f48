/* SPDX-License-Identifier: ISC */
/* `cutover local`: flags → struct lifecycle_opts, progress lines while it runs, then either a
 * human summary or one JSON document. */
#include "agent/local.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "agent/fsops.h"
#include "agent/lifecycle.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/local_report.h"

#define LOCAL_DEFAULT_ROOT "/opt/cutover/deployment-root"

struct local {
    struct lifecycle_opts o;
    bool json;
    bool check;
    const char *events_csv;
    char self_exe[PATH_MAX];
    char location[PATH_MAX]; /* absolute bundle location */
    char root[PATH_MAX];     /* absolute root */
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: cutover local [-l LOCATION] [-t directory|tar|tgz|zip] [options]\n"
            "  -l, --bundle-location PATH       bundle directory or archive (default: .)\n"
            "  -t, --type TYPE                  directory, tar, tgz or zip (default: guessed)\n"
            "  -b, --file-exists-behavior B     DISALLOW (default), OVERWRITE or RETAIN\n"
            "  -g, --deployment-group ID        group id (default-local-deployment-group)\n"
            "  -d, --deployment-group-name NAME group name (LocalFleet)\n"
            "  -a, --application-name NAME      application name (the bundle location)\n"
            "  -e, --events E1,E2,...           events to run (DownloadBundle, Install added)\n"
            "  -A, --appspec-filename NAME      appspec file name (appspec.yml)\n"
            "      --root DIR                   deployment root (" LOCAL_DEFAULT_ROOT ")\n"
            "      --sha256 HEX                 refuse an archive with another digest\n"
            "      --max-revisions N            revisions kept per group (5)\n"
            "      --ignore-application-stop-failures\n"
            "                                   a failing ApplicationStop/BlockTraffic hook "
            "does not stop the deployment\n"
            "      --check                      validate bundle and appspec, run nothing\n"
            "      --output table|json          report format (table)\n");
}

static int
guess_type(const char *location, enum bundle_type *out)
{
    struct stat st;
    size_t len = strlen(location);

    if (stat(location, &st) == 0 && S_ISDIR(st.st_mode))
        *out = BUNDLE_DIRECTORY;
    else if (len > 4 && strcmp(location + len - 4, ".zip") == 0)
        *out = BUNDLE_ZIP;
    else if ((len > 4 && strcmp(location + len - 4, ".tgz") == 0) ||
             (len > 7 && strcmp(location + len - 7, ".tar.gz") == 0))
        *out = BUNDLE_TGZ;
    else if (len > 4 && strcmp(location + len - 4, ".tar") == 0)
        *out = BUNDLE_TAR;
    else
        return -EINVAL;
    return 0;
}

enum { OPT_ROOT = 256, OPT_OUTPUT, OPT_SHA256, OPT_MAXREV, OPT_IGNORE_STOP, OPT_CHECK };

static int
parse_flag(struct local *l, int c, const char *arg, bool *has_type)
{
    uint32_t n;

    switch (c) {
    case 'l':
        l->o.bundle_location = arg;
        return 0;
    case 't':
        *has_type = true;
        if (bundle_type_parse(arg, &l->o.bundle_type) != 0)
            err_die(ERR_EXIT_USAGE,
                    "--type: unknown bundle type '%s' (expected directory, tar, tgz or zip)", arg);
        return 0;
    case 'b':
        if (appspec_file_exists_parse(arg, &l->o.file_exists) != 0)
            err_die(ERR_EXIT_USAGE,
                    "--file-exists-behavior: '%s' (expected DISALLOW, OVERWRITE or RETAIN)", arg);
        return 0;
    case 'g':
        l->o.group_id = arg;
        return 0;
    case 'd':
        l->o.group_name = arg;
        return 0;
    case 'a':
        l->o.application_name = arg;
        return 0;
    case 'e':
        l->events_csv = arg;
        return 0;
    case 'A':
        l->o.appspec_name = arg;
        return 0;
    case OPT_ROOT:
        l->o.root = arg;
        return 0;
    case OPT_OUTPUT:
        if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0)
            err_die(ERR_EXIT_USAGE, "--output: '%s' (expected json or table)", arg);
        l->json = strcmp(arg, "json") == 0;
        return 0;
    case OPT_SHA256:
        if (strlen(arg) != 64 || strspn(arg, "0123456789abcdefABCDEF") != 64)
            err_die(ERR_EXIT_USAGE, "--sha256: '%s' (expected 64 hex digits)", arg);
        l->o.sha256 = arg;
        return 0;
    case OPT_MAXREV:
        if (str_to_u32(arg, &n, 1, 1000) != 0)
            err_die(ERR_EXIT_USAGE, "--max-revisions: '%s' (expected 1 to 1000)", arg);
        l->o.max_revisions = n;
        return 0;
    case OPT_IGNORE_STOP:
        l->o.ignore_stop_failures = true;
        return 0;
    case OPT_CHECK:
        l->check = true;
        return 0;
    case 'h':
        usage(stdout);
        exit(ERR_EXIT_OK);
    default:
        usage(stderr);
        exit(ERR_EXIT_USAGE);
    }
}

static void
parse_args(struct local *l, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bundle-location", required_argument, NULL, 'l'},
        {"type", required_argument, NULL, 't'},
        {"file-exists-behavior", required_argument, NULL, 'b'},
        {"deployment-group", required_argument, NULL, 'g'},
        {"deployment-group-name", required_argument, NULL, 'd'},
        {"application-name", required_argument, NULL, 'a'},
        {"events", required_argument, NULL, 'e'},
        {"appspec-filename", required_argument, NULL, 'A'},
        {"root", required_argument, NULL, OPT_ROOT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"sha256", required_argument, NULL, OPT_SHA256},
        {"max-revisions", required_argument, NULL, OPT_MAXREV},
        {"ignore-application-stop-failures", no_argument, NULL, OPT_IGNORE_STOP},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct err err = {0};
    bool has_type = false;
    int c;

    l->o = (struct lifecycle_opts){.root = LOCAL_DEFAULT_ROOT,
                                   .bundle_location = ".",
                                   .file_exists = APPSPEC_FE_DISALLOW,
                                   .group_id = "default-local-deployment-group",
                                   .group_name = "LocalFleet",
                                   .appspec_name = "appspec.yml",
                                   .max_revisions = 5};
    while ((c = getopt_long(argc, argv, "l:t:b:g:d:a:e:A:h", longopts, NULL)) != -1)
        parse_flag(l, c, optarg, &has_type);
    if (optind < argc)
        err_die(ERR_EXIT_USAGE, "unexpected argument '%s' (see cutover local --help)",
                argv[optind]);
    if (realpath(l->o.bundle_location, l->location) == NULL)
        err_die(ERR_EXIT_USAGE, "--bundle-location %s: %s", l->o.bundle_location, strerror(errno));
    l->o.bundle_location = l->location;
    if (!has_type && guess_type(l->location, &l->o.bundle_type) != 0)
        err_die(ERR_EXIT_USAGE, "%s: cannot tell the bundle type (use --type)", l->location);
    if (l->o.sha256 != NULL && l->o.bundle_type == BUNDLE_DIRECTORY)
        err_die(ERR_EXIT_USAGE, "--sha256 applies to archive bundles, not directories");
    if (l->o.application_name == NULL)
        l->o.application_name = l->location;
    if (strchr(l->o.group_id, '/') != NULL || l->o.group_id[0] == '\0' || l->o.group_id[0] == '.' ||
        strlen(l->o.group_id) > 200)
        err_die(ERR_EXIT_USAGE, "--deployment-group '%s': not usable as a file name",
                l->o.group_id);
    if (lifecycle_select_events(l->events_csv, l->o.events, &l->o.nevents, &err) != 0)
        err_die(ERR_EXIT_USAGE, "%s", err.msg);
    if (l->check)
        return;
    if ((c = fsops_mkdir_p(l->o.root, 0755)) != 0 || realpath(l->o.root, l->root) == NULL)
        err_die(ERR_EXIT_USAGE, "--root %s: %s", l->o.root, strerror(c ? -c : errno));
    if (strlen(l->root) > 1024)
        err_die(ERR_EXIT_USAGE, "--root %s: path too long (at most 1024 bytes)", l->root);
    l->o.root = l->root;
}

static void
on_progress(const struct lifecycle_event_report *ev, const struct lifecycle_script_report *sc,
            void *arg)
{
    (void)arg;
    if (sc != NULL) {
        printf("  %-20s %-40s %7llu ms  %s\n", appspec_event_name(ev->event), sc->location,
               (unsigned long long)sc->duration_ms, hook_run_outcome_name(sc->outcome));
    } else if (ev->status == LIFECYCLE_SKIPPED) {
        printf("%-22s %-40s %10s  Skipped\n", appspec_event_name(ev->event),
               ev->note ? ev->note : "", "");
    } else {
        printf("%-22s %-40s %7llu ms  %s\n", appspec_event_name(ev->event), "",
               (unsigned long long)ev->duration_ms, lifecycle_status_name(ev->status));
    }
    fflush(stdout);
}

static void
print_table(const struct lifecycle_report *rep)
{
    if (rep->succeeded) {
        printf("deployment %s succeeded\n", rep->deployment_id);
    } else {
        printf("deployment %s failed\n", rep->deployment_id);
        printf("  event:   %s\n", appspec_event_name(rep->failed_event));
        printf("  script:  %s\n", rep->failed_script ? rep->failed_script : "-");
        printf("  code:    %d (%s)\n", rep->error_code,
               hook_run_outcome_name((enum hook_run_outcome)rep->error_code));
        printf("  message: %s\n", rep->error_message);
        if (rep->log_tail != NULL) {
            printf("  last log lines:\n");
            for (const char *p = rep->log_tail; *p != '\0';) {
                size_t len = strcspn(p, "\n");
                printf("    %.*s\n", (int)len, p);
                p += len + (p[len] == '\n');
            }
        }
    }
    printf("logs: %s\n      %s\n", rep->scripts_log, rep->deployments_log);
}

static void
print_json(const struct lifecycle_report *rep, const struct lifecycle_opts *o)
{
    struct local_report r = {
        .deployment_id = rep->deployment_id,
        .deployment_group_id = o->group_id,
        .status = rep->succeeded ? "Succeeded" : "Failed",
        .deployment_dir = rep->deployment_dir,
        .scripts_log = rep->scripts_log,
        .deployments_log = rep->deployments_log,
        .files_written = rep->install.files_written,
        .files_retained = rep->install.files_retained,
        .dirs_created = rep->install.dirs_created,
        .cleaned = rep->install.cleaned,
        .nevents = rep->nevents,
    };
    struct local_report_event events[APPSPEC_NEVENTS];
    struct local_report_script *scripts[APPSPEC_NEVENTS] = {0}; /* owned */
    struct local_report_error error;
    char *text;

    for (size_t i = 0; i < rep->nevents; i++) {
        const struct lifecycle_event_report *ev = &rep->events[i];
        scripts[i] = mem_calloc(ev->nscripts ? ev->nscripts : 1, sizeof(*scripts[i]));
        for (size_t j = 0; j < ev->nscripts; j++) {
            const struct lifecycle_script_report *sc = &ev->scripts[j];
            scripts[i][j] = (struct local_report_script){
                .location = sc->location,
                .runas = sc->runas,
                .status = hook_run_outcome_name(sc->outcome),
                .code = (int)sc->outcome,
                .exit_status = sc->exit_status,
                .signal = sc->term_signal,
                .duration_ms = sc->duration_ms,
            };
        }
        events[i] = (struct local_report_event){
            .event = appspec_event_name(ev->event),
            .status = lifecycle_status_name(ev->status),
            .duration_ms = ev->duration_ms,
            .revision = ev->revision,
            .note = ev->note,
            .scripts = scripts[i],
            .nscripts = ev->nscripts,
        };
    }
    r.events = events;
    if (!rep->succeeded) {
        error = (struct local_report_error){
            .event = appspec_event_name(rep->failed_event),
            .script = rep->failed_script,
            .code = rep->error_code,
            .name = hook_run_outcome_name((enum hook_run_outcome)rep->error_code),
            .message = rep->error_message,
            .log_tail = rep->log_tail,
        };
        r.error = &error;
    }
    text = local_report_encode(&r);
    printf("%s\n", text);
    free(text);
    for (size_t i = 0; i < rep->nevents; i++)
        free(scripts[i]);
}

static void
print_ok(bool json)
{
    char *text;

    if (!json) {
        printf("ok\n");
        return;
    }
    text = local_report_encode_status("ok", NULL);
    printf("%s\n", text);
    free(text);
}

static int
refused(const struct local *l, int rc, const struct err *err)
{
    int status = rc == -EBUSY ? ERR_EXIT_FAILED : ERR_EXIT_USAGE;
    char *text;

    fprintf(stderr, "cutover: %s\n", err->msg);
    if (l->json) {
        text = local_report_encode_status(rc == -EBUSY ? "Busy" : "Refused", err->msg);
        printf("%s\n", text);
        free(text);
    }
    return status;
}

int
local_main(int argc, char **argv)
{
    struct local *l;
    struct lifecycle_report rep;
    struct err err = {0};
    size_t n;
    int rc, status;

    if (argc >= 5 && strcmp(argv[1], "--exec-as") == 0 && strcmp(argv[3], "--") == 0)
        return hook_run_exec_as(argv[2], argv[4]); /* the runas helper: see hook_run.h */
    l = mem_calloc(1, sizeof(*l));
    log_init("local", LOG_WARN);
    /* a reader that goes away (cutover local | head) must not kill a deployment half-way;
     * libuv resets dispositions in the children it spawns */
    signal(SIGPIPE, SIG_IGN);
    parse_args(l, argc, argv);
    n = sizeof(l->self_exe);
    if (uv_exepath(l->self_exe, &n) != 0)
        err_die(ERR_EXIT_FAILED, "cannot find this executable");
    l->o.self_exe = l->self_exe;
    if (l->check) {
        rc = lifecycle_check(&l->o, &err);
        if (rc == 0)
            print_ok(l->json);
        status = rc == 0 ? ERR_EXIT_OK : refused(l, rc, &err);
        free(l);
        return status;
    }
    if (!l->json) {
        l->o.progress = on_progress;
        printf("deploying %s to %s\n", l->location, l->o.group_id);
    }
    if ((rc = lifecycle_run(&l->o, &rep, &err)) != 0) {
        status = refused(l, rc, &err);
        free(l);
        return status;
    }
    if (l->json)
        print_json(&rep, &l->o);
    else
        print_table(&rep);
    status = rep.succeeded ? ERR_EXIT_OK : ERR_EXIT_FAILED;
    lifecycle_report_fini(&rep);
    free(l);
    return status;
}
