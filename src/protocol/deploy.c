/* SPDX-License-Identifier: ISC */
/* Wire names of the control plane's enums and RFC 3339 times. */
#include "protocol/deploy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t n, unsigned v)
{
    return v < n && names[v] != NULL ? names[v] : "?";
}

static int
index_of(const char *const *names, size_t n, const char *s, unsigned *out)
{
    if (s == NULL)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && strcmp(names[i], s) == 0) {
            *out = (unsigned)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* One name table, its _name() and its _parse(). */
#define DEPLOY_NAMES(fn, type, ...)                                                                \
    static const char *const fn##_names[] = {__VA_ARGS__};                                         \
    const char *fn##_name(type v)                                                                  \
    {                                                                                              \
        return name_of(fn##_names, NELEMS(fn##_names), (unsigned)v);                               \
    }                                                                                              \
    int fn##_parse(const char *s, type *out)                                                       \
    {                                                                                              \
        unsigned i;                                                                                \
        int rc = index_of(fn##_names, NELEMS(fn##_names), s, &i);                                  \
        if (rc == 0)                                                                               \
            *out = (type)i;                                                                        \
        return rc;                                                                                 \
    }

DEPLOY_NAMES(
    deploy_status, enum deploy_status, [DEPLOY_CREATED] = "Created", [DEPLOY_QUEUED] = "Queued",
    [DEPLOY_IN_PROGRESS] = "InProgress", [DEPLOY_READY] = "Ready", [DEPLOY_SUCCEEDED] = "Succeeded",
    [DEPLOY_FAILED] = "Failed", [DEPLOY_STOPPED] = "Stopped")

DEPLOY_NAMES(deploy_event_status, enum deploy_event_status, [DEPLOY_EVENT_PENDING] = "Pending",
             [DEPLOY_EVENT_IN_PROGRESS] = "InProgress", [DEPLOY_EVENT_SUCCEEDED] = "Succeeded",
             [DEPLOY_EVENT_FAILED] = "Failed", [DEPLOY_EVENT_SKIPPED] = "Skipped",
             [DEPLOY_EVENT_UNKNOWN] = "Unknown")

DEPLOY_NAMES(
    deploy_instance_status, enum deploy_instance_status, [DEPLOY_INSTANCE_PENDING] = "Pending",
    [DEPLOY_INSTANCE_IN_PROGRESS] = "InProgress", [DEPLOY_INSTANCE_SUCCEEDED] = "Succeeded",
    [DEPLOY_INSTANCE_FAILED] = "Failed", [DEPLOY_INSTANCE_SKIPPED] = "Skipped",
    [DEPLOY_INSTANCE_READY] = "Ready", [DEPLOY_INSTANCE_UNKNOWN] = "Unknown")

DEPLOY_NAMES(
    deploy_error_code,
    enum deploy_error_code, [DEPLOY_ERR_NONE] = "", [DEPLOY_ERR_SCRIPT_FAILED] = "SCRIPT_FAILED",
    [DEPLOY_ERR_HEALTH_CONSTRAINTS] = "HEALTH_CONSTRAINTS",
    [DEPLOY_ERR_HEALTH_CONSTRAINTS_INVALID] = "HEALTH_CONSTRAINTS_INVALID",
    [DEPLOY_ERR_TIMEOUT] = "TIMEOUT", [DEPLOY_ERR_AGENT_ISSUE] = "AGENT_ISSUE",
    [DEPLOY_ERR_ALARM_ACTIVE] = "ALARM_ACTIVE", [DEPLOY_ERR_MANUAL_STOP] = "MANUAL_STOP",
    [DEPLOY_ERR_NO_INSTANCES] = "NO_INSTANCES", [DEPLOY_ERR_REVISION_MISSING] = "REVISION_MISSING",
    [DEPLOY_ERR_DEPLOYMENT_GROUP_MISSING] = "DEPLOYMENT_GROUP_MISSING",
    [DEPLOY_ERR_ELASTIC_LOAD_BALANCING_INVALID] = "ELASTIC_LOAD_BALANCING_INVALID",
    [DEPLOY_ERR_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [DEPLOY_ERR_INVALID_REVISION] = "INVALID_REVISION",
    [DEPLOY_ERR_APPLICATION_MISSING] = "APPLICATION_MISSING")

DEPLOY_NAMES(
    deploy_diag_code, enum deploy_diag_code, [DEPLOY_DIAG_SUCCESS] = "Success",
    [DEPLOY_DIAG_SCRIPT_MISSING] = "ScriptMissing",
    [DEPLOY_DIAG_SCRIPT_NOT_EXECUTABLE] = "ScriptNotExecutable",
    [DEPLOY_DIAG_SCRIPT_TIMED_OUT] = "ScriptTimedOut", [DEPLOY_DIAG_SCRIPT_FAILED] = "ScriptFailed",
    [DEPLOY_DIAG_UNKNOWN_ERROR] = "UnknownError")

DEPLOY_NAMES(
    deploy_type,
    enum deploy_type, [DEPLOY_TYPE_IN_PLACE] = "IN_PLACE", [DEPLOY_TYPE_BLUE_GREEN] = "BLUE_GREEN")

DEPLOY_NAMES(
    deploy_option,
    enum deploy_option, [DEPLOY_OPTION_WITHOUT_TRAFFIC_CONTROL] = "WITHOUT_TRAFFIC_CONTROL",
    [DEPLOY_OPTION_WITH_TRAFFIC_CONTROL] = "WITH_TRAFFIC_CONTROL")

DEPLOY_NAMES(deploy_min_healthy_type,
             enum deploy_min_healthy_type, [DEPLOY_MIN_HEALTHY_HOST_COUNT] = "HOST_COUNT",
             [DEPLOY_MIN_HEALTHY_FLEET_PERCENT] = "FLEET_PERCENT")

DEPLOY_NAMES(deploy_traffic_type,
             enum deploy_traffic_type, [DEPLOY_TRAFFIC_ALL_AT_ONCE] = "AllAtOnce",
             [DEPLOY_TRAFFIC_TIME_BASED_CANARY] = "TimeBasedCanary",
             [DEPLOY_TRAFFIC_TIME_BASED_LINEAR] = "TimeBasedLinear")

DEPLOY_NAMES(deploy_ready_action,
             enum deploy_ready_action, [DEPLOY_READY_CONTINUE] = "CONTINUE_DEPLOYMENT",
             [DEPLOY_READY_STOP] = "STOP_DEPLOYMENT")

DEPLOY_NAMES(deploy_termination_action,
             enum deploy_termination_action, [DEPLOY_TERMINATION_KEEP_ALIVE] = "KEEP_ALIVE",
             [DEPLOY_TERMINATION_TERMINATE] = "TERMINATE")

DEPLOY_NAMES(deploy_file_exists,
             enum deploy_file_exists, [DEPLOY_FILE_EXISTS_DISALLOW] = "DISALLOW",
             [DEPLOY_FILE_EXISTS_OVERWRITE] = "OVERWRITE", [DEPLOY_FILE_EXISTS_RETAIN] = "RETAIN")

DEPLOY_NAMES(deploy_instance_type, enum deploy_instance_type, [DEPLOY_INSTANCE_TYPE_NONE] = "",
             [DEPLOY_INSTANCE_TYPE_BLUE] = "Blue", [DEPLOY_INSTANCE_TYPE_GREEN] = "Green")

static const struct {
    enum deploy_rollback_event bit;
    const char *name;
} rollback_events[] = {
    {DEPLOY_ROLLBACK_ON_FAILURE, "DEPLOYMENT_FAILURE"},
    {DEPLOY_ROLLBACK_ON_ALARM, "DEPLOYMENT_STOP_ON_ALARM"},
    {DEPLOY_ROLLBACK_ON_STOP_REQUEST, "DEPLOYMENT_STOP_ON_REQUEST"},
};

const char *
deploy_rollback_event_name(enum deploy_rollback_event e)
{
    for (size_t i = 0; i < NELEMS(rollback_events); i++)
        if (rollback_events[i].bit == e)
            return rollback_events[i].name;
    return "?";
}

int
deploy_rollback_event_parse(const char *s, enum deploy_rollback_event *out)
{
    for (size_t i = 0; s != NULL && i < NELEMS(rollback_events); i++) {
        if (strcmp(rollback_events[i].name, s) == 0) {
            *out = rollback_events[i].bit;
            return 0;
        }
    }
    return -EINVAL;
}

bool
deploy_status_is_active(enum deploy_status s)
{
    switch (s) {
    case DEPLOY_CREATED:
    case DEPLOY_QUEUED:
    case DEPLOY_IN_PROGRESS:
    case DEPLOY_READY:
        return true;
    case DEPLOY_SUCCEEDED:
    case DEPLOY_FAILED:
    case DEPLOY_STOPPED:
        return false;
    }
    return false;
}

char *
deploy_time_format(int64_t ms, char *buf)
{
    struct tm tm;
    time_t secs;

    buf[0] = '\0';
    if (ms == 0)
        return buf;
    secs = (time_t)(ms / 1000);
    gmtime_r(&secs, &tm);
    strftime(buf, DEPLOY_TIME_MAX - 5, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + strlen(buf), 6, ".%03uZ", (unsigned)(ms % 1000) % 1000u);
    return buf;
}

static int
parse_fraction_ms(const char **pp)
{
    const char *p = *pp;
    int ms = 0, digits = 0;

    if (*p != '.')
        return 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
        if (digits < 3)
            ms = ms * 10 + (*p - '0');
    for (; digits < 3; digits++)
        ms *= 10;
    *pp = p;
    return ms;
}

int
deploy_time_parse(const char *s, int64_t *out_ms)
{
    struct tm tm;
    const char *p;
    int ms, off = 0, n = 0;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return -EINVAL;
    p = s + n;
    ms = parse_fraction_ms(&p);
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, k = 0;

        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5)
            return -EINVAL;
        off = (hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out_ms = ((int64_t)timegm(&tm) - off) * 1000 + ms;
    return 0;
}

int64_t
deploy_time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
