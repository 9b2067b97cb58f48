/* SPDX-License-Identifier: ISC */
/* Token generation, hashing and constant-time comparison over OpenSSL. */
#include "server/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/str.h"

static void
to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int
auth_token_new(char *out)
{
    unsigned char raw[AUTH_TOKEN_LEN / 2];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    to_hex(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void
auth_token_hash(const char *token, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
    to_hex(md, n, out);
}

bool
auth_hash_equal(const char *a, const char *b)
{
    return strlen(a) == AUTH_HASH_LEN && strlen(b) == AUTH_HASH_LEN &&
           CRYPTO_memcmp(a, b, AUTH_HASH_LEN) == 0;
}

const char *
auth_bearer(const char *header)
{
    if (header == NULL || strlen(header) < 7 || !str_ieqn(header, 7, "Bearer "))
        return NULL;
    header += 7;
    while (*header == ' ')
        header++;
    return *header != '\0' ? header : NULL;
}

int
auth_token_write(const char *path, const char *token, struct err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(token);
    int rc = 0;

    if (fd < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
        rc = err_set(err, -EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

int
auth_token_read(const char *path, char *out, size_t size, struct err *err)
{
    FILE *fp = fopen(path, "re");
    char line[512];
    size_t n;
    char *p = line;

    if (fp == NULL)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fgets(line, sizeof(line), fp) == NULL)
        line[0] = '\0';
    fclose(fp);
    while (*p == ' ' || *p == '\t')
        p++;
    n = strcspn(p, " \t\r\n");
    p[n] = '\0';
    if (n == 0)
        return err_set(err, -EINVAL, "%s: empty token file", path);
    if (str_copy(out, p, size) >= size)
        return err_set(err, -EINVAL, "%s: token too long", path);
    return 0;
}
