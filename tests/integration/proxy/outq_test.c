/* SPDX-License-Identifier: ISC */
/* proxy/outq on a real loop over a socketpair: bytes arrive complete and in order whether the
 * kernel takes them at once or they queue; a peer that stops reading makes the queue grow
 * (what conn.c's backpressure watches) and drain callbacks follow once it reads again; the
 * batch keeps borrowed and copied buffers in order; a write to a closed peer fails. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "proxy/outq.h"

struct fixture {
    uv_loop_t loop;
    uv_pipe_t writer; /* the outq's stream */
    uv_pipe_t reader; /* the peer */
    struct outq q;
    unsigned char *got; /* owned: everything the peer read */
    size_t ngot, capgot;
    int drains;
    int last_status;
    bool reading;
};

static void
on_drain(struct outq *q, int status)
{
    struct fixture *f = q->data;

    f->drains++;
    f->last_status = status;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char tmp[65536];

    (void)h;
    (void)hint;
    *buf = uv_buf_init(tmp, sizeof(tmp));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fixture *f = s->data;

    if (n <= 0)
        return;
    if (f->ngot + (size_t)n > f->capgot) {
        f->capgot = (f->ngot + (size_t)n) * 2;
        f->got = realloc(f->got, f->capgot);
    }
    memcpy(f->got + f->ngot, buf->base, (size_t)n);
    f->ngot += (size_t)n;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int sv[2], small = 4096;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    /* small kernel buffers so that a few hundred KiB must queue */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_pipe_init(&f->loop, &f->writer, 0);
    uv_pipe_init(&f->loop, &f->reader, 0);
    assert_int_equal(uv_pipe_open(&f->writer, sv[0]), 0);
    assert_int_equal(uv_pipe_open(&f->reader, sv[1]), 0);
    f->reader.data = f;
    outq_init(&f->q, (uv_stream_t *)&f->writer, on_drain, f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    if (!uv_is_closing((uv_handle_t *)&f->writer))
        uv_close((uv_handle_t *)&f->writer, NULL);
    if (!uv_is_closing((uv_handle_t *)&f->reader))
        uv_close((uv_handle_t *)&f->reader, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    outq_fini(&f->q);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f->got);
    free(f);
    return 0;
}

/* Runs the loop until <n> bytes arrived (bounded: at most 10,000 iterations). */
static void
read_until(struct fixture *f, size_t n)
{
    if (!f->reading) {
        uv_read_start((uv_stream_t *)&f->reader, on_alloc, on_read);
        f->reading = true;
    }
    for (int i = 0; i < 10000 && f->ngot < n; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->ngot, n);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 31 + seed) & 0xff);
}

static void
a_slow_peer_makes_the_queue_grow_then_drain_in_order(void **state)
{
    struct fixture *f = *state;
    const size_t total = 600 * 1024, piece = 20000;
    unsigned char *data = malloc(total);
    size_t sent = 0;

    fill(data, total, 7);
    while (sent < total) {
        size_t n = total - sent < piece ? total - sent : piece;
        uv_buf_t b = uv_buf_init((char *)data + sent, (unsigned)n);
        assert_int_equal(outq_send(&f->q, &b, 1), 0);
        sent += n;
    }
    /* nobody read: the kernel took a few KiB, the rest is ours */
    assert_true(outq_queued(&f->q) > OUTQ_HIGH_WATER);
    assert_false(outq_idle(&f->q));
    assert_int_equal(f->q.bytes, total);
    read_until(f, total);
    for (int i = 0; i < 100 && !outq_idle(&f->q); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(outq_idle(&f->q));
    assert_int_equal(outq_queued(&f->q), 0);
    assert_true(f->drains >= 1);
    assert_int_equal(f->last_status, 0);
    assert_memory_equal(f->got, data, total);
    free(data);
}

static void
batches_keep_borrowed_and_copied_bytes_in_order(void **state)
{
    struct fixture *f = *state;
    struct outq_batch *b = calloc(1, sizeof(*b));
    char expect[4096];
    size_t n = 0;
    char piece[8];

    for (int i = 0; i < 200; i++) {
        int len = snprintf(piece, sizeof(piece), "%03d|", i);
        if (i % 3 == 0) {
            outq_batch_copy(b, &f->q, piece, (size_t)len); /* piece is reused: copied */
        } else {
            static const char *const words[] = {"alpha,", "beta,"};
            outq_batch_add(b, &f->q, words[i % 2], strlen(words[i % 2]));
            len = (int)strlen(words[i % 2]);
            memcpy(piece, words[i % 2], (size_t)len);
        }
        memcpy(expect + n, piece, (size_t)len);
        n += (size_t)len;
    }
    outq_batch_flush(b);
    assert_int_equal(f->q.bytes, n);
    read_until(f, n);
    assert_memory_equal(f->got, expect, n);
    free(b);
}

static void
writing_to_a_closed_peer_fails(void **state)
{
    struct fixture *f = *state;
    char block[65536] = {0};
    uv_buf_t b = uv_buf_init(block, sizeof(block));
    int rc = 0;

    uv_close((uv_handle_t *)&f->reader, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 64 && rc == 0; i++) {
        rc = outq_send(&f->q, &b, 1);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        rc = rc != 0 ? rc : f->q.err;
    }
    assert_true(rc == UV_EPIPE || rc == UV_ECONNRESET);
    assert_int_equal(outq_send(&f->q, &b, 1), rc); /* sticky */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_slow_peer_makes_the_queue_grow_then_drain_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(batches_keep_borrowed_and_copied_bytes_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(writing_to_a_closed_peer_fails, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
