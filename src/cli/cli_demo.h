/* SPDX-License-Identifier: ISC */
/* `cutover demo`: the whole reference architecture on one machine, without root — server,
 * proxy, two hosts (agent, nginx, 4 workers under the supervisor) on their own loopback
 * addresses — and a scenario under load: v1, v2 blue/green with a canary, a bad v3 that the
 * alarm rolls back. A live line per second and a final report (docs/man/cutover-demo.md).
 * Exit 0 only when v1→v2 lost no request, v3 was rolled back within 5 s of its alarm and it all
 * took under 3 minutes; 1 otherwise (the report says what failed); 2 usage. */
#ifndef CLI_CLI_DEMO_H
#define CLI_CLI_DEMO_H

int cli_demo_main(int argc, char **argv);

#endif /* CLI_CLI_DEMO_H */
