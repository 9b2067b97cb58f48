/* SPDX-License-Identifier: ISC */
/* One delivery = one timer (the backoff wait) + one work request (the POST) at a time:
 *
 *   WAITING ──timer──▶ SENDING ──2xx──▶ closed (delivered)
 *      ▲                  │
 *      └──── failure, attempts left (delay doubles) ─┘ ── no attempts left ──▶ closed (dropped)
 */
#include "server/notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http_fetch.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

struct notify {
    uv_loop_t *loop;
    unsigned pending; /* deliveries alive */
    uint64_t delivered, dropped;
    unsigned attempts;       /* per delivery */
    uint64_t first_retry_ms; /* the first backoff; doubles */
    bool is_closing;
    struct delivery *head; /* waiting or sending */
};

struct delivery {
    struct notify *n;
    struct delivery *next;
    uv_timer_t timer;
    uv_work_t work;
    char *url;  /* owned */
    char *body; /* owned */
    unsigned attempt;
    unsigned max_attempts;
    uint64_t delay_ms;
    bool is_sending;
    bool is_closing;
    int result;    /* work: 0 delivered, else a negative errno */
    long status;   /* work: HTTP status */
    char msg[256]; /* work: why it failed */
};

struct notify *
notify_new(uv_loop_t *loop)
{
    struct notify *n = mem_calloc(1, sizeof(*n));

    n->loop = loop;
    n->attempts = NOTIFY_ATTEMPTS;
    n->first_retry_ms = NOTIFY_FIRST_RETRY_MS;
    return n;
}

void
notify_set_policy(struct notify *n, unsigned attempts, uint64_t first_retry_ms)
{
    n->attempts = attempts > 0 ? attempts : 1;
    n->first_retry_ms = first_retry_ms;
}

static void
maybe_free(struct notify *n)
{
    if (n->is_closing && n->pending == 0)
        free(n);
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct delivery *d = h->data;
    struct notify *n = d->n;

    free(d->url);
    free(d->body);
    free(d);
    n->pending--;
    maybe_free(n);
}

static void
delivery_close(struct delivery *d)
{
    struct delivery **pp;

    if (d->is_closing)
        return;
    d->is_closing = true;
    for (pp = &d->n->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

static void
on_post(uv_work_t *w)
{
    struct delivery *d = w->data;
    struct http_fetch_response resp;
    struct err err;

    err_clear(&err);
    d->result = http_fetch_request("POST", d->url, NULL, d->body, strlen(d->body),
                                   NOTIFY_TIMEOUT_MS, &resp, &err);
    if (d->result < 0) {
        str_copy(d->msg, err.msg, sizeof(d->msg));
        return;
    }
    d->status = resp.status;
    if (resp.status < 200 || resp.status > 299) {
        d->result = -EPROTO;
        snprintf(d->msg, sizeof(d->msg), "%s: HTTP %ld", d->url, resp.status);
    }
    http_fetch_response_fini(&resp);
}

static void on_timer(uv_timer_t *t);

static void
on_post_done(uv_work_t *w, int status)
{
    struct delivery *d = w->data;
    struct notify *n = d->n;

    d->is_sending = false;
    if (status == 0 && d->result == 0) {
        n->delivered++;
        delivery_close(d);
        return;
    }
    if (n->is_closing || d->attempt >= d->max_attempts) {
        log_warn("webhook %s: giving up after %u attempts: %s", d->url, d->attempt, d->msg);
        n->dropped++;
        delivery_close(d);
        return;
    }
    log_info("webhook %s: attempt %u failed (%s), retrying in %llums", d->url, d->attempt, d->msg,
             (unsigned long long)d->delay_ms);
    uv_timer_start(&d->timer, on_timer, d->delay_ms, 0);
    d->delay_ms *= 2;
}

static void
on_timer(uv_timer_t *t)
{
    struct delivery *d = t->data;

    if (d->is_closing)
        return;
    d->attempt++;
    d->is_sending = true;
    if (uv_queue_work(d->n->loop, &d->work, on_post, on_post_done) < 0) {
        d->is_sending = false;
        d->n->dropped++;
        delivery_close(d);
    }
}

void
notify_send(struct notify *n, const char *url, char *body)
{
    struct delivery *d;

    if (n->is_closing) {
        free(body);
        return;
    }
    d = mem_calloc(1, sizeof(*d));
    d->n = n;
    d->url = mem_strdup(url);
    d->body = body;
    d->delay_ms = n->first_retry_ms;
    d->max_attempts = n->attempts;
    d->work.data = d;
    uv_timer_init(n->loop, &d->timer);
    d->timer.data = d;
    d->next = n->head;
    n->head = d;
    n->pending++;
    uv_timer_start(&d->timer, on_timer, 0, 0);
}

unsigned
notify_pending(const struct notify *n)
{
    return n->pending;
}

uint64_t
notify_delivered(const struct notify *n)
{
    return n->delivered;
}

uint64_t
notify_dropped(const struct notify *n)
{
    return n->dropped;
}

void
notify_close(struct notify *n)
{
    struct delivery *d, *next;

    n->is_closing = true;
    for (d = n->head; d != NULL; d = next) {
        next = d->next;
        if (!d->is_sending) {
            n->dropped++;
            delivery_close(d);
        }
    }
    maybe_free(n);
}
