/* SPDX-License-Identifier: ISC */
/* appspec.yml: parsed and validated in one pass, every rule of APPSPEC.md checked before a
 * deployment touches anything. Errors are "FILE:LINE:COL: what is wrong (what was expected)".
 * The parsed spec borrows its strings from the YAML document it owns. */
#ifndef AGENT_APPSPEC_H
#define AGENT_APPSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct yaml_conf_doc;

/* Lifecycle events in CodeDeploy's order (traffic events performed by the proxy are not here). */
enum appspec_event {
    APPSPEC_BEFORE_BLOCK_TRAFFIC = 0,
    APPSPEC_AFTER_BLOCK_TRAFFIC,
    APPSPEC_APPLICATION_STOP,
    APPSPEC_DOWNLOAD_BUNDLE, /* performed by cutover */
    APPSPEC_BEFORE_INSTALL,
    APPSPEC_INSTALL, /* performed by cutover */
    APPSPEC_AFTER_INSTALL,
    APPSPEC_APPLICATION_START,
    APPSPEC_VALIDATE_SERVICE,
    APPSPEC_BEFORE_ALLOW_TRAFFIC,
    APPSPEC_AFTER_ALLOW_TRAFFIC,
    APPSPEC_NEVENTS,
};

enum appspec_file_exists {
    APPSPEC_FE_DISALLOW = 0, /* fail when a target exists (the default) */
    APPSPEC_FE_OVERWRITE,    /* replace it */
    APPSPEC_FE_RETAIN,       /* keep the existing file */
};

#define APPSPEC_TYPE_FILE 0x1u
#define APPSPEC_TYPE_DIRECTORY 0x2u
#define APPSPEC_DEFAULT_TIMEOUT_S 3600u
#define APPSPEC_MAX_TIMEOUT_S 2000000u /* keeps milliseconds in 31 bits */

struct appspec_file {
    const char *source;      /* borrowed: doc; relative to the archive, "/" = all of it */
    const char *destination; /* borrowed: doc; absolute */
    int line;                /* of the entry, for messages */
};

struct appspec_permission {
    const char *object;  /* borrowed: doc; absolute */
    const char *pattern; /* borrowed: doc; "**" by default */
    const char **except; /* owned array of borrowed strings */
    size_t nexcept;
    unsigned types;    /* APPSPEC_TYPE_* bits; both when not given */
    const char *owner; /* borrowed: doc; NULL = unchanged */
    const char *group; /* borrowed: doc; NULL = unchanged */
    int mode;          /* 0..07777, or -1 = unchanged */
    const char **acls; /* owned array of borrowed setfacl-style entries */
    size_t nacls;
    const char *context_name;  /* borrowed: doc; SELinux context user, NULL if none */
    const char *context_type;  /* borrowed: doc */
    const char *context_range; /* borrowed: doc */
    int line;
};

struct appspec_script {
    const char *location; /* borrowed: doc; relative to the archive (a leading '/' is harmless) */
    uint32_t timeout_s;   /* 1..APPSPEC_MAX_TIMEOUT_S */
    const char *runas;    /* borrowed: doc; NULL = the agent's user */
};

struct appspec_hook {
    struct appspec_script *scripts; /* owned */
    size_t nscripts;
};

struct appspec {
    struct yaml_conf_doc *doc; /* owned: every borrowed string lives here */
    bool has_file_exists;      /* file_exists_behavior given: it overrides the command line */
    enum appspec_file_exists file_exists;
    struct appspec_file *files; /* owned */
    size_t nfiles;
    struct appspec_permission *permissions; /* owned */
    size_t npermissions;
    struct appspec_hook hooks[APPSPEC_NEVENTS];
};

/* Parses and validates the file at <path>. On success *out is a new spec (appspec_free it). */
int appspec_load(struct appspec **out, const char *path, struct err *err);

/* Same for a buffer; <name> is used in messages. */
int appspec_parse(struct appspec **out, const char *name, const char *data, size_t len,
                  struct err *err);

void appspec_free(struct appspec *spec);

/* "ApplicationStop", … */
const char *appspec_event_name(enum appspec_event ev);

/* Looks up an event by exact name. Returns 0 and sets *out, or -ENOENT. */
int appspec_event_parse(const char *name, enum appspec_event *out);

/* True for the nine events that run scripts. */
bool appspec_event_is_scriptable(enum appspec_event ev);

/* The closest event name to <name> (a likely typo), or NULL. */
const char *appspec_event_suggest(const char *name);

/* "DISALLOW" / "OVERWRITE" / "RETAIN" and back (exact, upper case). Parse returns 0 or -EINVAL. */
const char *appspec_file_exists_name(enum appspec_file_exists fe);
int appspec_file_exists_parse(const char *s, enum appspec_file_exists *out);

/* True when relative path <p> (leading '/' ignored) stays inside its root: no ".." that climbs
 * above it. */
bool appspec_path_stays_inside(const char *p);

#endif /* AGENT_APPSPEC_H */
