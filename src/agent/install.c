/* SPDX-License-Identifier: ISC */
/* Install. Items are kept in creation order (a directory before what it holds), so the
 * -cleanup list replays correctly in reverse. Staged files live beside their targets so the
 * final rename(2) never crosses a filesystem. */
#include "agent/install.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "agent/permissions.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "protocol/install_instructions.h"

enum item_kind {
    ITEM_DIR = 0,
    ITEM_FILE,
    ITEM_LINK,
};

struct item {
    char *src;   /* owned: path in the archive, NULL for a destination's ancestors */
    char *dst;   /* owned: final path */
    char *stage; /* owned: staged copy beside dst (files, links) */
    enum item_kind kind;
    mode_t mode;
    off_t size;  /* files: as planned */
    bool write;  /* dir: create it; file: copy it */
    bool record; /* created by this deployment: goes to -cleanup, gets permissions */
    bool done;   /* staged (file) or created (dir): undo on failure */
};

/* Open-addressing set of paths → item index. */
struct pathset {
    const char **keys; /* borrowed */
    size_t *vals;
    size_t cap, n;
};

struct plan {
    const struct install_opts *o;
    enum appspec_file_exists fe;
    struct item *items; /* owned */
    size_t n, cap;
    struct pathset targets; /* dst → item */
    char *oldbuf;           /* owned: previous -cleanup contents */
    char **old;             /* owned array into oldbuf */
    size_t nold;
    struct pathset oldset; /* old path → index in old */
    pid_t pid;             /* names the staged files */
};

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void
pathset_put(struct pathset *s, const char *key, size_t val)
{
    if ((s->n + 1) * 2 > s->cap) {
        struct pathset bigger = {0};
        bigger.cap = s->cap ? s->cap * 2 : 64;
        bigger.keys = mem_calloc(bigger.cap, sizeof(*bigger.keys));
        bigger.vals = mem_calloc(bigger.cap, sizeof(*bigger.vals));
        for (size_t i = 0; i < s->cap; i++) {
            if (s->keys[i] != NULL)
                pathset_put(&bigger, s->keys[i], s->vals[i]);
        }
        free(s->keys);
        free(s->vals);
        *s = bigger;
    }
    for (size_t i = hash_str(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->keys[i] == NULL) {
            s->keys[i] = key;
            s->vals[i] = val;
            s->n++;
            return;
        }
        if (strcmp(s->keys[i], key) == 0) {
            s->vals[i] = val;
            return;
        }
    }
}

static bool
pathset_get(const struct pathset *s, const char *key, size_t *val)
{
    if (s->cap == 0)
        return false;
    for (size_t i = hash_str(key) & (s->cap - 1); s->keys[i] != NULL; i = (i + 1) & (s->cap - 1)) {
        if (strcmp(s->keys[i], key) == 0) {
            if (val != NULL)
                *val = s->vals[i];
            return true;
        }
    }
    return false;
}

static void
pathset_fini(struct pathset *s)
{
    free(s->keys);
    free(s->vals);
}

enum appspec_file_exists
install_effective_behavior(const struct appspec *spec, enum appspec_file_exists fallback)
{
    return spec->has_file_exists ? spec->file_exists : fallback;
}

static const char *const kind_names[] = {
    [ITEM_DIR] = "directory", [ITEM_FILE] = "file", [ITEM_LINK] = "symlink"};

/* Adds <dst> unless already planned; two sources for one file target is an error. */
static int
add_item(struct plan *p, const char *src, const char *dst, enum item_kind kind, mode_t mode,
         struct err *err)
{
    struct item *it;
    size_t idx;

    if (pathset_get(&p->targets, dst, &idx)) {
        it = &p->items[idx];
        if (kind == ITEM_DIR && it->kind == ITEM_DIR)
            return 0;
        return err_set(err, -EEXIST,
                       "%s: two sources install to %s: %s and %s (expected one source per target)",
                       p->o->appspec_path, dst, it->src ? it->src : "(a directory)",
                       src ? src : "(a directory)");
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->items = mem_realloc(p->items, p->cap * sizeof(*p->items));
        /* keys point into items' strings, which do not move: only the array does */
    }
    it = &p->items[p->n];
    *it = (struct item){
        .src = src ? mem_strdup(src) : NULL, .dst = mem_strdup(dst), .kind = kind, .mode = mode};
    pathset_put(&p->targets, it->dst, p->n);
    p->n++;
    return 0;
}

