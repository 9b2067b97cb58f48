/* SPDX-License-Identifier: ISC */
/* Pure helpers; the codecs themselves live in protocol/deploy_agent.c. */
#include "agent/agent_wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "common/err.h"
#include "common/str.h"
#include "protocol/deploy_agent.h"

bool
agent_wire_event_status(enum lifecycle_status st, enum deploy_event_status *out)
{
    switch (st) {
    case LIFECYCLE_NOT_RUN:
        return false;
    case LIFECYCLE_SKIPPED:
        *out = DEPLOY_EVENT_SKIPPED;
        return true;
    case LIFECYCLE_SUCCEEDED:
    case LIFECYCLE_FAILED_IGNORED:
        *out = DEPLOY_EVENT_SUCCEEDED;
        return true;
    case LIFECYCLE_FAILED:
        *out = DEPLOY_EVENT_FAILED;
        return true;
    }
    return false;
}

enum deploy_diag_code
agent_wire_diag_code(int code)
{
    switch (code) {
    case 0:
        return DEPLOY_DIAG_SUCCESS;
    case 1:
        return DEPLOY_DIAG_SCRIPT_MISSING;
    case 2:
        return DEPLOY_DIAG_SCRIPT_NOT_EXECUTABLE;
    case 3:
        return DEPLOY_DIAG_SCRIPT_TIMED_OUT;
    case 4:
        return DEPLOY_DIAG_SCRIPT_FAILED;
    default:
        return DEPLOY_DIAG_UNKNOWN_ERROR;
    }
}

char *
agent_wire_event_body(const char *event, enum deploy_event_status status, int64_t start_ms,
                      int64_t end_ms, const struct agent_wire_failure *failure)
{
    struct deploy_event_report r;

    memset(&r, 0, sizeof(r));
    r.lifecycle_event = event;
    r.status = status;
    r.start_ms = start_ms;
    r.end_ms = end_ms;
    r.diag.exit_code = -1;
    if (failure != NULL) {
        r.diag.error_code = deploy_diag_code_name(agent_wire_diag_code(failure->code));
        r.diag.script_name = failure->script;
        r.diag.message = failure->message;
        r.diag.log_tail = failure->log_tail;
        r.diag.exit_code = failure->code;
    }
    return deploy_agent_event_format(&r);
}

int
agent_wire_parse_tags(char *buf, const char **keys, const char **values, size_t *n, struct err *err)
{
    char *p = buf;

    *n = 0;
    if (buf[0] == '\0')
        return 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *eq, *end = p + len;
        bool last = *end == '\0';

        *end = '\0';
        eq = strchr(p, '=');
        if (eq == NULL || eq == p)
            return err_set(err, -EINVAL, "--tags: '%s' (expected KEY=VALUE[,KEY=VALUE…])", p);
        *eq = '\0';
        for (size_t i = 0; i < *n; i++) {
            if (strcmp(keys[i], p) == 0)
                return err_set(err, -EINVAL, "--tags: key '%s' given twice", p);
        }
        if (*n == AGENT_WIRE_MAX_TAGS)
            return err_set(err, -EINVAL, "--tags: more than %d tags", AGENT_WIRE_MAX_TAGS);
        keys[*n] = p;
        values[(*n)++] = eq + 1;
        if (last)
            return 0;
        p = end + 1;
    }
}

bool
agent_wire_server_is_valid(const char *server)
{
    const char *host;

    if (str_has_prefix(server, "http://"))
        host = server + 7;
    else if (str_has_prefix(server, "https://"))
        host = server + 8;
    else
        return false;
    return host[0] != '\0' && host[0] != '/' && strchr(server, ' ') == NULL;
}

int
agent_wire_url(char *out, size_t size, const char *server, const char *path)
{
    size_t len = strlen(server);
    int n;

    if (str_has_prefix(path, "http://") || str_has_prefix(path, "https://"))
        n = snprintf(out, size, "%s", path);
    else
        n = snprintf(out, size, "%.*s%s%s",
                     (int)(len > 0 && server[len - 1] == '/' ? len - 1 : len), server,
                     path[0] == '/' ? "" : "/", path);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

uint32_t
agent_wire_backoff_ms(unsigned attempt, uint32_t max_ms, uint32_t rnd)
{
    uint64_t d = 500;

    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    return (uint32_t)(d - (d / 4 > 0 ? rnd % (d / 4 + 1) : 0));
}

uint32_t
agent_wire_jitter(void)
{
    uint32_t r;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)uv_hrtime();
    return r;
}

int
agent_wire_events(const char *const *names, size_t n, enum appspec_event *out, size_t *nout,
                  struct err *err)
{
    bool seen[APPSPEC_NEVENTS] = {false};
    enum appspec_event ev;

    *nout = 0;
    if (n > APPSPEC_NEVENTS)
        return err_set(err, -EINVAL, "command lists %zu events (at most %d)", n, APPSPEC_NEVENTS);
    for (size_t i = 0; i < n; i++) {
        if (appspec_event_parse(names[i], &ev) != 0)
            return err_set(err, -EINVAL, "command names an unknown lifecycle event '%s'", names[i]);
        if (seen[ev])
            return err_set(err, -EINVAL, "command lists '%s' twice", names[i]);
        seen[ev] = true;
        out[(*nout)++] = ev;
    }
    return 0;
}
