/* SPDX-License-Identifier: ISC */
/* Templating examples/webapp for one demo host (see demo_bundle.h). */
#include "cli/demo_bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/demo_proc.h"
#include "cli/demo_stack.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/mem.h"

/* The example's files that hold host-specific strings. */
static const char *const text_files[] = {"appspec.yml", "deploy.env", "config/apps.yaml",
                                         "config/nginx/webapp.conf"};

static int
copy_file(const char *src, const char *dst, mode_t mode, struct err *err)
{
    char block[65536];
    int in, out, rc = 0;
    ssize_t n;

    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777)) < 0) {
        rc = err_set(err, -errno, "%s: %s", dst, strerror(errno));
        close(in);
        return rc;
    }
    while ((n = read(in, block, sizeof(block))) > 0)
        if (write(out, block, (size_t)n) != n) {
            rc = err_set(err, -EIO, "%s: short write", dst);
            break;
        }
    if (n < 0)
        rc = err_set(err, -errno, "%s: %s", src, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", dst, strerror(errno));
    return rc;
}

static int
copy_tree(const char *src, const char *dst, int depth, struct err *err)
{
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rc = 0;

    if (depth > 32)
        return err_set(err, -ELOOP, "%s: too deep", src);
    if (stat(src, &st) < 0)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    if (mkdir(dst, st.st_mode & 07777) < 0)
        return err_set(err, -errno, "%s: %s", dst, strerror(errno));
    if ((d = opendir(src)) == NULL)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char s[PATH_MAX], t[PATH_MAX], link[PATH_MAX];
        ssize_t n;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(s, sizeof(s), "%s/%s", src, de->d_name);
        snprintf(t, sizeof(t), "%s/%s", dst, de->d_name);
        if (lstat(s, &st) < 0)
            rc = err_set(err, -errno, "%s: %s", s, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = copy_tree(s, t, depth + 1, err);
        else if (S_ISREG(st.st_mode))
            rc = copy_file(s, t, st.st_mode, err);
        else if (S_ISLNK(st.st_mode) && (n = readlink(s, link, sizeof(link) - 1)) > 0) {
            link[n] = '\0';
            if (symlink(link, t) < 0)
                rc = err_set(err, -errno, "%s: %s", t, strerror(errno));
        }
    }
    closedir(d);
    return rc;
}

static int
read_text(const char *path, struct buf *out, struct err *err)
{
    char block[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    while ((n = read(fd, block, sizeof(block))) > 0)
        buf_append(out, block, (size_t)n);
    close(fd);
    return n < 0 ? err_set(err, -EIO, "%s: read failed", path) : 0;
}

static bool
word_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Replaces every <from> in <text> by <to>; <whole_word>: only where <from> is not part of a
 * longer word (the ports 3001-3004). */
static void
replace_all(struct buf *text, const char *from, const char *to, bool whole_word)
{
    size_t flen = strlen(from);
    struct buf out;
    const char *p = text->data, *hit;

    if (p == NULL)
        return;
    buf_init(&out);
    while ((hit = strstr(p, from)) != NULL) {
        bool ok =
            !whole_word || ((hit == text->data || !word_char(hit[-1])) && !word_char(hit[flen]));

        buf_append(&out, p, (size_t)(hit - p));
        buf_append_str(&out, ok ? to : from);
        p = hit + flen;
    }
    buf_append_str(&out, p);
    buf_fini(text);
    *text = out;
}

static void
template_text(const struct demo_site *s, const struct demo_host *h, struct buf *t)
{
    static const char *const paths[][2] = {
        {"/opt/webapp", "/opt/webapp"},
        {"/etc/cutover", "/etc/cutover"},
        {"/run/cutover", "/run"},
        {"/var/log/cutover", "/log"},
        {"/etc/nginx/conf.d", "/nginx/conf.d"},
    };
    char from[64], to[PATH_MAX + 64];

    for (int i = 0; i < 4; i++) { /* first: the host directory could hold these digits */
        snprintf(from, sizeof(from), "%d", 3001 + i);
        snprintf(to, sizeof(to), "%d", h->worker_base + i);
        replace_all(t, from, to, true);
    }
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(to, sizeof(to), "%s%s", h->dir, paths[i][1]);
        replace_all(t, paths[i][0], to, false);
    }
    snprintf(to, sizeof(to), "listen %s:%d;", h->ip, h->port);
    replace_all(t, "listen 80;", to, false);
    snprintf(to, sizeof(to), "http://%s:%d", h->ip, h->port);
    replace_all(t, "http://127.0.0.1:80", to, false);
    snprintf(to, sizeof(to), "env: {%s: %s, NODE_ENV: production,", DEMO_PROC_MARKER_ENV,
             s->marker);
    replace_all(t, "env: {NODE_ENV: production,", to, false);
}

