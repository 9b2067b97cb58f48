/* SPDX-License-Identifier: ISC */
/* Appends JSON string literals to a buf. The agent writes only flat, fixed-shape documents
 * (-install.json, the --output json report); jansson is reserved to protocol/ (STYLE.md §1). */
#ifndef AGENT_JSONW_H
#define AGENT_JSONW_H

struct buf;

/* Appends <s> as a quoted JSON string ("null" when s is NULL): control characters, '"' and
 * '\\' are escaped, valid UTF-8 passes through, each invalid byte becomes U+FFFD. */
void jsonw_str(struct buf *b, const char *s);

#endif /* AGENT_JSONW_H */
