#include "tensor/matmul.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/e4m3_rows_x86.h"
#include "tensor/f32_tiles.h"
#include "tensor/q4_k_tiles.h"
#include "tensor/q8_0_tiles.h"
#include "tensor/q8_activations.h"
#include "tensor/q8_dot_many.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"
#include "tensor/vec.h"

#define TILE_ROWS 2
#define TILE_TOKENS 4
_Static_assert(CN_Q8_0_TILE_ROWS == TILE_ROWS && CN_Q4_K_TILE_ROWS == TILE_ROWS, "tile rows");
_Static_assert(CN_Q8_0_TILE_TOKENS == TILE_TOKENS && CN_Q4_K_TILE_TOKENS == TILE_TOKENS, "tile tokens");

/* One format's tiles: its rearranged record sizes (per row and per token of n elements), the
 * rearrangements and the tile. */
typedef struct {
    size_t w_bytes, x_bytes;
    void (*w_from)(const uint8_t *row, int64_t n, void *out);
    void (*x_from)(const void *xq, int64_t n, void *out);
    void (*dot)(const void *const w[TILE_ROWS], const void *const x[TILE_TOKENS], int64_t n, float out[TILE_ROWS][TILE_TOKENS]);
} tile_format;

/* A fused kernel set: row_dot_avx2.h or row_dot_neon.h (the same chain, so the same bits). */
typedef void (*row_dot_fn)(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out);
typedef void (*row_decode_fn)(const cn_matrix *m, int64_t row, float *out);

typedef struct {
    const cn_matrix *w;
    const float *x;
    int64_t x_stride, n_tokens;
    float *y;
    int64_t y_stride;
    /* 8-bit activations (w->act_q8): every token's row quantised once, xq_bytes apart */
    cn_q8_layout layout;
    uint8_t *xq;
    size_t xq_bytes;
    cn_q8_kernel q8_kernel; /* cn_q8_kernel_best() */
    tile_format tiles;      /* GEMM tiles (Q8_0, Q4_K): the format's functions */
    uint8_t *xt;            /* every token's records rearranged for them, tiles.x_bytes apart; or NULL */
    row_dot_fn dot;       /* the fused kernels of this CPU; NULL: the portable path */
    row_decode_fn decode;
    cn_e4m3_rows_kind e4m3_rows; /* F8_E4M3 with one or two tokens on x86 (e4m3_rows_x86.h) */
    /* f32 GEMM tiles (f32_tiles.h): every group of CN_F32_TILE_TOKENS tokens as one record,
     * xf_floats apart; NULL where the many-token path does not take them */
    float *xf;
    int64_t xf_floats;
} matmul_job;

/* Portable path: each row dequantised once to f32 and dotted with every token (cn_vec_dot). */
static void matmul_rows_portable(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    float *row = NULL;
    /* f32 rows are used in place when aligned; anything else is converted row by row. */
    int convert = w->dtype != CN_DTYPE_F32 || (((uintptr_t)w->data | w->row_bytes) % sizeof(float)) != 0;
    if (convert) {
        row = cn_scratch_alloc((size_t)w->cols * sizeof *row);
    }
    for (int64_t o = begin; o < end; o++) {
        const float *wr;
        if (row) {
            cn_matrix_row_to_f32(w, o, row);
            wr = row;
        } else {
            wr = (const float *)(const void *)(w->data + (size_t)o * w->row_bytes);
        }
        for (int64_t t = 0; t < job->n_tokens; t++)
            job->y[t * job->y_stride + o] = cn_vec_dot(wr, job->x + t * job->x_stride, w->cols);
    }
    free(row);
}

/* Dots tokens in pairs (the last one alone) with row o of w. */
static void dot_tokens_fused(const matmul_job *job, const cn_matrix *w, int64_t row, int64_t o) {
    for (int64_t t = 0; t < job->n_tokens; t += 2) {
        const int pair = t + 1 < job->n_tokens ? 2 : 1;
        const float *x[2] = {job->x + t * job->x_stride, job->x + (t + pair - 1) * job->x_stride};
        float out[2];
        job->dot(w, row, x, pair, out);
        job->y[t * job->y_stride + o] = out[0];
        if (pair == 2) job->y[(t + 1) * job->y_stride + o] = out[1];
    }
}

