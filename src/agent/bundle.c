/* SPDX-License-Identifier: ISC */
/* Archives are read twice: the first pass reads only headers and decides (safety, unwrapping),
 * the second writes. libarchive's own SECURE_* flags stay on as a second line of defence. */
#include "agent/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "common/err.h"
#include "common/mem.h"

static const char *const type_names[] = {
    [BUNDLE_DIRECTORY] = "directory",
    [BUNDLE_TAR] = "tar",
    [BUNDLE_TGZ] = "tgz",
    [BUNDLE_ZIP] = "zip",
};

int
bundle_type_parse(const char *s, enum bundle_type *out)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum bundle_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
bundle_type_name(enum bundle_type type)
{
    return type_names[type];
}

char *
bundle_path_normalize(char *path)
{
    char *w = path;
    const char *r = path;

    while (*r != '\0') {
        size_t len;
        while (*r == '/')
            r++;
        len = strcspn(r, "/");
        if (len == 0)
            break;
        if (!(len == 1 && r[0] == '.')) {
            if (w != path)
                *w++ = '/';
            memmove(w, r, len);
            w += len;
        }
        r += len;
    }
    *w = '\0';
    return path;
}

/* Prefixes err's message with the bundle's name. */
static int
blame(struct err *err, int rc, const char *src)
{
    char msg[ERR_MSG_MAX];

    if (err == NULL)
        return rc;
    memcpy(msg, err->msg, sizeof(msg));
    return err_set(err, rc, "%s: %s", src, msg);
}

int
bundle_path_check(const char *path, struct err *err)
{
    const char *p = path;

    if (path[0] == '\0')
        return err_set(err, -EINVAL, "entry with an empty name");
    if (path[0] == '/')
        return err_set(err, -EINVAL, "entry '%s': absolute path (expected a relative path)", path);
    while (*p != '\0') {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return err_set(err, -EINVAL,
                           "entry '%s': contains '..' (expected a path inside the bundle)", path);
        p += len;
        while (*p == '/')
            p++;
    }
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is any proper ancestor of <path> one of the sorted <links>? */
static const char *
under_symlink(const char *path, const char *const *links, size_t nlinks)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (nlinks == 0 || len >= sizeof(buf))
        return NULL;
    memcpy(buf, path, len + 1);
    for (char *slash = strrchr(buf, '/'); slash != NULL; slash = strrchr(buf, '/')) {
        const char *key = buf;
        const char *const *hit;
        *slash = '\0';
        hit = bsearch(&key, links, nlinks, sizeof(*links), cmp_str);
        if (hit != NULL)
            return *hit;
    }
    return NULL;
}

int
bundle_paths_check(const char *const *paths, const bool *is_symlink, const char *const *hardlink,
                   size_t n, struct err *err)
{
    const char **links = mem_calloc(n ? n : 1, sizeof(*links));
    size_t nlinks = 0;
    const char *via;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((rc = bundle_path_check(paths[i], err)) != 0)
            break;
        if (hardlink[i] != NULL && (rc = bundle_path_check(hardlink[i], err)) != 0)
            break;
        if (is_symlink[i])
            links[nlinks++] = paths[i];
    }
    qsort(links, nlinks, sizeof(*links), cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((via = under_symlink(paths[i], links, nlinks)) != NULL)
            rc =
                err_set(err, -EINVAL,
                        "entry '%s': goes through symlink '%s' (expected no entry under a symlink)",
                        paths[i], via);
        else if (hardlink[i] != NULL && (via = under_symlink(hardlink[i], links, nlinks)) != NULL)
            rc = err_set(err, -EINVAL, "entry '%s': hard link through symlink '%s'", paths[i], via);
    }
    free(links);
    return rc;
}

