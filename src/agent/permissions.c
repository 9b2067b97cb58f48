/* SPDX-License-Identifier: ISC */
/* Permissions. Names are resolved with getpwnam/getgrnam each time (NSS caches); an ACL entry is
 * merged into the file's ACL: an entry for the same tag and qualifier is replaced, otherwise
 * added, then the mask is recomputed as setfacl does. */
#include "agent/permissions.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/appspec.h"
#include "common/err.h"
#include "common/log.h"

/* Splits "d:u:bob:rwx" / "default:user:bob:rwx" into (is_default, "u:bob:rwx"). */
static const char *
acl_entry_body(const char *entry, bool *is_default)
{
    *is_default = false;
    if (strncmp(entry, "d:", 2) == 0) {
        *is_default = true;
        return entry + 2;
    }
    if (strncmp(entry, "default:", 8) == 0) {
        *is_default = true;
        return entry + 8;
    }
    return entry;
}

int
permissions_check(const struct appspec_permission *p, const char *appspec_path, struct err *err)
{
    if (p->owner != NULL && getpwnam(p->owner) == NULL)
        return err_set(err, -EINVAL, "%s:%d: permissions for %s: unknown owner '%s'", appspec_path,
                       p->line, p->object, p->owner);
    if (p->group != NULL && getgrnam(p->group) == NULL)
        return err_set(err, -EINVAL, "%s:%d: permissions for %s: unknown group '%s'", appspec_path,
                       p->line, p->object, p->group);
    for (size_t i = 0; i < p->nacls; i++) {
        bool dflt;
        acl_t a = acl_from_text(acl_entry_body(p->acls[i], &dflt));
        if (a == NULL)
            return err_set(err, -EINVAL,
                           "%s:%d: permissions for %s: invalid ACL entry '%s' (expected "
                           "setfacl syntax, e.g. u:alice:rw)",
                           appspec_path, p->line, p->object, p->acls[i]);
        acl_free(a);
    }
    return 0;
}

bool
permissions_matches(const struct appspec_permission *p, const char *path, bool is_dir)
{
    size_t olen = strlen(p->object);
    const char *rel, *base;
    bool deep = strcmp(p->pattern, "**") == 0;

    while (olen > 1 && p->object[olen - 1] == '/')
        olen--;
    if (strncmp(path, p->object, olen) != 0 || (olen > 1 && path[olen] != '/'))
        return false;
    rel = olen == 1 ? path + 1 : path + olen + 1;
    if (rel[0] == '\0')
        return false; /* the object itself is never changed */
    if (!(p->types & (is_dir ? APPSPEC_TYPE_DIRECTORY : APPSPEC_TYPE_FILE)))
        return false;
    if (!deep && (strchr(rel, '/') != NULL || fnmatch(p->pattern, rel, FNM_PERIOD) != 0))
        return false;
    base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    for (size_t i = 0; i < p->nexcept; i++) {
        if (fnmatch(p->except[i], deep ? base : rel, 0) == 0)
            return false;
    }
    return true;
}

/* Replaces or adds the single entry of <one> in <acl>. */
static int
merge_entry(acl_t *acl, acl_t one)
{
    acl_entry_t want, have, fresh;
    acl_tag_t want_tag, have_tag;
    acl_permset_t perms;
    int id = ACL_FIRST_ENTRY;

    if (acl_get_entry(one, ACL_FIRST_ENTRY, &want) != 1 || acl_get_tag_type(want, &want_tag))
        return -EINVAL;
    while (acl_get_entry(*acl, id, &have) == 1) {
        id = ACL_NEXT_ENTRY;
        if (acl_get_tag_type(have, &have_tag) != 0 || have_tag != want_tag)
            continue;
        if (want_tag == ACL_USER || want_tag == ACL_GROUP) {
            void *a = acl_get_qualifier(want), *b = acl_get_qualifier(have);
            bool same = a && b && *(id_t *)a == *(id_t *)b;
            acl_free(a);
            acl_free(b);
            if (!same)
                continue;
        }
        acl_get_permset(want, &perms);
        return acl_set_permset(have, perms) == 0 ? 0 : -errno;
    }
    if (acl_create_entry(acl, &fresh) != 0 || acl_copy_entry(fresh, want) != 0)
        return -errno;
    return 0;
}

static int
apply_acl(const char *path, const char *entry, bool is_dir, struct err *err)
{
    bool dflt;
    const char *body = acl_entry_body(entry, &dflt);
    acl_type_t type = dflt ? ACL_TYPE_DEFAULT : ACL_TYPE_ACCESS;
    acl_t one = NULL, acl = NULL;
    int rc = 0;

    if (dflt && !is_dir)
        return 0; /* default ACLs exist only on directories */
    if ((one = acl_from_text(body)) == NULL)
        return err_set(err, -EINVAL, "%s: invalid ACL entry '%s'", path, entry);
    acl = acl_get_file(path, type);
    if (acl != NULL && dflt && acl_entries(acl) == 0) {
        acl_free(acl); /* a first default entry needs the base entries: start from the access ACL */
        acl = acl_get_file(path, ACL_TYPE_ACCESS);
    }
    if (acl == NULL) {
        rc = err_set(err, -errno, "%s: reading ACL: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = merge_entry(&acl, one)) != 0 || acl_calc_mask(&acl) != 0 || acl_valid(acl) != 0 ||
        acl_set_file(path, type, acl) != 0) {
        rc = err_set(err, rc ? rc : -errno, "%s: setting ACL '%s': %s", path, entry,
                     strerror(rc ? -rc : errno));
        goto out;
    }
out:
    acl_free(one);
    acl_free(acl);
    return rc;
}

int
permissions_apply(const struct appspec_permission *p, const char *actual, bool is_dir, bool is_link,
                  struct err *err)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    int rc;

    if (!is_link && p->mode >= 0 && chmod(actual, (mode_t)p->mode) != 0)
        return err_set(err, -errno, "%s: chmod %04o: %s", actual, p->mode, strerror(errno));
    for (size_t i = 0; !is_link && i < p->nacls; i++) {
        if ((rc = apply_acl(actual, p->acls[i], is_dir, err)) != 0)
            return rc;
    }
    if (p->context_type != NULL)
        log_warn("%s: SELinux context %s not applied: this build has no SELinux support", actual,
                 p->context_type);
    if (p->owner != NULL) {
        struct passwd *pw = getpwnam(p->owner);
        if (pw == NULL)
            return err_set(err, -EINVAL, "%s: unknown owner '%s'", actual, p->owner);
        uid = pw->pw_uid;
    }
    if (p->group != NULL) {
        struct group *gr = getgrnam(p->group);
        if (gr == NULL)
            return err_set(err, -EINVAL, "%s: unknown group '%s'", actual, p->group);
        gid = gr->gr_gid;
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && lchown(actual, uid, gid) != 0)
        return err_set(err, -errno, "%s: chown %s:%s: %s", actual, p->owner ? p->owner : "",
                       p->group ? p->group : "", strerror(errno));
    /* chown clears setuid/setgid bits on files: put the requested mode back */
    if (!is_link && p->mode >= 0 && (p->mode & 06000) && chmod(actual, (mode_t)p->mode) != 0)
        return err_set(err, -errno, "%s: chmod %04o: %s", actual, p->mode, strerror(errno));
    return 0;
}