/* Rows decoded per block on the many-token path: about 128 KB of f32 weights, so the block stays
 * in L2 while every token pair passes over it, and the tokens are streamed once per block
 * instead of once per row. */
#define DECODED_BLOCK_BYTES (128 * 1024)

/* Fused path (AVX2+FMA or NEON). One or two tokens: the fused kernel reads the stored row
 * directly (decode). More (NEON; AVX2+FMA takes the f32 GEMM tiles below from
 * F32_TILE_MIN_TOKENS on): a block of rows is decoded once to f32, then each token pair is dotted
 * with every row of the block by the fused F32 kernel (cache blocking: for a prompt's many tokens
 * the inputs no longer stream from memory for every weight row). Both give a token the same bits
 * (row_dot_avx2.h: one chain per output element on exactly decoded weights, whatever the loop
 * order), which keeps every split of a sequence bitwise equal (docs/engine.md). */
static void matmul_rows_fused(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    if (job->n_tokens <= 2 && job->e4m3_rows != CN_E4M3_ROWS_NONE) { /* the same bits, the token prepared per scale row */
        const float *x[2] = {job->x, job->x + (job->n_tokens - 1) * job->x_stride};
        float *y[2] = {job->y + begin, job->y + (job->n_tokens - 1) * job->y_stride + begin};
        cn_e4m3_rows_dot(job->e4m3_rows, w, begin, end, x, (int)job->n_tokens, y);
        return;
    }
    if (job->n_tokens <= 2 || w->dtype == CN_DTYPE_F32) {
        for (int64_t o = begin; o < end; o++) dot_tokens_fused(job, w, o, o);
        return;
    }
    const size_t row_bytes = (size_t)w->cols * sizeof(float);
    int64_t block = (int64_t)(DECODED_BLOCK_BYTES / row_bytes);
    if (block < 1) block = 1;
    if (block > end - begin) block = end - begin;
    float *rows = cn_scratch_alloc((size_t)block * row_bytes);
    const cn_matrix decoded = {CN_DTYPE_F32, block, w->cols, (const uint8_t *)rows, row_bytes, NULL, 0, 0, false};
    for (int64_t o0 = begin; o0 < end; o0 += block) {
        const int64_t nb = end - o0 < block ? end - o0 : block;
        for (int64_t r = 0; r < nb; r++) job->decode(w, o0 + r, rows + r * w->cols);
        for (int64_t t = 0; t < job->n_tokens; t += 2) {
            const int pair = t + 1 < job->n_tokens ? 2 : 1;
            const float *x[2] = {job->x + t * job->x_stride, job->x + (t + pair - 1) * job->x_stride};
            for (int64_t r = 0; r < nb; r++) {
                float out[2];
                job->dot(&decoded, r, x, pair, out);
                job->y[t * job->y_stride + o0 + r] = out[0];
                if (pair == 2) job->y[(t + 1) * job->y_stride + o0 + r] = out[1];
            }
        }
    }
    free(rows);
}

/* ---- f32 GEMM tiles (f32_tiles.h) ----
 * The many-token path on AVX2+FMA from F32_TILE_MIN_TOKENS on, every format: each output is
 * still the one chain of row_dot_avx2.h on the exactly decoded row, so the same bits as one or
 * two tokens (test_f32_tiles, test_matmul_kernels). The tokens are rearranged once per call into
 * records of four; each thread decodes a block of its rows (F32_TILE_BLOCK_BYTES of records, so
 * that the block stays in L2 while every token record passes over it) straight into records of
 * three (cn_row_decode_avx2_line; the ggml block formats through an f32 row), prefetching the
 * next block's stored rows while the tiles run. Measured one thread, CPU time, 4096 columns,
 * machine loaded (docs/performance.md): F8_E4M3 and BF16 at 64 tokens ~33 -> ~72 GFLOP/s; the
 * tiles win from 3 tokens on (F8_E4M3 17.7 -> 24.3 at 3, 26.6 -> 44.4 at 8); 512 KB blocks
 * beat 128 and 256 KB at 7168 columns (fewer passes of the tokens from L3) and tie at 4096. */
#define F32_TILE_MIN_TOKENS 3
#define F32_TILE_BLOCK_BYTES (512 * 1024)
/* Groups per run of one k over the block: 4 tokens x 128 x 32 bytes = 16 KB of the token record in L1. */
#define F32_TILE_RUN_GROUPS 128

