/* SPDX-License-Identifier: ISC */
/* cli/demo_bundle and cli/demo_load's pure parts: a webapp bundle templated for one demo host
 * (its absolute paths under the host's directory, its worker ports, its nginx address, the
 * demo's marker, the version, the bad release's failEvery; nothing else changed), and the
 * load's latency quantiles. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ftw.h>

#include "cli/demo_bundle.h"
#include "cli/demo_load.h"
#include "cli/demo_stack.h"
#include "common/err.h"

static char tmp[] = "/tmp/demo-bundle-test.XXXXXX";

static void
put(const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/src/%s", tmp, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *
get(const char *rel)
{
    static char text[4096];
    char path[512];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/out/%s", tmp, rel);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int
make_src(void **state)
{
    char dir[512];

    (void)state;
    assert_non_null(mkdtemp(tmp));
    for (const char *const *d = (const char *const[]){"src", "src/app", "src/config",
                                                      "src/config/nginx", "src/scripts", NULL};
         *d != NULL; d++) {
        snprintf(dir, sizeof(dir), "%s/%s", tmp, *d);
        assert_int_equal(mkdir(dir, 0755), 0);
    }
    put("appspec.yml", "files:\n  - destination: /opt/webapp/incoming/app\n"
                       "  - destination: /etc/cutover\n");
    put("deploy.env", ": \"${APPS_YAML:=/etc/cutover/apps.yaml}\"\n"
                      ": \"${NGINX_URL:=http://127.0.0.1:80}\"\n"
                      ": \"${SUPERVISE_LOG:=/var/log/cutover/supervise.log}\"\n"
                      ": \"${WEBAPP_PORT:=3001}\"\n");
    put("config/apps.yaml", "control: /run/cutover/supervise.sock\n    ports: 3001\n"
                            "    env: {NODE_ENV: production, HOST: 127.0.0.1}\n"
                            "    timeout: 30010\n");
    put("config/nginx/webapp.conf", "server 127.0.0.1:3001;\nserver 127.0.0.1:3004;\n"
                                    "listen 80;\n# /etc/nginx/conf.d/webapp.conf\n");
    put("app/config.json", "{\n  \"dependencies\": {}\n}\n");
    put("app/VERSION", "1.0.0\n");
    put("scripts/start.sh", "#!/bin/sh\necho /opt/webapp 3001\n");
    snprintf(dir, sizeof(dir), "%s/src/scripts/start.sh", tmp);
    assert_int_equal(chmod(dir, 0755), 0);
    return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
remove_all(void **state)
{
    (void)state;
    return nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
templated_for_the_host(void **state)
{
    struct demo_site s;
    struct demo_host *h = &s.hosts[1];
    struct err err = {0};
    char src[512], dst[512];
    struct stat st;

    (void)state;
    memset(&s, 0, sizeof(s));
    snprintf(s.marker, sizeof(s.marker), "demo-1-ab");
    h->name = "green-1";
    h->ip = "127.0.0.3";
    h->port = 40000;
    h->worker_base = 41000;
    snprintf(h->dir, sizeof(h->dir), "/tmp/site/hosts/green-1");
    snprintf(src, sizeof(src), "%s/src", tmp);
    snprintf(dst, sizeof(dst), "%s/out", tmp);
    assert_int_equal(demo_bundle_render(&s, h, src, dst, "3.0.0", 5, &err), 0);

    assert_string_equal(get("appspec.yml"),
                        "files:\n  - destination: /tmp/site/hosts/green-1/opt/webapp/incoming/app\n"
                        "  - destination: /tmp/site/hosts/green-1/etc/cutover\n");
    assert_string_equal(get("deploy.env"),
                        ": \"${APPS_YAML:=/tmp/site/hosts/green-1/etc/cutover/apps.yaml}\"\n"
                        ": \"${NGINX_URL:=http://127.0.0.3:40000}\"\n"
                        ": \"${SUPERVISE_LOG:=/tmp/site/hosts/green-1/log/supervise.log}\"\n"
                        ": \"${WEBAPP_PORT:=41000}\"\n");
    assert_string_equal(get("config/apps.yaml"),
                        "control: /tmp/site/hosts/green-1/run/supervise.sock\n    ports: 41000\n"
                        "    env: {CUTOVER_DEMO_ID: demo-1-ab, NODE_ENV: production, HOST: "
                        "127.0.0.1}\n    timeout: 30010\n");
    assert_string_equal(
        get("config/nginx/webapp.conf"),
        "server 127.0.0.1:41000;\nserver 127.0.0.1:41003;\n"
        "listen 127.0.0.3:40000;\n# /tmp/site/hosts/green-1/nginx/conf.d/webapp.conf\n");
    assert_string_equal(get("app/VERSION"), "3.0.0\n");
    assert_string_equal(get("app/config.json"),
                        "{\n  \"failEvery\": 5,\n  \"dependencies\": {}\n}\n");
    /* scripts run as shipped: not templated, still executable */
    assert_string_equal(get("scripts/start.sh"), "#!/bin/sh\necho /opt/webapp 3001\n");
    snprintf(dst, sizeof(dst), "%s/out/scripts/start.sh", tmp);
    assert_int_equal(stat(dst, &st), 0);
    assert_true((st.st_mode & 0111) != 0);

    /* the destination must be new: nothing is overwritten */
    snprintf(dst, sizeof(dst), "%s/out", tmp);
    assert_true(demo_bundle_render(&s, h, src, dst, "3.0.0", 0, &err) < 0);
}

static void
quantiles_from_the_histogram(void **state)
{
    struct demo_load_phase p;
    uint64_t p50, p99;

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_int_equal(demo_load_quantile_us(&p, 0.99), 0);
    p.hist[10] = 98; /* ~130 µs */
    p.hist[50] = 2;  /* ~5.9 ms */
    p.ok = 100;
    p50 = demo_load_quantile_us(&p, 0.50);
    p99 = demo_load_quantile_us(&p, 0.99);
    assert_true(p50 >= 129 && p50 <= 130);
    assert_true(p99 > 5800 && p99 < 5900);
    assert_int_equal(demo_load_quantile_us(&p, 0.98), p50);
    p.errors = 3;
    p.non2xx = 1;
    assert_int_equal(demo_load_total(&p), 104);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(templated_for_the_host),
        cmocka_unit_test(quantiles_from_the_histogram),
    };
    return cmocka_run_group_tests(tests, make_src, remove_all);
}
