/* SPDX-License-Identifier: ISC */
/* Fuzz target: the server reads the proxy's /metrics exposition to evaluate alarms. Arbitrary
 * bytes are parsed for two target group names; a sample that parses is evaluated against
 * itself and an empty one with both metrics, whose values must stay in range. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server/alarms.h"
#include "server/deployment.h"

static void
evaluate(const struct deployment_metric_sample *s)
{
    static const struct deployment_metric_sample zero;
    struct deployment_alarm ratio = {DEPLOYMENT_METRIC_TARGET_5XX_RATIO, 0.01, 1000, 1};
    struct deployment_alarm p99 = {DEPLOYMENT_METRIC_TARGET_P99_SECONDS, 0.5, 1000, 1};
    double v;

    (void)deployment_alarm_eval(&ratio, &zero, s, &v);
    if (isnan(v) || v < 0)
        abort();
    (void)deployment_alarm_eval(&p99, &zero, s, &v);
    if (isnan(v) || v < 0)
        abort();
    (void)deployment_alarm_eval(&ratio, s, s, &v);
    if (v != 0)
        abort(); /* no requests between a sample and itself */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const groups[] = {"green", "a\"b"};
    struct deployment_metric_sample s;

    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (alarms_parse_sample((const char *)data, size, groups[i], 1, &s) == 0)
            evaluate(&s);
    return 0;
}