int
bundle_sha256(const char *path, char hex[65], struct err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = NULL;
    int fd, rc = 0;
    ssize_t n;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        mem_oom();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    if (n < 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    close(fd);
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    return rc;
}

/* ---- archives ---- */

/* libarchive is loaded with dlopen() on first use instead of being linked: Debian's libarchive
 * pulls in libxml2, ICU, libstdc++, nettle, zstd, lz4, lzma and bzip2, which every process of
 * every role (the supervisor, the proxy, each CLI command) would map at exec for nothing — about
 * 2 MiB of RSS and half of `cutover version`'s exec time. Only bundle unpacking uses it. */
#define BUNDLE_LIBARCHIVE "libarchive.so.13"

static struct {
    struct archive *(*read_new)(void);
    int (*read_support_filter_gzip)(struct archive *a);
    int (*read_support_format_zip)(struct archive *a);
    int (*read_support_format_tar)(struct archive *a);
    int (*read_support_format_gnutar)(struct archive *a);
    int (*read_open_filename)(struct archive *a, const char *path, size_t block);
    int (*read_next_header)(struct archive *a, struct archive_entry **e);
    int (*read_extract2)(struct archive *a, struct archive_entry *e, struct archive *w);
    int (*read_free)(struct archive *a);
    const char *(*error_string)(struct archive *a);
    struct archive *(*write_disk_new)(void);
    int (*write_disk_set_options)(struct archive *w, int flags);
    int (*write_disk_set_standard_lookup)(struct archive *w);
    int (*write_free)(struct archive *w);
    const char *(*entry_pathname)(struct archive_entry *e);
    const char *(*entry_hardlink)(struct archive_entry *e);
    mode_t (*entry_filetype)(struct archive_entry *e);
    void (*entry_set_pathname)(struct archive_entry *e, const char *path);
    void (*entry_set_hardlink)(struct archive_entry *e, const char *path);
    char why[256]; /* why the load failed; empty once loaded */
} la;

static pthread_once_t la_once = PTHREAD_ONCE_INIT;

static void
load_libarchive(void)
{
    /* POSIX: function pointers round-trip through dlsym's void *. */
    const struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"archive_read_new", (void **)&la.read_new},
        {"archive_read_support_filter_gzip", (void **)&la.read_support_filter_gzip},
        {"archive_read_support_format_zip", (void **)&la.read_support_format_zip},
        {"archive_read_support_format_tar", (void **)&la.read_support_format_tar},
        {"archive_read_support_format_gnutar", (void **)&la.read_support_format_gnutar},
        {"archive_read_open_filename", (void **)&la.read_open_filename},
        {"archive_read_next_header", (void **)&la.read_next_header},
        {"archive_read_extract2", (void **)&la.read_extract2},
        {"archive_read_free", (void **)&la.read_free},
        {"archive_error_string", (void **)&la.error_string},
        {"archive_write_disk_new", (void **)&la.write_disk_new},
        {"archive_write_disk_set_options", (void **)&la.write_disk_set_options},
        {"archive_write_disk_set_standard_lookup", (void **)&la.write_disk_set_standard_lookup},
        {"archive_write_free", (void **)&la.write_free},
        {"archive_entry_pathname", (void **)&la.entry_pathname},
        {"archive_entry_hardlink", (void **)&la.entry_hardlink},
        {"archive_entry_filetype", (void **)&la.entry_filetype},
        {"archive_entry_set_pathname", (void **)&la.entry_set_pathname},
        {"archive_entry_set_hardlink", (void **)&la.entry_set_hardlink},
    };
    void *h = dlopen(BUNDLE_LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);

    if (h == NULL) {
        const char *why = dlerror();
        snprintf(la.why, sizeof(la.why), "%s", why ? why : BUNDLE_LIBARCHIVE ": cannot load");
        return;
    }
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        if ((*syms[i].slot = dlsym(h, syms[i].name)) == NULL) {
            snprintf(la.why, sizeof(la.why), "%s: no %s", BUNDLE_LIBARCHIVE, syms[i].name);
            return; /* the handle stays open: harmless, and the pointers already set stay valid */
        }
    }
}

/* 0 once libarchive is usable, else -ENOSYS with the reason (install libarchive13). */
static int
libarchive_ready(struct err *err)
{
    pthread_once(&la_once, load_libarchive);
    if (la.why[0] != '\0')
        return err_set(err, -ENOSYS, "%s (install libarchive13 to unpack tar, tgz or zip bundles)",
                       la.why);
    return 0;
}

struct scan {
    char **paths;     /* owned: normalised entry names */
    char **hardlinks; /* owned: normalised hardlink targets or NULL */
    bool *is_symlink;
    bool *is_dir;
    size_t n, cap;
    const char *strip; /* borrowed: paths[k]: the single top directory to unwrap, or NULL */
};

static void
scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->paths[i]);
        free(s->hardlinks[i]);
    }
    free(s->paths);
    free(s->hardlinks);
    free(s->is_symlink);
    free(s->is_dir);
}

