/* SPDX-License-Identifier: ISC */
/* See fsutil.h. */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"

#define TAIL_WINDOW (256 * 1024)

int
fsutil_mkdir_p(const char *dir, mode_t mode)
{
    char tmp[4096];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int
fsutil_tail(const char *path, unsigned lines, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    off_t start;
    char *data;
    ssize_t n;
    size_t pos;
    unsigned seen = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    start = st.st_size > TAIL_WINDOW ? st.st_size - TAIL_WINDOW : 0;
    data = mem_alloc((size_t)(st.st_size - start) + 1);
    n = pread(fd, data, (size_t)(st.st_size - start), start);
    close(fd);
    if (n < 0) {
        free(data);
        return -EIO;
    }
    pos = (size_t)n;
    if (pos > 0 && data[pos - 1] == '\n')
        pos--;
    while (pos > 0 && seen < lines) {
        pos--;
        if (data[pos] == '\n' && ++seen == lines) {
            pos++;
            break;
        }
    }
    if (lines > 0)
        buf_append(out, data + pos, (size_t)n - pos);
    free(data);
    return 0;
}

int
fsutil_write_text(const char *path, const char *text, struct err *err)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fputs(text, f) < 0)
        rc = err_set(err, -EIO, "%s: write failed", path);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    return rc;
}
