/* The per-super-block scale products of the ggml k-quant formats (layouts: kquants.c), shared by
 * the fused kernels of row_dot_kquants_avx2.c and row_dot_kquants_neon.c, which compute them once
 * per block and then decode its eight groups in registers. Plain C, no SIMD: each kernel file
 * widens the block's f16 scales its own way (F16C, NEON fcvt; both exact) and passes them in, so
 * these are the scalar reference's f32 products (kquants.h) whichever file includes them.
 * Internal to src/tensor. */
#ifndef CN_TENSOR_KQUANT_BLOCK_SCALES_H
#define CN_TENSOR_KQUANT_BLOCK_SCALES_H

#include <stdint.h>

#include "tensor/kquants.h"

/* Q4_K / Q5_K: one 6-bit scale and min per group of 32 (cn_k4_scale_min) from the 12 bytes at
 * b + 4, times the block's d and dmin. */
typedef struct {
    float d[8], m[8];
} k4_block;
typedef k4_block q4_k_block;
typedef k4_block q5_k_block;

static inline void k4_block_scales(const uint8_t *b, float d, float dmin, k4_block *s) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        cn_k4_scale_min(b + 4, j, &sc, &m);
        s->d[j] = d * (float)sc;
        s->m[j] = dmin * (float)m;
    }
}

/* Q6_K: 16 int8 scales (one per 16 elements, bytes 192..207) times the block's d. */
typedef struct {
    float ds[16];
} q6_k_block;

static inline void q6_k_block_scales(const uint8_t *b, float d, q6_k_block *s) {
    for (int j = 0; j < 16; j++) s->ds[j] = d * (float)(int8_t)b[192 + j];
}

/* Q3_K: sixteen 6-bit scales packed in bytes 96..107, biased by 32, times the block's d. */
typedef struct {
    float dl[16];
} q3_k_block;

static inline void q3_k_block_scales(const uint8_t *b, float d, q3_k_block *s) {
    const uint8_t *sc = b + 96;
    for (int i = 0; i < 16; i++) {
        const int low = i < 8 ? sc[i] & 0xf : sc[i - 8] >> 4;
        const int high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        s->dl[i] = d * (float)((low | (high << 4)) - 32);
    }
}

/* Q2_K: per 16 elements a 4-bit scale (low nibble of bytes 0..15) and min (high nibble), times
 * the block's d and dmin. */
typedef struct {
    float dl[16], ml[16];
} q2_k_block;

static inline void q2_k_block_scales(const uint8_t *b, float d, float dmin, q2_k_block *s) {
    for (int j = 0; j < 16; j++) {
        s->dl[j] = d * (float)(b[j] & 0xf);
        s->ml[j] = dmin * (float)(b[j] >> 4);
    }
}

/* IQ2_XXS: the block's d alone (each group's 4-bit scale is applied per group). */
typedef struct {
    float d;
} iq2_xxs_block;

#endif