static struct archive *
open_archive(enum bundle_type type, const char *src, struct err *err)
{
    struct archive *a;

    if (libarchive_ready(err) != 0)
        return NULL;
    if ((a = la.read_new()) == NULL)
        mem_oom();
    /* Only what a bundle can be (tar, tgz, zip): no other filter or format is offered to a
     * revision from the network (some would run an external decompressor). A zip entry's
     * deflate is part of the zip reader; gzip is accepted for a "tar" bundle as well. */
    if (type != BUNDLE_ZIP)
        la.read_support_filter_gzip(a);
    if (type == BUNDLE_ZIP) {
        la.read_support_format_zip(a);
    } else {
        la.read_support_format_tar(a);
        la.read_support_format_gnutar(a);
    }
    if (la.read_open_filename(a, src, 65536) != ARCHIVE_OK) {
        err_set(err, -EINVAL, "%s: %s", src, la.error_string(a));
        la.read_free(a);
        return NULL;
    }
    return a;
}

static void
scan_add(struct scan *s, struct archive_entry *e)
{
    const char *hl = la.entry_hardlink(e);

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->paths = mem_realloc(s->paths, s->cap * sizeof(*s->paths));
        s->hardlinks = mem_realloc(s->hardlinks, s->cap * sizeof(*s->hardlinks));
        s->is_symlink = mem_realloc(s->is_symlink, s->cap * sizeof(*s->is_symlink));
        s->is_dir = mem_realloc(s->is_dir, s->cap * sizeof(*s->is_dir));
    }
    /* Names are checked raw (so "/x" and "a/../b" are caught), normalised afterwards. */
    s->paths[s->n] = mem_strdup(la.entry_pathname(e) ? la.entry_pathname(e) : "");
    s->hardlinks[s->n] = hl ? mem_strdup(hl) : NULL;
    s->is_symlink[s->n] = la.entry_filetype(e) == AE_IFLNK;
    s->is_dir[s->n] = la.entry_filetype(e) == AE_IFDIR;
    s->n++;
}

static int
scan_archive(enum bundle_type type, const char *src, struct scan *s, struct err *err)
{
    struct archive *a = open_archive(type, src, err);
    struct archive_entry *e;
    int r, rc = 0;

    if (a == NULL)
        return -EINVAL;
    while ((r = la.read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        mode_t ftype = la.entry_filetype(e);
        if (ftype != AE_IFREG && ftype != AE_IFDIR && ftype != AE_IFLNK &&
            la.entry_hardlink(e) == NULL) {
            rc = err_set(err, -EINVAL,
                         "%s: entry '%s': a device, fifo or socket (expected a file, directory "
                         "or symlink)",
                         src, la.entry_pathname(e) ? la.entry_pathname(e) : "");
            la.read_free(a);
            return rc;
        }
        scan_add(s, e);
    }
    if (r != ARCHIVE_EOF)
        rc = err_set(err, -EINVAL, "%s: %s", src, la.error_string(a));
    la.read_free(a);
    if (rc == 0)
        rc = bundle_paths_check((const char *const *)s->paths, s->is_symlink,
                                (const char *const *)s->hardlinks, s->n, err);
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        bundle_path_normalize(s->paths[i]);
        if (s->hardlinks[i] != NULL)
            bundle_path_normalize(s->hardlinks[i]);
    }
    if (rc != 0 && r == ARCHIVE_EOF)
        blame(err, rc, src);
    return rc;
}

