/* SPDX-License-Identifier: ISC */
/* Fuzz target: every protocol/proxy_api decoder on arbitrary bytes (admin API request bodies
 * come from any local client); whatever decodes must encode again and decode to the same. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "protocol/proxy_api.h"
#include "fuzz.h"

static void
action_round_trip(const char *text, size_t len)
{
    struct proxy_api_action a, b;
    struct err err;
    char *again;

    if (proxy_api_action_parse(&a, text, len, &err) != 0)
        return;
    again = proxy_api_action_format(&a);
    ASSERT(proxy_api_action_parse(&b, again, strlen(again), &err) == 0);
    ASSERT(a.nforward == b.nforward);
    for (size_t i = 0; i < a.nforward; i++) {
        ASSERT(strcmp(a.forward[i].target_group, b.forward[i].target_group) == 0);
        ASSERT(a.forward[i].weight == b.forward[i].weight);
    }
    free(again);
    proxy_api_action_fini(&a);
    proxy_api_action_fini(&b);
}

static void
targets_round_trip(const char *text, size_t len)
{
    struct proxy_api_targets t, u;
    struct err err;
    char *again;

    if (proxy_api_targets_parse(&t, text, len, &err) != 0)
        return;
    again = proxy_api_targets_format(&t);
    ASSERT(proxy_api_targets_parse(&u, again, strlen(again), &err) == 0);
    ASSERT(t.ntargets == u.ntargets);
    free(again);
    proxy_api_targets_fini(&t);
    proxy_api_targets_fini(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct proxy_api_health h;
    struct proxy_api_listeners ls;
    struct proxy_api_listener l;
    struct proxy_api_groups gs;
    struct err err;
    char *msg;

    action_round_trip(text, size);
    targets_round_trip(text, size);
    if (proxy_api_health_parse(&h, text, size, &err) == 0)
        proxy_api_health_fini(&h);
    if (proxy_api_listeners_parse(&ls, text, size, &err) == 0)
        proxy_api_listeners_fini(&ls);
    if (proxy_api_listener_parse(&l, text, size, &err) == 0)
        proxy_api_listener_fini(&l);
    if (proxy_api_groups_parse(&gs, text, size, &err) == 0)
        proxy_api_groups_fini(&gs);
    msg = proxy_api_error_parse(text, size);
    free(msg);
    return 0;
}
