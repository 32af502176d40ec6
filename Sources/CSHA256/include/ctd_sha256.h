#ifndef CTD_SHA256_H
#define CTD_SHA256_H
// SHA-256 (FIPS 180-4) on the x86-64 SHA extensions, with one extra: the same bytes hashed into two
// streams at once. An input and its de-identified output share their pixel data (most of their
// bytes) but not their headers, so both digests need the pixels; the two streams' rounds are
// interleaved, and the CPU overlaps them (about 1.6 times the throughput of two passes).
// Call only when ctd_sha256_available() says the CPU has the extensions; the caller falls back on a
// library otherwise.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t state[8];
    uint64_t length;      // bytes hashed so far
    uint8_t buffer[64];   // a partial block
    uint32_t buffered;
} ctd_sha256;

/// 1 when this CPU has the SHA extensions (and SSSE3 / SSE4.1), else 0.
int ctd_sha256_available(void);
void ctd_sha256_init(ctd_sha256 *context);
void ctd_sha256_update(ctd_sha256 *context, const void *data, size_t count);
/// The same bytes appended to both streams; equal to two ctd_sha256_update calls.
void ctd_sha256_update_both(ctd_sha256 *first, ctd_sha256 *second, const void *data, size_t count);
/// `count` bytes of each of two buffers appended to its own stream, in one interleaved pass (an
/// input whose pixels were edited and its output); equal to two ctd_sha256_update calls.
void ctd_sha256_update_two(ctd_sha256 *first, const void *data1, ctd_sha256 *second, const void *data2, size_t count);
void ctd_sha256_final(ctd_sha256 *context, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif
#endif
