/* SPDX-License-Identifier: ISC */
/* The control socket: a unix stream socket, mode 0600 (only the supervisor's user may command
 * it). Each connection carries one request line and gets one reply line (protocol/apps_msg.h);
 * a reply may come much later (a reload), so requests are objects the handler answers when
 * it is done. A client that goes away is noticed; the answer is then dropped. */
#ifndef SUPERVISOR_SUPERVISOR_CONTROL_H
#define SUPERVISOR_SUPERVISOR_CONTROL_H

#include <stdbool.h>
#include <uv.h>

struct err;
struct supervisor_control;
struct supervisor_control_req;

/* <line> is the request, NUL-terminated without its newline. The handler must eventually call
 * supervisor_control_reply() exactly once. */
typedef void (*supervisor_control_cb)(void *arg, struct supervisor_control_req *req,
                                      const char *line);

int supervisor_control_open(struct supervisor_control **out, uv_loop_t *loop, const char *path,
                            supervisor_control_cb cb, void *arg, struct err *err);
/* Sends <line> (a newline is added) and closes the connection. Takes ownership of nothing. */
void supervisor_control_reply(struct supervisor_control_req *req, const char *line);
/* Stops listening and unlinks the path; requests in flight may still be answered. */
void supervisor_control_close(struct supervisor_control *c);

#endif /* SUPERVISOR_SUPERVISOR_CONTROL_H */
