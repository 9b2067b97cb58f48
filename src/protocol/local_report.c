/* SPDX-License-Identifier: ISC */
/* JSON codec of the `cutover local` report over jansson; see local_report.h. */
#include "protocol/local_report.h"

#include <jansson.h>

#include "common/json_util.h"
#include "common/mem.h"

static json_t *
script_json(const struct local_report_script *sc) /* new reference */
{
    return json_pack("{s:o,s:o,s:o,s:i,s:i,s:i,s:I}", "location", json_util_string(sc->location),
                     "runas", json_util_string(sc->runas), "status", json_util_string(sc->status),
                     "code", sc->code, "exitStatus", sc->exit_status, "signal", sc->signal,
                     "durationMs", (json_int_t)sc->duration_ms);
}

static json_t *
event_json(const struct local_report_event *ev) /* new reference */
{
    json_t *scripts = json_array();

    if (scripts == NULL)
        mem_oom();
    for (size_t i = 0; i < ev->nscripts; i++) {
        if (json_array_append_new(scripts, script_json(&ev->scripts[i])) != 0)
            mem_oom();
    }
    return json_pack("{s:o,s:o,s:I,s:o,s:o,s:o}", "event", json_util_string(ev->event), "status",
                     json_util_string(ev->status), "durationMs", (json_int_t)ev->duration_ms,
                     "revision", json_util_string(ev->revision), "note", json_util_string(ev->note),
                     "scripts", scripts);
}

static json_t *
error_json(const struct local_report_error *e) /* new reference */
{
    if (e == NULL)
        return json_null();
    return json_pack("{s:o,s:o,s:i,s:o,s:o,s:o}", "event", json_util_string(e->event), "script",
                     json_util_string(e->script), "code", e->code, "name",
                     json_util_string(e->name), "message", json_util_string(e->message), "logTail",
                     json_util_string(e->log_tail));
}

char *
local_report_encode(const struct local_report *rep)
{
    json_t *events = json_array(), *install;

    if (events == NULL)
        mem_oom();
    for (size_t i = 0; i < rep->nevents; i++) {
        if (json_array_append_new(events, event_json(&rep->events[i])) != 0)
            mem_oom();
    }
    install = json_pack("{s:I,s:I,s:I,s:I}", "filesWritten", (json_int_t)rep->files_written,
                        "filesRetained", (json_int_t)rep->files_retained, "dirsCreated",
                        (json_int_t)rep->dirs_created, "cleaned", (json_int_t)rep->cleaned);
    return json_util_dump(json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "deploymentId",
                                    json_util_string(rep->deployment_id), "deploymentGroupId",
                                    json_util_string(rep->deployment_group_id), "status",
                                    json_util_string(rep->status), "deploymentDir",
                                    json_util_string(rep->deployment_dir), "scriptsLog",
                                    json_util_string(rep->scripts_log), "deploymentsLog",
                                    json_util_string(rep->deployments_log), "install", install,
                                    "events", events, "error", error_json(rep->error)));
}

char *
local_report_encode_status(const char *status, const char *message)
{
    if (message == NULL)
        return json_util_dump(json_pack("{s:o}", "status", json_util_string(status)));
    return json_util_dump(json_pack("{s:o,s:{s:o}}", "status", json_util_string(status), "error",
                                    "message", json_util_string(message)));
}
