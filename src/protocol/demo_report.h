/* SPDX-License-Identifier: ISC */
/* The final report of `cutover demo --output json` (cutover-demo(1) has the shape):
 *
 *   {"ok":true,"failed":[],"seconds":96.4,"connections":8,"nginx":true,
 *    "phases":[{"name":"v1→v2","seconds":21.3,"requests":40211,"ok":40211,"non2xx":0,
 *               "socketErrors":0,"failures":0,"rps":1887.8,"p50Ms":3.1,"p99Ms":9.8}, …],
 *    "deployments":[{"release":"v1","deploymentId":"d-…","status":"Succeeded",
 *                    "seconds":18.2}, …],
 *    "rollback":{"deploymentId":"d-…","status":"Failed",
 *                "errorInformation":{"code":"ALARM_ACTIVE","message":"…"},
 *                "rollbackInfo":{"rollbackDeploymentId":"d-…","rollbackMessage":"…"},
 *                "rollbackDeploymentStatus":"Succeeded","alarm":"errors",
 *                "alarmAt":"…Z","trafficBackAt":"…Z","lastBadAnswerAt":"…Z",
 *                "secondsToTrafficBack":0.6,"firstBadAnswerAt":"…Z"}}
 *
 * Times are RFC 3339 UTC with milliseconds, null when unknown. The only place these names
 * appear. */
#ifndef PROTOCOL_DEMO_REPORT_H
#define PROTOCOL_DEMO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEMO_REPORT_MAX 8

struct demo_report_phase {
    const char *name;
    double seconds;
    uint64_t requests, ok, non2xx, socket_errors;
    double p50_ms, p99_ms;
};

struct demo_report_deployment {
    const char *release; /* "v1" */
    const char *deployment_id;
    const char *status;
    double seconds;
};

struct demo_report_rollback {
    const char *deployment_id; /* the bad release's deployment; NULL: none was made */
    const char *status;
    const char *error_code, *error_message;
    const char *rollback_deployment_id, *rollback_message, *rollback_status;
    const char *alarm;
    int64_t alarm_ms, back_ms, first_bad_ms, last_bad_ms; /* wall clock ms, 0: unknown */
    double seconds_to_back;                               /* < 0: unknown */
};

struct demo_report {
    bool ok;
    const char *failed[DEMO_REPORT_MAX]; /* what failed, one sentence each */
    size_t nfailed;
    double seconds;
    unsigned connections;
    bool nginx;
    struct demo_report_phase phases[DEMO_REPORT_MAX];
    size_t nphases;
    struct demo_report_deployment deployments[DEMO_REPORT_MAX];
    size_t ndeployments;
    struct demo_report_rollback rollback;
};

/* A malloc'd JSON text (never NULL). Borrows <r>. */
char *demo_report_format(const struct demo_report *r);

/* "2026-11-22T05:01:02.345Z" into <out> (>= 32 bytes); "-" for 0. */
void demo_report_time(int64_t ms, char *out, size_t size);

#endif /* PROTOCOL_DEMO_REPORT_H */
