/* SPDX-License-Identifier: ISC */
/* `cutover supervise -c apps.yaml [--check]`: runs every app's workers, restarts them, reloads
 * them without dropping a request, and answers `cutover apps` on the control socket.
 * `cutover supervise --exec-worker -- CMD…` is the tiny helper the supervisor spawns in listen:
 * mode: it sets LISTEN_PID to its own pid and execs CMD in place. */
#ifndef SUPERVISOR_SUPERVISOR_H
#define SUPERVISOR_SUPERVISOR_H

int supervisor_main(int argc, char **argv);

#endif /* SUPERVISOR_SUPERVISOR_H */
