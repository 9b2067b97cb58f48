/* SPDX-License-Identifier: ISC */
/* Outbox files are "<command id>\n<JSON body>", named by a 20-digit zero-padded sequence number
 * so that name order is queue order. A report is durable once its final name exists: the data
 * is fsync'd under a ".tmp" name first, and readers ignore ".tmp" files. */
#include "agent/agent_outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"

#define SEQ_DIGITS 20

/* Parses an outbox file name; false for anything else (temporaries included). */
static bool
parse_seq(const char *name, uint64_t *seq)
{
    if (strlen(name) != SEQ_DIGITS || strspn(name, "0123456789") != SEQ_DIGITS)
        return false;
    return str_to_u64(name, seq, 0, UINT64_MAX) == 0;
}

static int
write_durable(const char *path, const char *a, const char *b, const char *c)
{
    const char *parts[] = {a, b, c};
    char tmp[PATH_MAX];
    int fd, rc = 0;

    if (fsops_path(tmp, sizeof(tmp), "%s.tmp", path) != 0)
        return -ENAMETOOLONG;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return -errno;
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        const char *p = parts[i] ? parts[i] : "";
        for (size_t len = strlen(p); len > 0 && rc == 0;) {
            ssize_t w = write(fd, p, len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = -errno;
            else
                p += w, len -= (size_t)w;
        }
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int
agent_outbox_open(struct agent_outbox *ob, const char *state_dir, struct err *err)
{
    struct dirent *e;
    char path[PATH_MAX];
    uint64_t seq;
    DIR *dir;
    int rc;

    memset(ob, 0, sizeof(*ob));
    if (fsops_path(ob->dir, sizeof(ob->dir), "%s/outbox", state_dir) != 0 ||
        fsops_path(ob->running, sizeof(ob->running), "%s/running", state_dir) != 0)
        return err_set(err, -ENAMETOOLONG, "%s: path too long", state_dir);
    if ((rc = fsops_mkdir_p(ob->dir, 0700)) != 0)
        return err_set(err, rc, "%s: %s", ob->dir, strerror(-rc));
    if ((dir = opendir(ob->dir)) == NULL)
        return err_set(err, -errno, "%s: %s", ob->dir, strerror(errno));
    while ((e = readdir(dir)) != NULL) {
        if (parse_seq(e->d_name, &seq)) {
            if (seq >= ob->next_seq)
                ob->next_seq = seq + 1;
        } else if (strstr(e->d_name, ".tmp") != NULL &&
                   fsops_path(path, sizeof(path), "%s/%s", ob->dir, e->d_name) == 0) {
            unlink(path); /* a writer killed before its rename */
        }
    }
    closedir(dir);
    return 0;
}

int
agent_outbox_push(struct agent_outbox *ob, const char *command_id, const char *body)
{
    char path[PATH_MAX];
    int rc;

    if (strchr(command_id, '\n') != NULL || strlen(command_id) >= 128)
        return -EINVAL;
    if (fsops_path(path, sizeof(path), "%s/%0*" PRIu64, ob->dir, SEQ_DIGITS, ob->next_seq) != 0)
        return -ENAMETOOLONG;
    if ((rc = write_durable(path, command_id, "\n", body)) != 0)
        return rc;
    ob->next_seq++;
    return 0;
}

/* The smallest sequence number in the outbox, or -ENOENT. */
static int
oldest(const struct agent_outbox *ob, uint64_t *out, size_t *count)
{
    struct dirent *e;
    uint64_t seq;
    bool found = false;
    DIR *dir;

    *count = 0;
    if ((dir = opendir(ob->dir)) == NULL)
        return -errno;
    while ((e = readdir(dir)) != NULL) {
        if (!parse_seq(e->d_name, &seq))
            continue;
        (*count)++;
        if (!found || seq < *out)
            *out = seq;
        found = true;
    }
    closedir(dir);
    return found ? 0 : -ENOENT;
}

int
agent_outbox_peek(const struct agent_outbox *ob, struct agent_outbox_entry *out)
{
    char path[PATH_MAX], *data = NULL, *nl;
    size_t count;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = oldest(ob, &out->seq, &count)) != 0)
        return rc;
    (void)fsops_path(path, sizeof(path), "%s/%0*" PRIu64, ob->dir, SEQ_DIGITS, out->seq);
    if ((rc = fsops_read_file(path, &data, NULL)) != 0)
        return rc;
    if ((nl = strchr(data, '\n')) == NULL || (size_t)(nl - data) >= sizeof(out->command_id)) {
        free(data);
        return -EINVAL; /* cannot happen for our own files; the caller drops it */
    }
    memcpy(out->command_id, data, (size_t)(nl - data));
    out->command_id[nl - data] = '\0';
    out->body = mem_strdup(nl + 1);
    free(data);
    return 0;
}

int
agent_outbox_pop(struct agent_outbox *ob, uint64_t seq)
{
    char path[PATH_MAX];

    (void)fsops_path(path, sizeof(path), "%s/%0*" PRIu64, ob->dir, SEQ_DIGITS, seq);
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

size_t
agent_outbox_count(const struct agent_outbox *ob)
{
    uint64_t seq;
    size_t count;

    (void)oldest(ob, &seq, &count);
    return count;
}

void
agent_outbox_entry_fini(struct agent_outbox_entry *e)
{
    free(e->body);
    e->body = NULL;
}

int
agent_outbox_running_save(struct agent_outbox *ob, const char *command_id, const char *event,
                          const char *last_final)
{
    char head[256];

    if (strchr(command_id, '\n') != NULL || strchr(event, '\n') != NULL ||
        fsops_path(head, sizeof(head), "%s\n%s\n", command_id, event) != 0)
        return -EINVAL;
    return write_durable(ob->running, head, last_final, NULL);
}

int
agent_outbox_running_load(const struct agent_outbox *ob, struct agent_outbox_running *out)
{
    char *data = NULL, *nl1, *nl2;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = fsops_read_file(ob->running, &data, NULL)) != 0)
        return rc;
    nl1 = strchr(data, '\n');
    nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (nl2 == NULL || (size_t)(nl1 - data) >= sizeof(out->command_id) || nl1 == data ||
        (size_t)(nl2 - nl1 - 1) >= sizeof(out->event)) {
        free(data);
        return -EINVAL;
    }
    memcpy(out->command_id, data, (size_t)(nl1 - data));
    memcpy(out->event, nl1 + 1, (size_t)(nl2 - nl1 - 1));
    out->last_final = nl2[1] != '\0' ? mem_strdup(nl2 + 1) : NULL;
    free(data);
    return 0;
}

void
agent_outbox_running_fini(struct agent_outbox_running *r)
{
    free(r->last_final);
    r->last_final = NULL;
}

int
agent_outbox_running_clear(struct agent_outbox *ob)
{
    return unlink(ob->running) == 0 || errno == ENOENT ? 0 : -errno;
}