static void pack_token_groups(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    for (int64_t g = begin; g < end; g++) {
        const float *x[CN_F32_TILE_TOKENS];
        for (int t = 0; t < CN_F32_TILE_TOKENS; t++) {
            const int64_t token = CN_F32_TILE_TOKENS * g + t;
            x[t] = job->x + (token < job->n_tokens ? token : job->n_tokens - 1) * job->x_stride; /* extra: dropped */
        }
        cn_f32_tile_pack(x, CN_F32_TILE_TOKENS, job->w->cols, job->xf + g * job->xf_floats);
    }
}

static void matmul_rows_f32_tiles(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    const int64_t n = w->cols, w_floats = cn_f32_tile_record_floats(CN_F32_TILE_ROWS, n);
    const int64_t token_groups = (job->n_tokens + CN_F32_TILE_TOKENS - 1) / CN_F32_TILE_TOKENS;
    int64_t records = F32_TILE_BLOCK_BYTES / (w_floats * (int64_t)sizeof(float));
    if (records < 1) records = 1;
    if (records > (end - begin + CN_F32_TILE_ROWS - 1) / CN_F32_TILE_ROWS) records = (end - begin + CN_F32_TILE_ROWS - 1) / CN_F32_TILE_ROWS;
    float *panel = cn_scratch_alloc((size_t)(records * w_floats) * sizeof *panel);
    float *row = NULL; /* formats without a record decoder: one row decoded, then rearranged */
    float(*partials)[4][CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8] = cn_scratch_alloc((size_t)records * sizeof *partials);
    for (int64_t o0 = begin; o0 < end; o0 += records * CN_F32_TILE_ROWS) {
        const int64_t nb = end - o0 < records * CN_F32_TILE_ROWS ? end - o0 : records * CN_F32_TILE_ROWS;
        const int64_t nq = (nb + CN_F32_TILE_ROWS - 1) / CN_F32_TILE_ROWS;
        for (int64_t q = 0; q < nq; q++)
            for (int r = 0; r < CN_F32_TILE_ROWS; r++) {
                const int64_t o = o0 + (CN_F32_TILE_ROWS * q + r < nb ? CN_F32_TILE_ROWS * q + r : nb - 1); /* extra: dropped */
                float *record = panel + q * w_floats;
                if (!cn_row_decode_avx2_line(w, o, record, r, CN_F32_TILE_ROWS)) {
                    if (!row) row = cn_scratch_alloc((size_t)n * sizeof *row);
                    job->decode(w, o, row);
                    cn_f32_tile_pack_line(row, r, CN_F32_TILE_ROWS, n, record);
                }
            }
        /* The next block's stored rows, fetched a slice per tile while these tiles run: decoding
         * from memory is latency-bound otherwise (the hardware prefetcher idles during the tiles). */
        const int64_t next = end - (o0 + nb) < records * CN_F32_TILE_ROWS ? end - (o0 + nb) : records * CN_F32_TILE_ROWS;
        const char *ahead = (const char *)(w->data + (size_t)(o0 + nb) * w->row_bytes);
        const int64_t ahead_lines = (next * (int64_t)w->row_bytes + 63) / 64, per_tile = ahead_lines / (token_groups * nq) + 1;
        int64_t fetched = 0;
        for (int64_t g = 0; g < token_groups; g++) {
            const float *xr = job->xf + g * job->xf_floats;
            const int64_t t0 = CN_F32_TILE_TOKENS * g;
            const int nt = job->n_tokens - t0 < CN_F32_TILE_TOKENS ? (int)(job->n_tokens - t0) : CN_F32_TILE_TOKENS;
            /* one k and a run of groups over the block: that part of the token record stays in L1 */
            memset(partials, 0, (size_t)nq * sizeof *partials);
            for (int k = 0; k < 4; k++)
                for (int64_t g0 = 0; g0 < n / 32; g0 += F32_TILE_RUN_GROUPS) {
                    const int64_t g1 = n / 32 - g0 < F32_TILE_RUN_GROUPS ? n / 32 : g0 + F32_TILE_RUN_GROUPS;
                    for (int64_t q = 0; q < nq; q++) cn_f32_tile_dot_k(panel + q * w_floats, xr, n, k, g0, g1, partials[q][k]);
                }
            for (int64_t q = 0; q < nq; q++) {
                for (int64_t l = 0; l < per_tile && fetched < ahead_lines; l++, fetched++) __builtin_prefetch(ahead + 64 * fetched, 0, 2);
                float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS];
                cn_f32_tile_finish(panel + q * w_floats, xr, n, (const float(*)[CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8])partials[q], out);
                const int64_t r0 = o0 + CN_F32_TILE_ROWS * q;
                const int nr = end - r0 < CN_F32_TILE_ROWS ? (int)(end - r0) : CN_F32_TILE_ROWS;
                for (int t = 0; t < nt; t++)
                    for (int r = 0; r < nr; r++) job->y[(t0 + t) * job->y_stride + r0 + r] = out[r][t];
            }
        }
    }
    free(panel);
    free(row);
    free(partials);
}

