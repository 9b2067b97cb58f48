/* SPDX-License-Identifier: ISC */
/* Socket addresses as configs write them: "127.0.0.1:9001", "[::1]:80", "0.0.0.0:8080",
 * "*:8080" (all IPv4 addresses), or "unix:/run/cutover/proxy.sock". Numeric only: no DNS. */
#ifndef COMMON_ADDR_H
#define COMMON_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#define ADDR_TEXT_MAX 128

struct addr {
    struct sockaddr_storage ss; /* AF_INET, AF_INET6 or AF_UNIX */
    socklen_t len;              /* bytes of ss in use */
    char text[ADDR_TEXT_MAX];   /* canonical form: "127.0.0.1:9001", "[::1]:80", "unix:/p" */
};

/* Parses <s>. Returns 0 or -EINVAL (bad syntax, port 0 or > 65535, unix path too long). */
int addr_parse(struct addr *out, const char *s);

/* Builds a struct addr from a kernel sockaddr (accept, getpeername). */
void addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len);

bool addr_is_unix(const struct addr *a);
int addr_port(const struct addr *a); /* 0 for unix sockets */

/* The host part only ("127.0.0.1", "::1"), for X-Forwarded-For. */
void addr_host(const struct addr *a, char *dst, size_t size);

bool addr_equal(const struct addr *a, const struct addr *b);

#endif /* COMMON_ADDR_H */
