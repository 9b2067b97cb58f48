/* SPDX-License-Identifier: ISC */
/* Small filesystem operations the agent repeats: make a directory chain, copy a file or a tree
 * without following symlinks, remove a tree, read and atomically replace a small file. */
#ifndef AGENT_FSOPS_H
#define AGENT_FSOPS_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* mkdir -p with <mode> for the directories it creates. Returns 0 or a negative errno. */
int fsops_mkdir_p(const char *path, mode_t mode);

/* Copies regular file <src> to <dst> (created, or truncated) with <mode>. <size> is the
 * source's size when the caller knows it (it stops there), or -1. */
int fsops_copy_file(const char *src, const char *dst, mode_t mode, off_t size, struct err *err);

/* Copies the tree at <src> into the existing directory <dst>: directories keep their mode,
 * symlinks are copied as symlinks (never followed), other special files are refused. */
int fsops_copy_tree(const char *src, const char *dst, struct err *err);

/* rm -rf that never follows symlinks. Missing <path> is success. */
int fsops_remove_tree(const char *path);

/* Reads a whole file into a new NUL-terminated buffer (*out owned by the caller). */
int fsops_read_file(const char *path, char **out, size_t *len);

/* Writes <len> bytes to <path> through a temporary file and rename(2). */
int fsops_write_file(const char *path, const char *data, size_t len, mode_t mode);

/* snprintf for paths: returns 0, or -ENAMETOOLONG when the result did not fit (out is then
 * truncated and must not be used). */
int fsops_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* AGENT_FSOPS_H */
