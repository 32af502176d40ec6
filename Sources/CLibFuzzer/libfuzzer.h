/* libFuzzer's library entry point (compiler-rt, linked by -sanitize=fuzzer). Declared here
 * rather than linked: only the `make fuzz` build calls it, so other builds need no libFuzzer. */
#ifndef CTD_LIBFUZZER_H
#define CTD_LIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
