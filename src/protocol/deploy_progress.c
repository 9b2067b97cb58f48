/* SPDX-License-Identifier: ISC */
/* JSON codecs of the orchestrator's progress object and of webhook notifications, over
 * jansson. The progress parse is lenient: it reads what an older or newer server wrote. */
#include "protocol/deploy_progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/json_util.h"
#include "common/mem.h"
#include "protocol/deploy.h"

static json_t *
jstr(const char *s) /* new reference */
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    if (v == NULL)
        v = json_string("?");
    if (v == NULL)
        mem_oom();
    return v;
}

void
deploy_progress_init(struct deploy_progress *p)
{
    memset(p, 0, sizeof(*p));
    p->phase = "start";
    p->original_fleet = -1;
    p->stop_rollback = -1;
}

char *
deploy_progress_format(const struct deploy_progress *p)
{
    json_t *o = json_object(); /* new */
    json_t *traffic = json_object();

    if (o == NULL || traffic == NULL)
        mem_oom();
    json_object_set_new(o, "phase", jstr(p->phase));
    json_object_set_new(o, "stepTime", json_integer(p->step_ms));
    json_object_set_new(o, "shift", json_integer(p->shift));
    json_object_set_new(o, "percent", json_integer(p->percent));
    json_object_set_new(o, "applied", json_boolean(p->applied));
    json_object_set_new(o, "originalFleet", json_integer(p->original_fleet));
    json_object_set_new(o, "restore", json_boolean(p->restore));
    json_object_set_new(o, "continued", json_boolean(p->continued));
    json_object_set_new(o, "batch", json_integer(p->batch));
    for (size_t i = 0; i < p->ntraffic && i < 2; i++)
        json_object_set_new(traffic, p->traffic_names[i], json_integer(p->traffic_weights[i]));
    json_object_set_new(o, "traffic", traffic);
    if (p->alarm != NULL)
        json_object_set_new(o, "alarm", jstr(p->alarm));
    if (p->end_cause != NULL)
        json_object_set_new(o, "ending",
                            json_pack("{s:o,s:o,s:o,s:i}", "cause", jstr(p->end_cause), "code",
                                      jstr(p->end_code != NULL ? p->end_code : ""), "message",
                                      jstr(p->end_message != NULL ? p->end_message : ""),
                                      "stopRollback", p->stop_rollback));
    return json_util_dump(o);
}

static const char *
get_str(struct arena *a, json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key); /* borrowed */

    return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : dflt;
}

static int64_t
get_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key); /* borrowed */

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static bool
get_bool(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

static void
read_traffic(struct deploy_progress *p, json_t *traffic)
{
    const char *name;
    json_t *w; /* borrowed */

    json_object_foreach(traffic, name, w)
    {
        if (p->ntraffic >= 2 || !json_is_integer(w))
            continue;
        p->traffic_names[p->ntraffic] = arena_strdup(&p->arena, name);
        p->traffic_weights[p->ntraffic] = (uint32_t)json_integer_value(w);
        p->ntraffic++;
    }
}

int
deploy_progress_parse(struct deploy_progress *out, const char *text, size_t len, struct err *err)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je); /* new */
    json_t *end;                               /* borrowed */

    deploy_progress_init(out);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return err_set(err, -EINVAL, "progress: %d:%d: %s (expected a JSON object)", je.line,
                       je.column, o == NULL ? je.text : "not an object");
    }
    arena_init(&out->arena, 512);
    out->phase = get_str(&out->arena, o, "phase", "start");
    out->step_ms = get_int(o, "stepTime", 0);
    out->shift = (uint32_t)get_int(o, "shift", 0);
    out->percent = (uint32_t)get_int(o, "percent", 0);
    out->applied = get_bool(o, "applied");
    out->original_fleet = (int)get_int(o, "originalFleet", -1);
    out->restore = get_bool(o, "restore");
    out->continued = get_bool(o, "continued");
    out->batch = (uint32_t)get_int(o, "batch", 0);
    if (json_is_object(json_object_get(o, "traffic")))
        read_traffic(out, json_object_get(o, "traffic"));
    out->alarm = get_str(&out->arena, o, "alarm", NULL);
    end = json_object_get(o, "ending");
    if (json_is_object(end)) {
        out->end_cause = get_str(&out->arena, end, "cause", NULL);
        out->end_code = get_str(&out->arena, end, "code", "");
        out->end_message = get_str(&out->arena, end, "message", "");
        out->stop_rollback = (int)get_int(end, "stopRollback", -1);
    }
    json_decref(o);
    return 0;
}

void
deploy_progress_fini(struct deploy_progress *p)
{
    arena_fini(&p->arena);
    memset(&p->arena, 0, sizeof(p->arena));
}

char *
deploy_progress_notice_format(const struct deploy_progress_notice *n)
{
    char when[DEPLOY_TIME_MAX];
    json_t *o = json_object(); /* new */

    if (o == NULL)
        mem_oom();
    json_object_set_new(o, "eventTriggerName", jstr(n->trigger_name));
    json_object_set_new(o, "triggerEvent", jstr(n->event));
    json_object_set_new(o, "applicationName", jstr(n->application_name));
    json_object_set_new(o, "deploymentGroupName", jstr(n->group_name));
    json_object_set_new(o, "deploymentId", jstr(n->deployment_id));
    json_object_set_new(o, "status", jstr(n->status));
    if (n->instance != NULL)
        json_object_set_new(o, "instanceId", jstr(n->instance));
    if (n->error_code != NULL && n->error_code[0] != '\0')
        json_object_set_new(o, "errorInformation",
                            json_pack("{s:o,s:o}", "code", jstr(n->error_code), "message",
                                      jstr(n->error_message != NULL ? n->error_message : "")));
    json_object_set_new(o, "time", jstr(deploy_time_format(n->at_ms, when)));
    return json_util_dump(o);
}
