/* GGUF (ggml) 256-element super-block formats and ggml's MXFP4 block: the scalar reference
 * decoders, bit-compatible with ggml's dequantize_row_* and the PyPI gguf package's
 * gguf.quants (tests/test_kquants.c holds them to fixtures the package dequantised).
 *
 * Every format decodes in groups of 32 consecutive elements (a 256-block has 8), and a group's
 * values depend only on its own block, so a kernel can decode any 32-aligned run of a row. The
 * arithmetic is ggml's, operation for operation, in f32 without contraction (C17 mode):
 *   Q4_K/Q5_K: (d·sc)·q − (dmin·m);  Q2_K: (d·(s&15))·q − (dmin·(s>>4));
 *   Q3_K, Q6_K: (d·sc)·q;  IQ2_XXS: ((d·(0.5+s))·0.25)·grid·sign;  MXFP4: e8m0/2 · doubled code. */
#ifndef CN_TENSOR_KQUANTS_H
#define CN_TENSOR_KQUANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/dtype.h"

/* Q4_K/Q5_K: the 6-bit scale and min of group j (0..7) from the 12 packed bytes at s. The first
 * four of each sit in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); the last four take
 * their low 4 bits from bytes 8..11 (scale: low nibble, min: high nibble) and their top 2 bits
 * from the top of bytes 0..3 (scales) and 4..7 (mins). */
static inline void cn_k4_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q3_K: the stored 6-bit scale i (0..15, biased by 32) from the 12 packed bytes at s: low 4 bits
 * from byte i (i < 8, low nibble) or i − 8 (high nibble), top 2 bits from bits 2(i/4), +1 of byte
 * 8 + i%4. */
static inline int cn_q3_k_scale(const uint8_t *s, int i) {
    const int low = i < 8 ? s[i] & 0xf : s[i - 8] >> 4;
    return low | ((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4;
}

/* IQ2_XXS grid: 256 rows of eight magnitudes, each a 2-bit index into {8, 25, 43}, element j in
 * bits 2j, 2j+1 (the table of ggml's iq2xxs_grid, as the gguf package packs it; every row is
 * held to the package's dequantiser by tests/test_kquants.c). */
extern const uint16_t cn_iq2xxs_grid[256];

/* The same grid for byte-wise kernels (iq2xxs_tables.c): byte j of row i is element j's magnitude
 * (8, 25 or 43). And the eight signs of each 7-bit sign index (the eighth bit the parity of the
 * seven): byte j is 0xff (−1) where element j is negated, else 0x01 (+1), so that one byte
 * multiply or _mm256_sign_epi8 applies it. */
extern const uint64_t cn_iq2xxs_grid_bytes[256];
extern const uint64_t cn_iq2xxs_sign_bytes[128];

/* True for the formats this file decodes (Q2_K..Q6_K, IQ2_XXS, MXFP4_GGML). */
bool cn_kquant_is(cn_dtype t);

/* Elements [32g, 32g + 32) of the block at `block` (g < block elements / 32). */
void cn_kquant_decode32(cn_dtype t, const uint8_t *block, int g, float out[32]);

/* A row of n elements (a multiple of the block size) stored at p. */
void cn_kquant_row_to_f32(cn_dtype t, const uint8_t *p, int64_t n, float *out);

#endif