/* ---- 8-bit activations (q8_activations.h) ----
 * Each token's row is quantised once per call, by itself (so its int8 values and scales do not
 * depend on the other tokens), and every output element is the bits of one cn_q8_dot of a stored
 * row with one quantised token: the many-token kernels (q8_dot_many.h) share the unpacked weights
 * between the tokens of a group but give each token exactly cn_q8_dot's bits, whatever the group,
 * as do AVX2, NEON with or without SDOT and the scalar reference. So one token or many, any thread
 * split, prefill, chunked prefill, decode and batches agree bitwise here too. */

static void quantize_tokens(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    for (int64_t t = begin; t < end; t++) {
        uint8_t *xq = job->xq + (size_t)t * job->xq_bytes;
        cn_q8_quantize(job->layout, job->x + t * job->x_stride, job->w->cols, xq, job->q8_kernel);
        if (job->xt) job->tiles.x_from(xq, job->w->cols, job->xt + (size_t)t * job->tiles.x_bytes);
    }
}

/* Stored weight bytes per block of rows: the block stays in L2 while every token group passes
 * over it, so a prompt's quantised tokens stream once per block instead of once per row, and a
 * group's tokens (CN_Q8_MANY_MAX x 1.1 bytes per weight) stay in L1 across the block's rows. */
#define Q8_ROW_BLOCK_BYTES (64 * 1024)

static void matmul_rows_q8(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    int64_t block = (int64_t)(Q8_ROW_BLOCK_BYTES / w->row_bytes);
    if (block < 1) block = 1;
    for (int64_t o0 = begin; o0 < end; o0 += block) {
        const int64_t o1 = end - o0 < block ? end : o0 + block;
        for (int64_t t0 = 0; t0 < job->n_tokens; t0 += CN_Q8_MANY_MAX) {
            const int group = job->n_tokens - t0 < CN_Q8_MANY_MAX ? (int)(job->n_tokens - t0) : CN_Q8_MANY_MAX;
            const uint8_t *xq = job->xq + (size_t)t0 * job->xq_bytes;
            for (int64_t o = o0; o < o1 && group == 1; o++) /* decode: the one-token kernel, no regrouping */
                job->y[t0 * job->y_stride + o] = cn_q8_dot(w->dtype, w->data + (size_t)o * w->row_bytes, cn_matrix_row_scales(w, o), xq,
                                                           w->cols, job->q8_kernel);
            for (int64_t o = o0; o < o1 && group > 1; o++) {
                float out[CN_Q8_MANY_MAX];
                cn_q8_dot_many(w->dtype, w->data + (size_t)o * w->row_bytes, cn_matrix_row_scales(w, o), xq, job->xq_bytes, group, w->cols,
                               job->q8_kernel, out);
                for (int i = 0; i < group; i++) job->y[(t0 + i) * job->y_stride + o] = out[i];
            }
        }
    }
}