/* Unwrap when the root has no appspec but every entry lives under one directory that has it. */
static int
decide_root(struct scan *s, const char *appspec_name, struct err *err)
{
    const char *top = NULL;
    size_t toplen = 0;
    bool wrapped_has_spec = false, many_tops = false;

    /* An appspec at the root wins wherever it comes in the archive (`tar -C dir .` stores
     * entries in directory order, so other top-level names may come first). */
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->paths[i], appspec_name) == 0)
            return 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        const char *p = s->paths[i];
        size_t len = strcspn(p, "/");
        if (len == 0)
            continue;
        if (top == NULL) {
            top = p;
            toplen = len;
        } else if (len != toplen || strncmp(p, top, len) != 0) {
            many_tops = true;
        }
    }
    if (many_tops)
        top = NULL;
    for (size_t i = 0; top != NULL && i < s->n; i++) {
        const char *p = s->paths[i];
        if (strncmp(p, top, toplen) == 0 && p[toplen] == '/' &&
            strcmp(p + toplen + 1, appspec_name) == 0)
            wrapped_has_spec = true;
    }
    if (!wrapped_has_spec)
        return err_set(err, -ENOENT, "no %s at the root of the bundle", appspec_name);
    for (size_t i = 0; i < s->n; i++) {
        const char *h = s->hardlinks[i];
        if (h != NULL && (strncmp(h, top, toplen) != 0 || h[toplen] != '/'))
            return err_set(err, -EINVAL, "entry '%s': hard link to '%s' outside '%.*s'",
                           s->paths[i], h, (int)toplen, top);
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->paths[i], top, toplen) == 0 && s->paths[i][toplen] == '\0')
            s->strip = s->paths[i];
    }
    if (s->strip == NULL) /* no explicit entry for the directory: keep a copy of its name */
        s->strip = s->paths[0];
    return 0;
}

/* <rel> with the unwrapped top directory removed; NULL for the top directory itself. */
static const char *
strip_top(const struct scan *s, const char *rel)
{
    size_t len;

    if (s->strip == NULL)
        return rel;
    len = strcspn(s->strip, "/");
    if (rel[len] == '\0')
        return NULL;
    return rel + len + 1;
}

static int
extract(enum bundle_type type, const char *src, const char *dest, const struct scan *s,
        struct err *err)
{
    struct archive *a = open_archive(type, src, err), *w = NULL;
    struct archive_entry *e;
    char path[PATH_MAX], link[PATH_MAX];
    size_t i = 0;
    int r, rc = 0;

    if (a == NULL)
        return -EINVAL;
    if ((w = la.write_disk_new()) == NULL)
        mem_oom();
    la.write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                     ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                     ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    la.write_disk_set_standard_lookup(w);
    while (rc == 0 && ((r = la.read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        const char *rel, *hl;
        ASSERT(i < s->n);
        rel = s->paths[i][0] != '\0' ? strip_top(s, s->paths[i]) : NULL;
        hl = s->hardlinks[i] && s->hardlinks[i][0] ? strip_top(s, s->hardlinks[i]) : NULL;
        i++;
        if (rel == NULL || rel[0] == '\0')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dest, rel);
        la.entry_set_pathname(e, path);
        if (hl != NULL) {
            snprintf(link, sizeof(link), "%s/%s", dest, hl);
            la.entry_set_hardlink(e, link);
        }
        if (la.read_extract2(a, e, w) != ARCHIVE_OK)
            rc = err_set(err, -EIO, "%s: %s: %s", src, rel, la.error_string(a));
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = err_set(err, -EINVAL, "%s: %s", src, la.error_string(a));
    la.write_free(w);
    la.read_free(a);
    return rc;
}

static int
unpack_directory(const char *src, const char *dest, const char *appspec_name, struct err *err)
{
    char path[PATH_MAX], only[PATH_MAX] = "";
    struct stat st;
    size_t nentries = 0;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", src, appspec_name);
    if (lstat(path, &st) == 0)
        return fsops_copy_tree(src, dest, err);
    if ((d = opendir(src)) == NULL)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        nentries++;
        snprintf(only, sizeof(only), "%s/%s", src, de->d_name);
    }
    closedir(d);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", only, appspec_name) >= sizeof(path))
        return err_set(err, -ENAMETOOLONG, "%s: path too long", only);
    if (nentries != 1 || lstat(only, &st) != 0 || !S_ISDIR(st.st_mode) || lstat(path, &st) != 0)
        return err_set(err, -ENOENT, "%s: no %s at the root of the bundle", src, appspec_name);
    return fsops_copy_tree(only, dest, err);
}

int
bundle_unpack(enum bundle_type type, const char *src, const char *dest, const char *appspec_name,
              struct err *err)
{
    struct scan s = {0};
    int rc;

    if (type == BUNDLE_DIRECTORY)
        return unpack_directory(src, dest, appspec_name, err);
    if ((rc = scan_archive(type, src, &s, err)) != 0)
        goto out;
    if ((rc = decide_root(&s, appspec_name, err)) != 0) {
        blame(err, rc, src);
        goto out;
    }
    rc = extract(type, src, dest, &s, err);
out:
    scan_free(&s);
    return rc;
}
