/* SPDX-License-Identifier: ISC */
/* The schema of the server's SQLite database as an ordered list of migrations. Version N of the
 * schema is migrations 1..N applied in order; store_open applies the missing ones, each in its
 * own transaction together with the bump of schema_version. Never edit a shipped migration:
 * append a new one. */
#ifndef SERVER_MIGRATE_H
#define SERVER_MIGRATE_H

#include <stddef.h>

/* The number of migrations (= the latest schema version). */
size_t migrate_count(void);
/* The SQL script of migration <version> (1..migrate_count()). */
const char *migrate_script(size_t version);

#endif /* SERVER_MIGRATE_H */
