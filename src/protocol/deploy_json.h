/* SPDX-License-Identifier: ISC */
/* jansson helpers shared by the control plane codecs (deploy_*.c): field access with errors
 * that name the JSON path, and encoders that skip absent values. Only protocol/ includes this
 * header (jansson stays inside protocol/). */
#ifndef PROTOCOL_DEPLOY_JSON_H
#define PROTOCOL_DEPLOY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct arena;
struct deploy_diagnostics;
struct err;

/* Parses <len> bytes of JSON that must be an object. Error: "<name>:LINE:COL: <reason>".
 * Returns a new reference or NULL with <err> set. */
json_t *deploy_json_load(const char *json, size_t len, const char *name, struct err *err);
/* Fails with "<path>: unknown key 'x' (expected one of …)" if <obj> has a key not in <keys>. */
int deploy_json_strict(json_t *obj, const char *const *keys, size_t nkeys, const char *path,
                       struct err *err);
/* Reads <key> of <obj> as a string into <arena>. Absent or null: *out = NULL, and -EINVAL
 * "<path>.<key>: missing (expected a string)" when <required>. */
int deploy_json_str(json_t *obj, const char *key, bool required, struct arena *a, const char **out,
                    const char *path, struct err *err);
/* Absent: *out unchanged. */
int deploy_json_bool(json_t *obj, const char *key, bool *out, const char *path, struct err *err);
int deploy_json_u32(json_t *obj, const char *key, uint32_t min, uint32_t max, uint32_t *out,
                    const char *path, struct err *err);
int deploy_json_int(json_t *obj, const char *key, int *out, const char *path, struct err *err);
/* RFC 3339 string; absent or null: *out = 0. */
int deploy_json_time(json_t *obj, const char *key, int64_t *out, const char *path, struct err *err);
/* Integer minutes or a duration string ("20s"). Absent: *out unchanged. */
int deploy_json_interval(json_t *obj, const char *key, uint64_t *out, const char *path,
                         struct err *err);
/* <key> must be an object (or absent: *out = NULL). */
int deploy_json_obj(json_t *obj, const char *key, json_t **out, const char *path, struct err *err);
/* <key> must be an array (or absent: *out = NULL). */
int deploy_json_arr(json_t *obj, const char *key, json_t **out, const char *path, struct err *err);

/* Encoders: a new reference (never NULL; OOM aborts). */
json_t *deploy_json_string(const char *s); /* NULL → JSON null */
/* Sets <key> to <s> unless <s> is NULL. */
void deploy_json_set_str(json_t *obj, const char *key, const char *s);
/* Sets <key> to the RFC 3339 form of <ms> unless it is 0. */
void deploy_json_set_time(json_t *obj, const char *key, int64_t ms);
void deploy_json_set_int(json_t *obj, const char *key, int64_t v);
void deploy_json_set_bool(json_t *obj, const char *key, bool v);
/* Sets <key> to <v> (stolen). */
void deploy_json_set(json_t *obj, const char *key, json_t *v);
/* Compact text of <v> (stolen); malloc'd, never NULL. */
char *deploy_json_dump(json_t *v);

/* diagnostics object <o> (NULL: none) into <d> (exit_code -1 when absent). */
int deploy_json_diagnostics_parse(json_t *o, struct arena *a, struct deploy_diagnostics *d,
                                  const char *path, struct err *err);
/* A new diagnostics object (absent fields omitted). */
json_t *deploy_json_diagnostics(const struct deploy_diagnostics *d);

#endif /* PROTOCOL_DEPLOY_JSON_H */