/* Plans <dir> and every missing ancestor, outermost first. */
static int
add_dir_chain(struct plan *p, const char *dir, struct err *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(dir);
    int rc;

    if (len >= sizeof(buf))
        return err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    memcpy(buf, dir, len + 1);
    for (char *s = buf + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if ((rc = add_item(p, NULL, buf, ITEM_DIR, 0755, err)) != 0)
            return rc;
        *s = '/';
    }
    return len > 1 ? add_item(p, NULL, buf, ITEM_DIR, 0755, err) : 0;
}

/* "/a//b/./c/" → "/a/b/c"; "/" stays "/". */
static void
normalize_dst(char *out, size_t size, const char *in)
{
    size_t w = 0;

    for (const char *r = in; *r != '\0' && w + 2 < size;) {
        size_t len;
        while (*r == '/')
            r++;
        len = strcspn(r, "/");
        if (len == 0)
            break;
        if (!(len == 1 && r[0] == '.') && w + 1 + len < size) {
            out[w++] = '/';
            memcpy(out + w, r, len);
            w += len;
        }
        r += len;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
}

static int add_tree(struct plan *p, const char *src, const char *dst, struct err *err);

static int
add_entry(struct plan *p, const char *src, const char *dst, struct err *err)
{
    struct stat st;
    int rc;

    if (lstat(src, &st) != 0)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if ((rc = add_item(p, src, dst, ITEM_DIR, st.st_mode & 07777, err)) != 0)
            return rc;
        return add_tree(p, src, dst, err);
    }
    if (S_ISLNK(st.st_mode))
        return add_item(p, src, dst, ITEM_LINK, 0777, err);
    if (S_ISREG(st.st_mode)) {
        if ((rc = add_item(p, src, dst, ITEM_FILE, st.st_mode & 07777, err)) == 0)
            p->items[p->n - 1].size = st.st_size;
        return rc;
    }
    return err_set(err, -EINVAL, "%s: not a regular file, directory or symlink", src);
}

static int
add_tree(struct plan *p, const char *src, const char *dst, struct err *err)
{
    DIR *d = opendir(src);
    struct dirent *e;
    char s[PATH_MAX], t[PATH_MAX];
    int rc = 0;

    if (d == NULL)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
            (size_t)snprintf(t, sizeof(t), "%s/%s", strcmp(dst, "/") ? dst : "", e->d_name) >=
                sizeof(t)) {
            rc = err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dst, e->d_name);
            break;
        }
        rc = add_entry(p, s, t, err);
    }
    closedir(d);
    return rc;
}

