/* SPDX-License-Identifier: ISC */
/* The schema of the server's SQLite database as an ordered list of migrations. Version N of the
 * schema is migrations 1..N applied in order; store_open applies the missing ones, each in its
 * own transaction together with the bump of schema_version. Never edit a shipped migration:
 * append a new one. */
#ifndef SERVER_MIGRATE_H
#define SERVER_MIGRATE_H

#include <stddef.h>

/* SQL scripts, index 0 = migration 1. */
extern const char *const migrate_steps[];
extern const size_t migrate_nsteps;

#endif /* SERVER_MIGRATE_H */
