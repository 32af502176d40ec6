#include "ctd_sha256.h"

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int ctd_sha256_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ssse3 && sse41 && ((b >> 29) & 1);
}

void ctd_sha256_init(ctd_sha256 *context) {
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(context->state, initial, sizeof initial);
    context->length = 0;
    context->buffered = 0;
}

// The state as the SHA instructions want it: ABEF and CDGH.
SHA_TARGET static inline void load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);
    *abef = _mm_alignr_epi8(dcba, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, dcba, 0xF0);
}

SHA_TARGET static inline void store_state(uint32_t state[8], __m128i abef, __m128i cdgh) {
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

#define BYTE_SWAP _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

// Message words 4i..4i+3: loaded for the first four groups, scheduled from the last four after.
#define SCHEDULE(m, i, p)                                                                            \
    ((i) < 4 ? _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((p) + 16 * (i))), BYTE_SWAP)       \
             : _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m[(i) & 3], m[((i) + 1) & 3]), \
                                                  _mm_alignr_epi8(m[((i) + 3) & 3], m[((i) + 2) & 3], 4)), \
                                    m[((i) + 3) & 3]))

SHA_TARGET static void blocks(uint32_t state[8], const uint8_t *p, size_t count) {
    __m128i abef, cdgh;
    load_state(state, &abef, &cdgh);
    for (; count; count--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh, m[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i++) {
            m[i & 3] = SCHEDULE(m, i, p);
            __m128i w = _mm_add_epi32(m[i & 3], _mm_loadu_si128((const __m128i *)&K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, w);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(w, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    store_state(state, abef, cdgh);
}

// Two streams, `count` blocks each, rounds interleaved so one stream's rounds fill the other's latency.
SHA_TARGET static void blocks2(uint32_t state1[8], const uint8_t *p1, uint32_t state2[8], const uint8_t *p2, size_t count) {
    __m128i abef1, cdgh1, abef2, cdgh2;
    load_state(state1, &abef1, &cdgh1);
    load_state(state2, &abef2, &cdgh2);
    for (; count; count--, p1 += 64, p2 += 64) {
        __m128i saved1a = abef1, saved1c = cdgh1, saved2a = abef2, saved2c = cdgh2, m1[4], m2[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i++) {
            m1[i & 3] = SCHEDULE(m1, i, p1);
            m2[i & 3] = SCHEDULE(m2, i, p2);
            __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * i]);
            __m128i w1 = _mm_add_epi32(m1[i & 3], k), w2 = _mm_add_epi32(m2[i & 3], k);
            cdgh1 = _mm_sha256rnds2_epu32(cdgh1, abef1, w1);
            cdgh2 = _mm_sha256rnds2_epu32(cdgh2, abef2, w2);
            abef1 = _mm_sha256rnds2_epu32(abef1, cdgh1, _mm_shuffle_epi32(w1, 0x0E));
            abef2 = _mm_sha256rnds2_epu32(abef2, cdgh2, _mm_shuffle_epi32(w2, 0x0E));
        }
        abef1 = _mm_add_epi32(abef1, saved1a);
        cdgh1 = _mm_add_epi32(cdgh1, saved1c);
        abef2 = _mm_add_epi32(abef2, saved2a);
        cdgh2 = _mm_add_epi32(cdgh2, saved2c);
    }
    store_state(state1, abef1, cdgh1);
    store_state(state2, abef2, cdgh2);
}

// Fills the partial block from `data`; returns how many bytes it took.
static size_t top_up(ctd_sha256 *context, const uint8_t *data, size_t count) {
    if (context->buffered == 0) return 0;
    size_t take = 64 - context->buffered;
    if (take > count) take = count;
    memcpy(context->buffer + context->buffered, data, take);
    context->buffered += (uint32_t)take;
    if (context->buffered == 64) {
        blocks(context->state, context->buffer, 1);
        context->buffered = 0;
    }
    return take;
}

static void keep_tail(ctd_sha256 *context, const uint8_t *data, size_t count) {
    memcpy(context->buffer + context->buffered, data, count);
    context->buffered += (uint32_t)count;
}

// Appends whole blocks and keeps the tail; the caller counts the length.
static void absorb(ctd_sha256 *context, const uint8_t *data, size_t count) {
    size_t used = top_up(context, data, count);
    data += used;
    count -= used;
    if (count == 0) return;
    blocks(context->state, data, count / 64);
    keep_tail(context, data + count / 64 * 64, count % 64);
}

void ctd_sha256_update(ctd_sha256 *context, const void *bytes, size_t count) {
    context->length += count;
    absorb(context, bytes, count);
}

void ctd_sha256_update_both(ctd_sha256 *first, ctd_sha256 *second, const void *bytes, size_t count) {
    ctd_sha256_update_two(first, bytes, second, bytes, count);
}

void ctd_sha256_update_two(ctd_sha256 *first, const void *bytes1, ctd_sha256 *second, const void *bytes2, size_t count) {
    const uint8_t *data1 = bytes1, *data2 = bytes2;
    first->length += count;
    second->length += count;
    // Each stream tops up its own partial block first, so each then starts a block at its own offset.
    size_t start1 = top_up(first, data1, count), start2 = top_up(second, data2, count);
    size_t left1 = count - start1, left2 = count - start2;
    // A stream still holding a partial block took every byte; the other goes on alone.
    if (first->buffered != 0 || second->buffered != 0) {
        absorb(first, data1 + start1, left1);
        absorb(second, data2 + start2, left2);
        return;
    }
    size_t together = (left1 < left2 ? left1 : left2) / 64;
    blocks2(first->state, data1 + start1, second->state, data2 + start2, together);
    absorb(first, data1 + start1 + together * 64, left1 - together * 64);
    absorb(second, data2 + start2 + together * 64, left2 - together * 64);
}

void ctd_sha256_final(ctd_sha256 *context, uint8_t digest[32]) {
    uint64_t bits = context->length * 8;
    uint8_t pad[72] = {0x80};
    size_t padding = (context->buffered < 56 ? 56 : 120) - context->buffered;
    for (int i = 0; i < 8; i++) pad[padding + i] = (uint8_t)(bits >> (56 - 8 * i));
    absorb(context, pad, padding + 8);
    for (int i = 0; i < 8; i++) {
        uint32_t word = context->state[i];
        digest[4 * i] = (uint8_t)(word >> 24);
        digest[4 * i + 1] = (uint8_t)(word >> 16);
        digest[4 * i + 2] = (uint8_t)(word >> 8);
        digest[4 * i + 3] = (uint8_t)word;
    }
}
