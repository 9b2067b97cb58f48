/* SPDX-License-Identifier: ISC */
/* Content-addressed bundle files: hash while writing, fsync, rename into place. */
#include "server/revisions.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/mem.h"

struct revisions {
    char *dir; /* owned */
    uint64_t max_size;
};

struct revisions_upload {
    struct revisions *r; /* borrowed */
    char type[8];
    char tmp[4096];
    int fd;
    EVP_MD_CTX *md; /* owned */
    uint64_t size;
};

int
revisions_new(struct revisions **out, const char *dir, uint64_t max_size, struct err *err)
{
    struct revisions *r;
    int rc;

    if ((rc = fsutil_mkdir_p(dir, 0750)) != 0)
        return err_set(err, rc, "%s: %s", dir, strerror(-rc));
    r = mem_calloc(1, sizeof(*r));
    r->dir = mem_strdup(dir);
    r->max_size = max_size;
    *out = r;
    return 0;
}

void
revisions_free(struct revisions *r)
{
    if (r == NULL)
        return;
    free(r->dir);
    free(r);
}

int
revisions_bundle_type_valid(const char *type)
{
    return type != NULL &&
           (strcmp(type, "tgz") == 0 || strcmp(type, "tar") == 0 || strcmp(type, "zip") == 0);
}

int
revisions_upload_begin(struct revisions *r, const char *type, struct revisions_upload **out,
                       struct err *err)
{
    struct revisions_upload *u;

    if (!revisions_bundle_type_valid(type))
        return err_set(err, -EINVAL, "bundle type '%s' (expected tgz, tar or zip)",
                       type != NULL ? type : "");
    u = mem_calloc(1, sizeof(*u));
    u->r = r;
    snprintf(u->type, sizeof(u->type), "%s", type);
    snprintf(u->tmp, sizeof(u->tmp), "%s/.upload-XXXXXX", r->dir);
    if ((u->fd = mkostemp(u->tmp, O_CLOEXEC)) < 0) {
        int rc = err_set(err, -errno, "%s: %s", r->dir, strerror(errno));

        free(u);
        return rc;
    }
    if ((u->md = EVP_MD_CTX_new()) == NULL)
        mem_oom();
    EVP_DigestInit_ex(u->md, EVP_sha256(), NULL);
    *out = u;
    return 0;
}

int
revisions_upload_write(struct revisions_upload *u, const char *data, size_t len, struct err *err)
{
    if (u->size + len > u->r->max_size)
        return err_set(err, -EFBIG, "bundle larger than max_bundle_size (%llu bytes)",
                       (unsigned long long)u->r->max_size);
    EVP_DigestUpdate(u->md, data, len);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(u->fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, -EIO, "%s: %s", u->tmp, strerror(errno));
        off += (size_t)n;
    }
    u->size += len;
    return 0;
}

void
revisions_upload_abort(struct revisions_upload *u)
{
    if (u == NULL)
        return;
    if (u->fd >= 0)
        close(u->fd);
    unlink(u->tmp);
    EVP_MD_CTX_free(u->md);
    free(u);
}

int
revisions_upload_finish(struct revisions_upload *u, char *hex_out, uint64_t *size, struct err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char final[4200];
    int rc = 0;

    if (u->size == 0) {
        rc = err_set(err, -EINVAL, "empty bundle");
        goto out;
    }
    EVP_DigestFinal_ex(u->md, md, &n);
    for (unsigned i = 0; i < n; i++) {
        hex_out[2 * i] = hex[md[i] >> 4];
        hex_out[2 * i + 1] = hex[md[i] & 15];
    }
    hex_out[2 * n] = '\0';
    *size = u->size;
    if (fsync(u->fd) != 0) {
        rc = err_set(err, -EIO, "%s: %s", u->tmp, strerror(errno));
        goto out;
    }
    snprintf(final, sizeof(final), "%s/%s.%s", u->r->dir, hex_out, u->type);
    if (rename(u->tmp, final) != 0) /* same content, same name: replacing is harmless */
        rc = err_set(err, -errno, "%s: %s", final, strerror(errno));
out:
    revisions_upload_abort(u); /* unlinks the temporary name (gone after a rename) */
    return rc;
}

int
revisions_open(struct revisions *r, const char *hex, const char *type, int *fd, uint64_t *size,
               struct err *err)
{
    char path[4200];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s.%s", r->dir, hex, type);
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(*fd, &sb) != 0) {
        int rc = err_set(err, -errno, "%s: %s", path, strerror(errno));

        close(*fd);
        *fd = -1;
        return rc;
    }
    *size = (uint64_t)sb.st_size;
    return 0;
}
