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

/* Change sets (POST /changes and the two PUTs): what decodes encodes and decodes the same. */
static void
changes_round_trip(const char *text, size_t len)
{
    struct proxy_api_changes a, b;
    struct err err;
    char *again;

    if (proxy_api_changes_parse(&a, text, len, &err) != 0)
        return;
    again = proxy_api_changes_format(&a);
    ASSERT(proxy_api_changes_parse(&b, again, strlen(again), &err) == 0);
    ASSERT(a.ngroups == b.ngroups && a.nlisteners == b.nlisteners);
    ASSERT(a.ndelete_listeners == b.ndelete_listeners && a.ndelete_groups == b.ndelete_groups);
    for (size_t i = 0; i < a.ngroups; i++) {
        ASSERT(strcmp(a.groups[i].name, b.groups[i].name) == 0);
        ASSERT(a.groups[i].health_set == b.groups[i].health_set);
        ASSERT(a.groups[i].has_targets == b.groups[i].has_targets);
        ASSERT(a.groups[i].ntargets == b.groups[i].ntargets);
    }
    for (size_t i = 0; i < a.nlisteners; i++) {
        ASSERT(strcmp(a.listeners[i].name, b.listeners[i].name) == 0);
        ASSERT(a.listeners[i].has_forward == b.listeners[i].has_forward);
        ASSERT((a.listeners[i].bind == NULL) == (b.listeners[i].bind == NULL));
    }
    free(again);
    proxy_api_changes_fini(&a);
    proxy_api_changes_fini(&b);
    if (proxy_api_group_put_parse(&a, "g", text, len, &err) == 0)
        proxy_api_changes_fini(&a);
    if (proxy_api_listener_put_parse(&a, "l", text, len, &err) == 0)
        proxy_api_changes_fini(&a);
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
    changes_round_trip(text, size);
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
