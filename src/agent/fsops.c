/* SPDX-License-Identifier: ISC */
/* Filesystem helpers. Copies use copy_file_range(2) and fall back to read/write across
 * filesystems that refuse it. Nothing here follows a symlink it did not create. */
#include "agent/fsops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"

int
fsops_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* <size>: the source's size when known (-1 otherwise): reaching it saves the call that would
 * only report end of file. */
static int
copy_fd(int in, int out, off_t size)
{
    char chunk[65536];
    off_t done = 0;
    ssize_t n;

    for (;;) {
        if (size >= 0 && done >= size)
            return 0;
        n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n < 0)
            break;
        done += n;
    }
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -errno;
    while ((n = read(in, chunk, sizeof(chunk))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, chunk + off, (size_t)(n - off));
            if (w < 0)
                return -errno;
            off += w;
        }
    }
    return n < 0 ? -errno : 0;
}

int
fsops_copy_file(const char *src, const char *dst, mode_t mode, off_t size, struct err *err)
{
    int in = -1, out = -1, rc = 0;

    if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode & 07777)) <
        0) {
        rc = err_set(err, -errno, "%s: %s", dst, strerror(errno));
        goto out;
    }
    if ((rc = copy_fd(in, out, size)) != 0) {
        err_set(err, rc, "copying %s to %s: %s", src, dst, strerror(-rc));
        goto out;
    }
    if (fchmod(out, mode & 07777) != 0)
        rc = err_set(err, -errno, "%s: chmod: %s", dst, strerror(errno));
out:
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", dst, strerror(errno));
    if (in >= 0)
        close(in);
    return rc;
}

static int
copy_entry(const char *src, const char *dst, struct err *err)
{
    struct stat st;
    char target[PATH_MAX];
    ssize_t n;

    if (lstat(src, &st) != 0)
        return err_set(err, -errno, "%s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(dst, 0700) != 0 && errno != EEXIST)
            return err_set(err, -errno, "%s: %s", dst, strerror(errno));
        int rc = fsops_copy_tree(src, dst, err);
        if (rc == 0 && chmod(dst, st.st_mode & 07777) != 0)
            rc = err_set(err, -errno, "%s: %s", dst, strerror(errno));
        return rc;
    }
    if (S_ISLNK(st.st_mode)) {
        if ((n = readlink(src, target, sizeof(target) - 1)) < 0)
            return err_set(err, -errno, "%s: %s", src, strerror(errno));
        target[n] = '\0';
        if (symlink(target, dst) != 0)
            return err_set(err, -errno, "%s: %s", dst, strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return err_set(err, -EINVAL, "%s: not a regular file, directory or symlink", src);
    return fsops_copy_file(src, dst, st.st_mode, st.st_size, err);
}

int
fsops_copy_tree(const char *src, const char *dst, struct err *err)
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
            (size_t)snprintf(t, sizeof(t), "%s/%s", dst, e->d_name) >= sizeof(t)) {
            rc = err_set(err, -ENAMETOOLONG, "%s/%s: path too long", src, e->d_name);
            break;
        }
        rc = copy_entry(s, t, err);
    }
    closedir(d);
    return rc;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) != 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
}

int
fsops_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : -errno;
    return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

int
fsops_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096, n = 0;
    char *buf;
    ssize_t r;

    if (fd < 0)
        return -errno;
    buf = mem_alloc(cap);
    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            buf = mem_realloc(buf, cap *= 2);
    }
    if (r < 0) {
        int rc = -errno;
        free(buf);
        close(fd);
        return rc;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return 0;
}

int
fsops_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int fd, rc = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
        return -ENAMETOOLONG;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
        return -errno;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int
fsops_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
