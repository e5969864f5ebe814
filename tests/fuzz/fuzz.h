/*
 * tests/fuzz/fuzz.h — what a fuzz target declares and checks with: the
 * libFuzzer entry point (also called by tests/fuzz/replay.c) and CHECK,
 * which aborts on a broken property so libFuzzer and the replay both stop
 * there with a stack.
 *
 * Owns: nothing.  May call: libc.
 */
#ifndef KYZMAT_TESTS_FUZZ_H
#define KYZMAT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

#endif