static int
set_fail_every(const char *dst, int fail_every, struct err *err)
{
    char path[PATH_MAX], field[64];
    struct buf t;
    int rc;

    snprintf(path, sizeof(path), "%s/app/config.json", dst);
    buf_init(&t);
    if ((rc = read_text(path, &t, err)) == 0) {
        const char *brace = t.data != NULL ? strchr(t.data, '{') : NULL;
        struct buf out;

        if (brace == NULL) {
            buf_fini(&t);
            return err_set(err, -EINVAL, "%s: not a JSON object", path);
        }
        buf_init(&out);
        snprintf(field, sizeof(field), "\n  \"failEvery\": %d,", fail_every);
        buf_append(&out, t.data, (size_t)(brace - t.data) + 1);
        buf_append_str(&out, field);
        buf_append_str(&out, brace + 1);
        rc = fsutil_write_text(path, out.data, err);
        buf_fini(&out);
    }
    buf_fini(&t);
    return rc;
}

int
demo_bundle_render(const struct demo_site *s, const struct demo_host *host, const char *src,
                   const char *dst, const char *version, int fail_every, struct err *err)
{
    char path[PATH_MAX], line[128];
    int rc;

    if ((rc = copy_tree(src, dst, 0, err)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof(text_files) / sizeof(text_files[0]); i++) {
        struct buf t;

        snprintf(path, sizeof(path), "%s/%s", dst, text_files[i]);
        buf_init(&t);
        if ((rc = read_text(path, &t, err)) == 0) {
            template_text(s, host, &t);
            rc = fsutil_write_text(path, t.data != NULL ? t.data : "", err);
        }
        buf_fini(&t);
        if (rc != 0)
            return rc;
    }
    snprintf(path, sizeof(path), "%s/app/VERSION", dst);
    snprintf(line, sizeof(line), "%s\n", version);
    if ((rc = fsutil_write_text(path, line, err)) != 0)
        return rc;
    return fail_every > 0 ? set_fail_every(dst, fail_every, err) : 0;
}

int
demo_bundle_hook_env(const struct demo_site *s, const struct demo_host *host, const char **env,
                     int max, char *storage, unsigned size)
{
    char nginx_args[PATH_MAX * 2 + 16];
    const char *kv[][2] = {
        {"CUTOVER", s->self},       {"SUPERVISE_UNIT", ""},     {"NGINX", s->nginx ? "nginx" : ""},
        {"NGINX_ARGS", nginx_args}, {"VALIDATE_TIMEOUT", "30"},
    };
    unsigned used = 0;
    int n = 0;

    snprintf(nginx_args, sizeof(nginx_args), "-p %s/nginx -c %s/nginx/nginx.conf", host->dir,
             host->dir);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        int len = snprintf(storage + used, size - used, "%s=%s", kv[i][0], kv[i][1]);

        if (len < 0 || (unsigned)len >= size - used || n + 1 >= max)
            return -ENOSPC;
        env[n++] = storage + used;
        used += (unsigned)len + 1;
    }
    env[n] = NULL;
    return 0;
}
