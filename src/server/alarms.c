/* SPDX-License-Identifier: ISC */
/* Reading the proxy's exposition: only the two families alarms need are parsed; every other
 * line is skipped, so new families in the proxy change nothing here. */
#include "server/alarms.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"

#define REQUESTS "cutover_requests_total{"
#define BUCKETS "cutover_target_response_time_seconds_bucket{"

/* Copies the value of label <name> in the label set starting at <p> (after '{', up to '}')
 * into <dst>. Returns true when found. */
static bool
label(const char *p, const char *end, const char *name, char *dst, size_t size)
{
    size_t nlen = strlen(name);

    while (p < end && *p != '}') {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t used = 0;
        bool match;
        if (eq == NULL || eq + 1 >= end || eq[1] != '"')
            return false;
        match = (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0;
        for (p = eq + 2; p < end && *p != '"'; p++) {
            char c = *p;
            if (c == '\\' && p + 1 < end) {
                c = *++p == 'n' ? '\n' : *p;
            }
            if (match && used + 1 < size)
                dst[used++] = c;
        }
        if (p >= end)
            return false;
        if (match) {
            dst[used] = '\0';
            return true;
        }
        p++; /* closing quote */
        if (p < end && *p == ',')
            p++;
    }
    return false;
}

/* The value after the closing '}' of a series line. */
static int
value_of(const char *line, const char *end, double *out)
{
    const char *brace = memchr(line, '}', (size_t)(end - line));
    char num[64];
    char *stop;
    size_t n;

    if (brace == NULL)
        return -EINVAL;
    for (brace++; brace < end && *brace == ' '; brace++)
        ;
    n = (size_t)(end - brace);
    if (n == 0 || n >= sizeof(num))
        return -EINVAL;
    memcpy(num, brace, n);
    num[n] = '\0';
    *out = strtod(num, &stop);
    if (stop == num || *stop != '\0' || !isfinite(*out) || *out < 0 || *out > 9.2e18)
        return -EINVAL; /* counters are non-negative integers that fit uint64_t */
    return 0;
}

static int
add_bucket(struct deployment_metric_sample *s, const char *le, double count)
{
    double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
    size_t i;

    if (isnan(bound) || bound < 0)
        return -EINVAL;

    for (i = 0; i < s->nbuckets; i++) {
        if (s->le[i] == bound || (isinf(bound) && isinf(s->le[i]))) {
            s->cumulative[i] += (uint64_t)count;
            return 0;
        }
    }
    if (s->nbuckets == DEPLOYMENT_METRIC_MAX_BUCKETS)
        return -EINVAL;
    /* keep ascending order: the proxy writes them ascending, insert to be safe */
    for (i = s->nbuckets; i > 0 && s->le[i - 1] > bound; i--) {
        s->le[i] = s->le[i - 1];
        s->cumulative[i] = s->cumulative[i - 1];
    }
    s->le[i] = bound;
    s->cumulative[i] = (uint64_t)count;
    s->nbuckets++;
    return 0;
}

static int
read_line(const char *line, const char *end, const char *group, struct deployment_metric_sample *s)
{
    bool is_req = str_has_prefix(line, REQUESTS);
    const char *labels = line + (is_req ? strlen(REQUESTS) : strlen(BUCKETS));
    char tg[256], cls[16], le[64];
    double v;

    if (!label(labels, end, "target_group", tg, sizeof(tg)))
        return -EINVAL;
    if (strcmp(tg, group) != 0)
        return 0;
    if (value_of(line, end, &v) < 0)
        return -EINVAL;
    if (is_req) {
        if (!label(labels, end, "status_class", cls, sizeof(cls)))
            return -EINVAL;
        s->requests += (uint64_t)v;
        if (strcmp(cls, "5xx") == 0 || strcmp(cls, "none") == 0)
            s->errors += (uint64_t)v;
        return 0;
    }
    if (!label(labels, end, "le", le, sizeof(le)))
        return -EINVAL;
    return add_bucket(s, le, v);
}

int
alarms_parse_sample(const char *text, size_t len, const char *target_group, uint64_t at_ms,
                    struct deployment_metric_sample *out)
{
    const char *p = text, *end = text + len;

    memset(out, 0, sizeof(*out));
    out->at_ms = at_ms;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        size_t n = (size_t)(eol - p);
        if ((n > strlen(REQUESTS) && memcmp(p, REQUESTS, strlen(REQUESTS)) == 0) ||
            (n > strlen(BUCKETS) && memcmp(p, BUCKETS, strlen(BUCKETS)) == 0)) {
            int rc = read_line(p, eol, target_group, out);
            if (rc < 0)
                return rc;
        }
        p = eol + 1;
    }
    /* the last bucket must be +Inf for deployment_alarm_eval; the proxy always writes it */
    if (out->nbuckets > 0 && !isinf(out->le[out->nbuckets - 1]))
        return -EINVAL;
    return 0;
}

void
alarms_window_init(struct alarms_window *w)
{
    w->head = 0;
    w->n = 0;
}

static const struct deployment_metric_sample *
at(const struct alarms_window *w, size_t i)
{
    return &w->ring[(w->head + i) % ALARMS_WINDOW_SAMPLES];
}

void
alarms_window_push(struct alarms_window *w, const struct deployment_metric_sample *s)
{
    if (w->n == ALARMS_WINDOW_SAMPLES) {
        w->ring[w->head] = *s;
        w->head = (w->head + 1) % ALARMS_WINDOW_SAMPLES;
        return;
    }
    w->ring[(w->head + w->n) % ALARMS_WINDOW_SAMPLES] = *s;
    w->n++;
}

bool
alarms_window_eval(const struct alarms_window *w, const struct deployment_alarm *a, double *value)
{
    const struct deployment_metric_sample *newest, *base;

    *value = 0;
    if (w->n < 2)
        return false;
    newest = at(w, w->n - 1);
    base = at(w, 0);
    for (size_t i = w->n - 1; i-- > 0;) {
        const struct deployment_metric_sample *s = at(w, i);
        if (s->at_ms + a->window_ms <= newest->at_ms) {
            base = s;
            break;
        }
    }
    return deployment_alarm_eval(a, base, newest, value);
}
