/* SPDX-License-Identifier: ISC */
/* The demo's revisions of examples/webapp: a copy of the bundle templated for the host it is
 * deployed to, as a CI job templates a bundle for an environment. Two hosts share this machine,
 * so each gets its own "/" (the site's hosts/NAME) for the example's absolute paths
 * (/opt/webapp, /etc/cutover, /run/cutover, /var/log/cutover, /etc/nginx/conf.d), its own
 * worker ports instead of 3001-3004 and its own address for nginx instead of :80. Only those
 * strings change; the scripts run as shipped. */
#ifndef CLI_DEMO_BUNDLE_H
#define CLI_DEMO_BUNDLE_H

struct demo_site;
struct demo_host;
struct err;

/* Copies <src> to <dst> (which must not exist) templated for <host>, with app/VERSION set to
 * <version>; <fail_every> > 0 sets app/config.json's "failEvery" (every Nth `GET /` of a worker
 * answers 500 while /health, /health/deep and /version stay fine: the bad release).
 * Returns 0 or a negative errno with <err> naming the file. */
int demo_bundle_render(const struct demo_site *s, const struct demo_host *host, const char *src,
                       const char *dst, const char *version, int fail_every, struct err *err);

/* The environment the host's agent passes to the hooks (deploy.env lets it win): this
 * binary, no systemd, the host's nginx. Fills <env> with up to <max>-1 "K=V" strings stored in
 * <storage> (<size> bytes) and a NULL. Returns 0 or -ENOSPC. */
int demo_bundle_hook_env(const struct demo_site *s, const struct demo_host *host, const char **env,
                         int max, char *storage, unsigned size);

#endif /* CLI_DEMO_BUNDLE_H */
