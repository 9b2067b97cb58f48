/* SPDX-License-Identifier: ISC */
/* `cutover apps status|start|stop|restart|reload|logs [APP]`: the supervisor's command-line
 * client. Talks to the control socket (protocol/apps_msg.h); the default socket is the control:
 * path of /etc/cutover/apps.yaml. */
#ifndef CLI_CLI_APPS_H
#define CLI_CLI_APPS_H

int cli_apps_main(int argc, char **argv);

#endif /* CLI_CLI_APPS_H */
