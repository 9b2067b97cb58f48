/* SPDX-License-Identifier: ISC */
/* Fuzz target: protocol/apps_msg, what the control socket reads from any local client (and the
 * CLI reads back): request and reply decoders on arbitrary bytes, re-encoded when accepted. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "protocol/apps_msg.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct apps_msg_request req;
    struct apps_msg_reply rep;
    struct err err;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (apps_msg_request_decode(&req, text, &err) == 0)
        free(apps_msg_request_encode(&req));
    if (apps_msg_reply_decode(&rep, text, &err) == 0) {
        free(apps_msg_reply_encode(&rep));
        free(apps_msg_workers_encode_pretty(&rep));
        apps_msg_reply_fini(&rep);
    }
    free(text);
    return 0;
}