static int
plan_files(struct plan *p, struct err *err)
{
    const struct appspec *spec = p->o->spec;
    char src[PATH_MAX], dst[PATH_MAX];
    struct stat st;
    int rc;

    for (size_t i = 0; i < spec->nfiles; i++) {
        const struct appspec_file *f = &spec->files[i];
        const char *rel = f->source + strspn(f->source, "/");
        size_t len;

        (void)fsops_path(src, sizeof(src), "%s%s%s", p->o->archive_dir, rel[0] ? "/" : "", rel);
        len = strlen(src);
        while (len > 1 && src[len - 1] == '/')
            src[--len] = '\0';
        normalize_dst(dst, sizeof(dst), f->destination);
        if (lstat(src, &st) != 0)
            return err_set(err, -ENOENT, "%s:%d: source '%s' does not exist in the bundle",
                           p->o->appspec_path, f->line, f->source);
        if ((rc = add_dir_chain(p, dst, err)) != 0)
            return rc;
        if (S_ISDIR(st.st_mode)) {
            rc = add_tree(p, src, dst, err);
        } else {
            const char *base = strrchr(src, '/') + 1;
            char target[PATH_MAX];
            (void)fsops_path(target, sizeof(target), "%s/%s", strcmp(dst, "/") ? dst : "", base);
            rc = add_entry(p, src, target, err);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Reads the previous revision's -cleanup list (missing = first deployment). */
static int
load_old(struct plan *p, struct err *err)
{
    size_t len = 0, cap = 0;
    int rc = fsops_read_file(p->o->cleanup_path, &p->oldbuf, &len);

    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return err_set(err, rc, "%s: %s", p->o->cleanup_path, strerror(-rc));
    for (char *line = p->oldbuf; *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (line[0] == '/') {
            if (p->nold == cap) {
                cap = cap ? cap * 2 : 64;
                p->old = mem_realloc(p->old, cap * sizeof(*p->old));
            }
            p->old[p->nold] = line;
            pathset_put(&p->oldset, line, p->nold);
            p->nold++;
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return 0;
}

/* Decides, without touching anything, what happens to each item. */
static int
classify(struct plan *p, struct err *err)
{
    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->items[i];
        struct stat st;
        bool on_disk = lstat(it->dst, &st) == 0;
        bool is_old = pathset_get(&p->oldset, it->dst, NULL); /* removed by the replay */

        if (it->kind == ITEM_DIR) {
            /* a symlink to a directory (/var/run → /run) is a directory to install into */
            if (on_disk && S_ISLNK(st.st_mode) && stat(it->dst, &st) != 0)
                st.st_mode = S_IFLNK;
            if (on_disk && !S_ISDIR(st.st_mode))
                return err_set(err, -EEXIST,
                               "%s: exists and is not a directory (expected a directory)", it->dst);
            it->write = !on_disk;
            it->record = !on_disk || is_old;
            continue;
        }
        if (on_disk && S_ISDIR(st.st_mode))
            return err_set(err, -EISDIR, "%s: a directory is in the way of a %s from %s", it->dst,
                           kind_names[it->kind], it->src);
        it->write = it->record = true;
        if (!on_disk || is_old)
            continue;
        switch (p->fe) {
        case APPSPEC_FE_DISALLOW:
            return err_set(err, -EEXIST,
                           "The deployment failed because a specified file already exists at "
                           "this location: %s",
                           it->dst);
        case APPSPEC_FE_RETAIN:
            it->write = it->record = false;
            break;
        case APPSPEC_FE_OVERWRITE:
            break;
        }
    }
    for (size_t i = 0; i < p->o->spec->npermissions; i++) {
        int rc = permissions_check(&p->o->spec->permissions[i], p->o->appspec_path, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
write_instructions(const struct plan *p, struct err *err)
{
    struct install_instructions_item *items = mem_calloc(p->n ? p->n : 1, sizeof(*items));
    char *text;
    int rc;

    for (size_t i = 0; i < p->n; i++) {
        const struct item *it = &p->items[i];
        items[i] = (struct install_instructions_item){
            .type = it->kind == ITEM_DIR ? INSTALL_INSTRUCTIONS_MKDIR
                    : it->write          ? INSTALL_INSTRUCTIONS_COPY
                                         : INSTALL_INSTRUCTIONS_RETAIN,
            .source = it->src,
            .destination = it->dst,
            .exists = !it->write,
        };
    }
    text = install_instructions_encode(appspec_file_exists_name(p->fe), items, p->n);
    free(items);
    rc = fsops_write_file(p->o->instructions_path, text, strlen(text), 0644);
    free(text);
    if (rc != 0)
        return err_set(err, rc, "%s: %s", p->o->instructions_path, strerror(-rc));
    return 0;
}

static int
stage_item(struct plan *p, size_t idx, struct err *err)
{
    struct item *it = &p->items[idx];
    char stage[PATH_MAX], target[PATH_MAX];
    const char *slash;
    ssize_t n;

    if (!it->write)
        return 0;
    if (it->kind == ITEM_DIR) {
        if (mkdir(it->dst, it->mode | 0700) != 0)
            return err_set(err, -errno, "%s: mkdir: %s", it->dst, strerror(errno));
        it->done = true;
        return chmod(it->dst, it->mode) == 0
                   ? 0
                   : err_set(err, -errno, "%s: chmod: %s", it->dst, strerror(errno));
    }
    slash = strrchr(it->dst, '/');
    (void)fsops_path(stage, sizeof(stage), "%.*s/.cutover-stage-%d-%zu", (int)(slash - it->dst),
                     it->dst, (int)p->pid, idx);
    if (it->kind == ITEM_LINK) {
        if ((n = readlink(it->src, target, sizeof(target) - 1)) < 0)
            return err_set(err, -errno, "%s: %s", it->src, strerror(errno));
        target[n] = '\0';
        /* EEXIST: a leftover of a crashed run whose pid was recycled (files are truncated) */
        if (symlink(target, stage) != 0 &&
            (errno != EEXIST || unlink(stage) != 0 || symlink(target, stage) != 0))
            return err_set(err, -errno, "%s: %s", stage, strerror(errno));
    } else {
        int rc = fsops_copy_file(it->src, stage, it->mode, it->size, err);
        if (rc != 0) {
            unlink(stage);
            return rc;
        }
    }
    it->stage = mem_strdup(stage);
    it->done = true;
    return 0;
}

static int
apply_permissions(struct plan *p, struct err *err)
{
    const struct appspec *spec = p->o->spec;

    for (size_t j = 0; j < spec->npermissions; j++) {
        for (size_t i = 0; i < p->n; i++) {
            const struct item *it = &p->items[i];
            bool is_dir = it->kind == ITEM_DIR;
            int rc;
            if (!it->record || !permissions_matches(&spec->permissions[j], it->dst, is_dir))
                continue;
            rc = permissions_apply(&spec->permissions[j], it->stage ? it->stage : it->dst, is_dir,
                                   it->kind == ITEM_LINK, err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Removes what staging made, newest first. */
static void
unstage(struct plan *p)
{
    for (size_t i = p->n; i-- > 0;) {
        struct item *it = &p->items[i];
        if (!it->done)
            continue;
        if (it->kind == ITEM_DIR)
            rmdir(it->dst);
        else
            unlink(it->stage);
        it->done = false;
    }
}

static int
commit(struct plan *p, struct install_stats *stats, struct err *err)
{
    struct buf list;
    struct stat st;
    size_t idx;
    int rc = 0;

    /* Replay the previous revision's list, newest first; what this revision writes again is
     * replaced by the renames below (files) or kept (directories). */
    for (size_t i = p->nold; i-- > 0;) {
        const char *path = p->old[i];
        if (pathset_get(&p->targets, path, &idx) &&
            (p->items[idx].kind == ITEM_DIR || p->items[idx].write))
            continue;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) ? rmdir(path) == 0 : unlink(path) == 0)
            stats->cleaned++;
    }
    buf_init(&list);
    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->items[i];
        if (it->stage != NULL && rc == 0 && rename(it->stage, it->dst) != 0)
            rc = err_set(err, -errno, "%s: %s", it->dst, strerror(errno));
        if (it->kind != ITEM_DIR && !it->write)
            stats->files_retained++;
        else if (it->kind != ITEM_DIR)
            stats->files_written++;
        else if (it->write)
            stats->dirs_created++;
        if (it->record) {
            buf_append_str(&list, it->dst);
            buf_append(&list, "\n", 1);
        }
    }
    if (rc == 0 && (rc = fsops_write_file(p->o->cleanup_path, list.data ? list.data : "", list.len,
                                          0644)) != 0)
        err_set(err, rc, "%s: %s", p->o->cleanup_path, strerror(-rc));
    buf_fini(&list);
    return rc;
}

static void
plan_fini(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].src);
        free(p->items[i].dst);
        free(p->items[i].stage);
    }
    free(p->items);
    pathset_fini(&p->targets);
    pathset_fini(&p->oldset);
    free(p->old);
    free(p->oldbuf);
}

int
install_run(const struct install_opts *o, struct install_stats *stats, struct err *err)
{
    struct plan p = {
        .o = o, .fe = install_effective_behavior(o->spec, o->fallback), .pid = getpid()};
    int rc;

    *stats = (struct install_stats){0};
    if ((rc = load_old(&p, err)) || (rc = plan_files(&p, err)) || (rc = classify(&p, err)) ||
        (rc = write_instructions(&p, err)))
        goto out;
    for (size_t i = 0; i < p.n && rc == 0; i++)
        rc = stage_item(&p, i, err);
    if (rc == 0)
        rc = apply_permissions(&p, err);
    if (rc != 0) {
        unstage(&p);
        goto out;
    }
    rc = commit(&p, stats, err);
out:
    plan_fini(&p);
    return rc;
}
