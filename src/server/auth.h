/* SPDX-License-Identifier: ISC */
/* Bearer tokens: 256-bit random secrets as 64 hex characters. The server keeps only their
 * SHA-256 (instance tokens in the store, admin and enrollment tokens in memory) and compares
 * hashes in constant time. Token files are written 0600. */
#ifndef SERVER_AUTH_H
#define SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct err;

#define AUTH_TOKEN_LEN 64 /* hex characters */
#define AUTH_HASH_LEN 64  /* hex sha256 */

/* A new random token (OpenSSL RAND_bytes) into <out> (AUTH_TOKEN_LEN + 1). Returns 0 or -EIO. */
int auth_token_new(char *out);
/* Hex SHA-256 of <token> into <out> (AUTH_HASH_LEN + 1). */
void auth_token_hash(const char *token, char *out);
/* Constant-time equality of two hex hashes of AUTH_HASH_LEN characters. */
bool auth_hash_equal(const char *a, const char *b);
/* The token in "Bearer <token>" (case-insensitive scheme), or NULL. Points into <header>. */
const char *auth_bearer(const char *header);
/* Writes <token> and a newline to <path> created 0600 (fails with -EEXIST if it exists). */
int auth_token_write(const char *path, const char *token, struct err *err);
/* Reads the first line of <path> (surrounding whitespace dropped) into <out> (<size>).
 * Returns 0, -ENOENT, -EIO or -EINVAL (empty). */
int auth_token_read(const char *path, char *out, size_t size, struct err *err);

#endif /* SERVER_AUTH_H */
