/* SPDX-License-Identifier: ISC */
/* The processes `cutover demo` starts, on the demo's main-thread loop: each in its own session
 * (so its own process group: Ctrl-C reaches only the demo, and a stop reaches everything the
 * process forked), output to a log file, environment = ours plus a marker (CUTOVER_DEMO_ID) that
 * every descendant inherits — hooks, the supervisors they start, workers — so that a final
 * sweep finds whatever was started on the demo's behalf. SIGINT/SIGTERM are caught on the same
 * loop and only raise a flag: the demo checks it between steps and stops everything. */
#ifndef CLI_DEMO_PROC_H
#define CLI_DEMO_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define DEMO_PROC_MAX 32
#define DEMO_PROC_MARKER_ENV "CUTOVER_DEMO_ID"

struct demo_proc_set;

/* A set of processes, with its loop and signal watchers. <marker> is copied. Never NULL. */
struct demo_proc_set *demo_proc_set_new(const char *marker);

/* Stops everything still running (demo_proc_stop_all), closes the loop and frees <ps>. */
void demo_proc_set_free(struct demo_proc_set *ps);

/* Starts <argv> (argv[0]: a path or a name looked up in PATH) in its own session, cwd <cwd>
 * (NULL: ours), stdout and stderr appended to <log_path>, with <env> ("K=V" entries, NULL
 * terminated, may be NULL) added to our environment and the marker. <name> is borrowed (a
 * literal or a string that outlives the set). Returns a handle >= 0 or a negative errno with
 * <err> set. */
int demo_proc_spawn(struct demo_proc_set *ps, const char *name, const char *const argv[],
                    const char *const env[], const char *cwd, const char *log_path,
                    struct err *err);

/* demo_proc_spawn, then waits up to <timeout_ms> for the exit. Returns the exit status
 * (0..255; 128+N for signal N), or a negative errno: -ETIMEDOUT (the process group was
 * killed), -EINTR (interrupted by SIGINT/SIGTERM), or a spawn failure. */
int demo_proc_run(struct demo_proc_set *ps, const char *name, const char *const argv[],
                  const char *const env[], const char *log_path, uint64_t timeout_ms,
                  struct err *err);

/* True while process <h> has not exited. */
bool demo_proc_alive(const struct demo_proc_set *ps, int h);
/* The name of the first process that exited while the demo still needed it, or NULL. Only
 * processes not yet stopped by demo_proc_stop_all count. */
const char *demo_proc_first_dead(const struct demo_proc_set *ps);

/* Runs the loop for <ms> (exits, signals). Returns false if SIGINT/SIGTERM arrived (now or
 * before): the caller stops. */
bool demo_proc_sleep(struct demo_proc_set *ps, uint64_t ms);
bool demo_proc_interrupted(const struct demo_proc_set *ps);

/* Stops every process: SIGTERM to each process group (latest first) and to every process
 * carrying the marker, up to <grace_ms> for them to exit, then SIGKILL. Returns how many
 * processes had to be killed. Idempotent. */
unsigned demo_proc_stop_all(struct demo_proc_set *ps, uint64_t grace_ms);

/* Pids of live (non-zombie) processes whose environment holds the marker of <marker>. Fills at
 * most <max> into <out>, returns how many exist. */
size_t demo_proc_find_marked(const char *marker, int *out, size_t max);

#endif /* CLI_DEMO_PROC_H */
