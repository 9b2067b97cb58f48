/* SPDX-License-Identifier: ISC */
/* JSON string escaping for the agent's reports. */
#include "agent/jsonw.h"

#include "common/buf.h"

void
jsonw_str(struct buf *b, const char *s)
{
    if (s == NULL) {
        buf_append_str(b, "null");
        return;
    }
    buf_append(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(b, esc, 2);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else if (c == '\t') {
            buf_append(b, "\\t", 2);
        } else if (c < 0x20) {
            buf_appendf(b, "\\u%04x", c);
        } else {
            buf_append(b, s, 1);
        }
    }
    buf_append(b, "\"", 1);
}
