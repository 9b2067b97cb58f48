/* SPDX-License-Identifier: ISC */
/* Revision bundles: a directory, tar, tgz or zip. The only libarchive user. Every entry is
 * checked before anything is written: no absolute path, no "..", nothing that passes through a
 * symlink of the archive. A root holding one directory that contains the appspec is unwrapped. */
#ifndef AGENT_BUNDLE_H
#define AGENT_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

struct err;

enum bundle_type {
    BUNDLE_DIRECTORY = 0,
    BUNDLE_TAR,
    BUNDLE_TGZ,
    BUNDLE_ZIP,
};

/* "directory", "tar", "tgz", "zip" ↔ enum. Parse returns 0 or -EINVAL. */
int bundle_type_parse(const char *s, enum bundle_type *out);
const char *bundle_type_name(enum bundle_type type);

/* Checks one archive entry name. Returns 0, or -EINVAL with "entry '<p>': <why>" in err. */
int bundle_path_check(const char *path, struct err *err);

/* Normalises an entry name in place: drops "./" components, repeated and trailing slashes.
 * Returns the (possibly empty) result, which is <path> itself. */
char *bundle_path_normalize(char *path);

/* Checks a whole entry list (in archive order) without touching the disk: each name, each
 * hardlink target, and that no entry lies under an entry that is a symlink. <is_symlink> and
 * <hardlink> (NULL = not a hardlink) are parallel to <paths>. Returns 0 or -EINVAL. */
int bundle_paths_check(const char *const *paths, const bool *is_symlink,
                       const char *const *hardlink, size_t n, struct err *err);

/* Lower-case hex SHA-256 of the file at <path> into hex[65]. */
int bundle_sha256(const char *path, char hex[65], struct err *err);

/* Unpacks the bundle at <src> into the existing empty directory <dest>, unwrapping a single top
 * directory that contains <appspec_name>. Fails, having written nothing, on any unsafe entry;
 * fails when the unwrapped root has no <appspec_name>. Blocking: call from a work thread or
 * before the loop runs. */
int bundle_unpack(enum bundle_type type, const char *src, const char *dest,
                  const char *appspec_name, struct err *err);

#endif /* AGENT_BUNDLE_H */
