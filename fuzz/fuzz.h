/* SPDX-License-Identifier: ISC */
/* The libFuzzer entry point every target defines; replay_main.c drives it without libFuzzer. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* FUZZ_FUZZ_H */
