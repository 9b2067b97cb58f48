/* SPDX-License-Identifier: ISC */
/* Appends JSON string literals to a buf. The agent writes only flat, fixed-shape documents
 * (-install.json, the --output json report); jansson is reserved to protocol/ (STYLE.md §1). */
#ifndef AGENT_JSONW_H
#define AGENT_JSONW_H

struct buf;

/* Appends <s> as a quoted JSON string ("null" when s is NULL); bytes < 0x20, '"' and '\\' are
 * escaped, other bytes pass through (input is UTF-8 or treated as such). */
void jsonw_str(struct buf *b, const char *s);

#endif /* AGENT_JSONW_H */
