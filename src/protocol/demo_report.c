/* SPDX-License-Identifier: ISC */
/* JSON codec of the `cutover demo` report over jansson; see demo_report.h. */
#include "protocol/demo_report.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "common/json_util.h"
#include "common/mem.h"

void
demo_report_time(int64_t ms, char *out, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static json_t *
time_json(int64_t ms) /* new reference */
{
    char t[40];

    if (ms <= 0)
        return json_null();
    demo_report_time(ms, t, sizeof(t));
    return json_string(t);
}

static json_t *
phase_json(const struct demo_report_phase *p) /* new reference */
{
    return json_pack("{s:o,s:f,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f}", "name", json_util_string(p->name),
                     "seconds", p->seconds, "requests", (json_int_t)p->requests, "ok",
                     (json_int_t)p->ok, "non2xx", (json_int_t)p->non2xx, "socketErrors",
                     (json_int_t)p->socket_errors, "failures",
                     (json_int_t)(p->non2xx + p->socket_errors), "rps",
                     p->seconds > 0 ? (double)p->requests / p->seconds : 0.0, "p50Ms", p->p50_ms,
                     "p99Ms", p->p99_ms);
}

static json_t *
deployment_json(const struct demo_report_deployment *d) /* new reference */
{
    return json_pack("{s:o,s:o,s:o,s:f}", "release", json_util_string(d->release), "deploymentId",
                     json_util_string(d->deployment_id), "status", json_util_string(d->status),
                     "seconds", d->seconds);
}

static json_t *
rollback_json(const struct demo_report_rollback *r) /* new reference */
{
    json_t *err, *info;

    if (r->deployment_id == NULL)
        return json_null();
    err = r->error_code == NULL ? json_null()
                                : json_pack("{s:o,s:o}", "code", json_util_string(r->error_code),
                                            "message", json_util_string(r->error_message));
    info = r->rollback_deployment_id == NULL
               ? json_null()
               : json_pack("{s:o,s:o}", "rollbackDeploymentId",
                           json_util_string(r->rollback_deployment_id), "rollbackMessage",
                           json_util_string(r->rollback_message));
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "deploymentId",
                     json_util_string(r->deployment_id), "status", json_util_string(r->status),
                     "errorInformation", err, "rollbackInfo", info, "rollbackDeploymentStatus",
                     json_util_string(r->rollback_status), "alarm", json_util_string(r->alarm),
                     "alarmAt", time_json(r->alarm_ms), "trafficBackAt", time_json(r->back_ms),
                     "firstBadAnswerAt", time_json(r->first_bad_ms), "lastBadAnswerAt",
                     time_json(r->last_bad_ms), "secondsToTrafficBack",
                     r->seconds_to_back < 0 ? json_null() : json_real(r->seconds_to_back));
}

char *
demo_report_format(const struct demo_report *r)
{
    json_t *failed = json_array(), *phases = json_array(), *deps = json_array();

    if (failed == NULL || phases == NULL || deps == NULL)
        mem_oom();
    for (size_t i = 0; i < r->nfailed; i++)
        if (json_array_append_new(failed, json_util_string(r->failed[i])) != 0)
            mem_oom();
    for (size_t i = 0; i < r->nphases; i++)
        if (json_array_append_new(phases, phase_json(&r->phases[i])) != 0)
            mem_oom();
    for (size_t i = 0; i < r->ndeployments; i++)
        if (json_array_append_new(deps, deployment_json(&r->deployments[i])) != 0)
            mem_oom();
    return json_util_dump(json_pack("{s:b,s:o,s:f,s:i,s:b,s:o,s:o,s:o}", "ok", r->ok, "failed",
                                    failed, "seconds", r->seconds, "connections",
                                    (int)r->connections, "nginx", r->nginx, "phases", phases,
                                    "deployments", deps, "rollback", rollback_json(&r->rollback)));
}