/* Q8_0 and Q4_K (AVX-512 VNNI or AVX2) with many tokens: 2-row x 4-token GEMM tiles
 * (q8_0_tiles.h, q4_k_tiles.h), the same bits as cn_q8_dot. A block of rows (Q8_ROW_BLOCK_BYTES
 * once rearranged: what the tiles read, and a scratch under glibc's 128 KB mmap threshold, so
 * no page faults per call) is rearranged once into this thread's scratch and stays in L2 while
 * every group of four tokens (their rearranged records in L1) passes over it in pairs of rows.
 * Fewer tokens take matmul_rows_q8, since the rearranging is paid once per row for all of them.
 * Measured one thread, CPU time, machine loaded (docs/performance.md): Q8_0 (1,927 rows of 4096),
 * the tile against the many-token kernel, AVX2 kind: 4 tokens 0.80 against 0.96 ms, 16: 2.92
 * against 3.51 (VNNI: 0.89 / 0.98 and 2.15 / 3.18); at 2 about even. Q4_K (3,640 rows of 4096):
 * the tile (AVX2 or VNNI alike) against the AVX2 many-token kernel, AVX2 kind: 6 tokens 1.76
 * against 1.87 ms, 8: 2.14 / 2.33, 10: 2.63 / 3.12, 16: 1.39x, 256: 1.64x; at 4 about even, at 5
 * it loses (a second group of four with one token: the rows' rearranging, some 2 tokens' worth of
 * tile work per row, is not paid back). */
#define Q8_0_TILE_MIN_TOKENS 4
#define Q4_K_TILE_MIN_TOKENS 8
static void q8_0_w_from(const uint8_t *row, int64_t n, void *out) { cn_q8_0_tile_w_from(row, n, out); }
static void q8_0_x_from(const void *xq, int64_t n, void *out) { cn_q8_0_tile_x_from(xq, n, out); }
static void q8_0_dot(const void *const w[TILE_ROWS], const void *const x[TILE_TOKENS], int64_t n, float out[TILE_ROWS][TILE_TOKENS]) {
    const cn_q8_0_tile_w *wt[TILE_ROWS] = {w[0], w[1]};
    const cn_q8_0_tile_x *xt[TILE_TOKENS] = {x[0], x[1], x[2], x[3]};
    cn_q8_0_tile_dot(wt, xt, n, cn_q8_kernel_best(), out);
}
static void q4_k_w_from(const uint8_t *row, int64_t n, void *out) { cn_q4_k_tile_w_from(row, n, out); }
static void q4_k_x_from(const void *xq, int64_t n, void *out) { cn_q4_k_tile_x_from(xq, n, out); }
static void q4_k_dot(const void *const w[TILE_ROWS], const void *const x[TILE_TOKENS], int64_t n, float out[TILE_ROWS][TILE_TOKENS]) {
    const cn_q4_k_tile_w *wt[TILE_ROWS] = {w[0], w[1]};
    const cn_q4_k_tile_x *xt[TILE_TOKENS] = {x[0], x[1], x[2], x[3]};
    cn_q4_k_tile_dot(wt, xt, n, cn_q8_kernel_best(), out);
}

/* The tiles for w and this many tokens under this kernel kind; false where there are none. */
static bool tile_format_of(const cn_matrix *w, int64_t n_tokens, cn_q8_kernel kernel, tile_format *f) {
    const int64_t records = cn_q8_0_tile_records(w->cols), blocks = w->cols / 256;
    if (w->dtype == CN_DTYPE_Q8_0 && n_tokens >= Q8_0_TILE_MIN_TOKENS && (kernel == CN_Q8_AVX512_VNNI || kernel == CN_Q8_AVX2)) {
        *f = (tile_format){(size_t)records * sizeof(cn_q8_0_tile_w), (size_t)records * sizeof(cn_q8_0_tile_x), q8_0_w_from,
                           q8_0_x_from, q8_0_dot};
        return true;
    }
    if (w->dtype == CN_DTYPE_Q4_K && n_tokens >= Q4_K_TILE_MIN_TOKENS && (kernel == CN_Q8_AVX512_VNNI || kernel == CN_Q8_AVX2)) {
        *f = (tile_format){(size_t)blocks * sizeof(cn_q4_k_tile_w), (size_t)blocks * sizeof(cn_q4_k_tile_x), q4_k_w_from,
                           q4_k_x_from, q4_k_dot};
        return true;
    }
    return false;
}

