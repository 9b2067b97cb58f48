/* SPDX-License-Identifier: ISC */
/* The appspec `permissions` section: which installed paths an entry selects (object, pattern,
 * except, type) and applying it to one path in the documented order: chmod, ACL, SELinux
 * context, chown. ACL entries use setfacl's syntax and are applied with libacl. */
#ifndef AGENT_PERMISSIONS_H
#define AGENT_PERMISSIONS_H

#include <stdbool.h>

struct appspec_permission;
struct err;

/* Resolves everything that can fail before files move: owner and group names, ACL entries.
 * Returns 0 or -EINVAL with the reason (and the appspec line). */
int permissions_check(const struct appspec_permission *p, const char *appspec_path,
                      struct err *err);

/* Does <p> select the installed path <path> (a directory when <is_dir>)? Only paths strictly
 * under p->object are selected; "**" matches at every depth, any other pattern (and each except
 * pattern) matches one path level. */
bool permissions_matches(const struct appspec_permission *p, const char *path, bool is_dir);

/* Applies <p> to <actual>, which will end up at the selected path (it may be a staged copy).
 * Symlinks only get their owner changed. Returns 0 or a negative errno with err set. */
int permissions_apply(const struct appspec_permission *p, const char *actual, bool is_dir,
                      bool is_link, struct err *err);

#endif /* AGENT_PERMISSIONS_H */
