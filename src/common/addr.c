/* SPDX-License-Identifier: ISC */
/* Numeric socket address parsing and formatting. */
#include "common/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"

static void
format_text(struct addr *a)
{
    char host[INET6_ADDRSTRLEN];

    switch (a->ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(a->text, sizeof(a->text), "%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(a->text, sizeof(a->text), "[%s]:%u", host, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
        snprintf(a->text, sizeof(a->text), "unix:%s", un->sun_path);
        break;
    }
    default:
        str_copy(a->text, "?", sizeof(a->text));
        break;
    }
}

static int
parse_port(const char *s, in_port_t *out)
{
    uint32_t port;

    if (str_to_u32(s, &port, 1, 65535) != 0)
        return -EINVAL;
    *out = htons((uint16_t)port);
    return 0;
}

static int
parse_unix(struct addr *out, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;

    if (path[0] == '\0' || strlen(path) >= sizeof(un->sun_path))
        return -EINVAL;
    un->sun_family = AF_UNIX;
    str_copy(un->sun_path, path, sizeof(un->sun_path));
    out->len = (socklen_t)sizeof(*un);
    return 0;
}

int
addr_parse(struct addr *out, const char *s)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    size_t hlen;
    int rc = -EINVAL;

    memset(out, 0, sizeof(*out));
    if (str_has_prefix(s, "unix:"))
        rc = parse_unix(out, s + 5);
    else if (s[0] == '[') {
        const char *close = strchr(s, ']');
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 &&
            parse_port(close + 2, &in6->sin6_port) == 0) {
            out->len = sizeof(*in6);
            rc = 0;
        }
    } else if ((colon = strrchr(s, ':')) != NULL && (hlen = (size_t)(colon - s)) < sizeof(host)) {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->ss;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        in->sin_family = AF_INET;
        if (strcmp(host, "*") == 0)
            str_copy(host, "0.0.0.0", sizeof(host));
        if (inet_pton(AF_INET, host, &in->sin_addr) == 1 &&
            parse_port(colon + 1, &in->sin_port) == 0) {
            out->len = sizeof(*in);
            rc = 0;
        }
    }
    if (rc == 0)
        format_text(out);
    return rc;
}

void
addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len)
{
    memset(out, 0, sizeof(*out));
    if (len > sizeof(out->ss))
        len = sizeof(out->ss);
    memcpy(&out->ss, sa, len);
    out->len = len;
    format_text(out);
}

bool
addr_is_unix(const struct addr *a)
{
    return a->ss.ss_family == AF_UNIX;
}

int
addr_port(const struct addr *a)
{
    switch (a->ss.ss_family) {
    case AF_INET:
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    case AF_INET6:
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    default:
        return 0;
    }
}

void
addr_host(const struct addr *a, char *dst, size_t size)
{
    switch (a->ss.ss_family) {
    case AF_INET:
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, dst, (socklen_t)size);
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, dst,
                  (socklen_t)size);
        break;
    default:
        str_copy(dst, "unix", size);
        break;
    }
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
    return strcmp(a->text, b->text) == 0;
}