static void matmul_rows_tiles(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    const tile_format *f = &job->tiles;
    int64_t block = (int64_t)(Q8_ROW_BLOCK_BYTES / f->w_bytes) & ~(int64_t)1;
    if (block < TILE_ROWS) block = TILE_ROWS;
    if (block > end - begin) block = end - begin;
    uint8_t *rows = cn_scratch_alloc((size_t)block * f->w_bytes);
    for (int64_t o0 = begin; o0 < end; o0 += block) {
        const int64_t nb = end - o0 < block ? end - o0 : block;
        for (int64_t r = 0; r < nb; r++) f->w_from(w->data + (size_t)(o0 + r) * w->row_bytes, w->cols, rows + (size_t)r * f->w_bytes);
        for (int64_t t0 = 0; t0 < job->n_tokens; t0 += TILE_TOKENS) {
            const int nt = job->n_tokens - t0 < TILE_TOKENS ? (int)(job->n_tokens - t0) : TILE_TOKENS;
            const void *x[TILE_TOKENS];
            for (int i = 0; i < TILE_TOKENS; i++) x[i] = job->xt + (size_t)(t0 + (i < nt ? i : 0)) * f->x_bytes; /* extra: dropped */
            for (int64_t r = 0; r < nb; r += TILE_ROWS) {
                const int nr = nb - r < TILE_ROWS ? (int)(nb - r) : TILE_ROWS;
                const void *wr[TILE_ROWS];
                for (int i = 0; i < TILE_ROWS; i++) wr[i] = rows + (size_t)(r + (i < nr ? i : 0)) * f->w_bytes;
                float out[TILE_ROWS][TILE_TOKENS];
                f->dot(wr, x, w->cols, out);
                for (int i = 0; i < nr; i++)
                    for (int t = 0; t < nt; t++) job->y[(t0 + t) * job->y_stride + o0 + r + i] = out[i][t];
            }
        }
    }
    free(rows);
}

void cn_matmul(cn_threadpool *pool, const cn_matrix *w, const float *x, int64_t x_stride,
               int64_t n_tokens, float *y, int64_t y_stride) {
    const bool avx2 = cn_cpu_has_avx2_fma();
    matmul_job job = {.w = w, .x = x, .x_stride = x_stride, .n_tokens = n_tokens, .y = y, .y_stride = y_stride,
                      .layout = CN_Q8_NONE, .q8_kernel = CN_Q8_SCALAR, .e4m3_rows = CN_E4M3_ROWS_NONE};
    if (w->act_q8 && (job.layout = cn_q8_layout_of(w->dtype)) != CN_Q8_NONE && n_tokens > 0) {
        job.q8_kernel = cn_q8_kernel_best();
        job.xq_bytes = cn_q8_row_bytes(job.layout, w->cols);
        job.xq = cn_scratch_alloc((size_t)n_tokens * job.xq_bytes);
        const bool tiles = tile_format_of(w, n_tokens, job.q8_kernel, &job.tiles);
        if (tiles) job.xt = cn_scratch_alloc((size_t)n_tokens * job.tiles.x_bytes);
        if (n_tokens >= 4) cn_parallel_for(pool, n_tokens, quantize_tokens, &job);
        else quantize_tokens(&job, 0, n_tokens);
        cn_parallel_for(pool, w->rows, tiles ? matmul_rows_tiles : matmul_rows_q8, &job);
        free(job.xq);
        free(job.xt);
        return;
    }
    if (avx2) {
        job.dot = cn_row_dot_avx2, job.decode = cn_row_decode_avx2;
        if (w->dtype == CN_DTYPE_F8_E4M3 && n_tokens <= 2) job.e4m3_rows = cn_e4m3_rows_best();
    } else if (cn_cpu_has_neon()) {
        job.dot = cn_row_dot_neon, job.decode = cn_row_decode_neon;
    }
    if (avx2 && n_tokens >= F32_TILE_MIN_TOKENS && cn_f32_tiles_available()) {
        const int64_t groups = (n_tokens + CN_F32_TILE_TOKENS - 1) / CN_F32_TILE_TOKENS;
        job.xf_floats = cn_f32_tile_record_floats(CN_F32_TILE_TOKENS, w->cols);
        job.xf = cn_scratch_alloc((size_t)(groups * job.xf_floats) * sizeof *job.xf);
        if (groups >= 2) cn_parallel_for(pool, groups, pack_token_groups, &job);
        else pack_token_groups(&job, 0, groups);
        cn_parallel_for(pool, w->rows, matmul_rows_f32_tiles, &job);
        free(job.xf);
        return;
    }
    cn_parallel_for(pool, w->rows, job.dot ? matmul_rows_fused : matmul_rows_portable, &job);
}
