/* Storage encodings of the per-sequence KV rows (specs/kv-store.md 4.1, specs/deepseek-v4.md
 * 4.6 and 6.1). A row of `width` floats is stored as:
 *   F32   width * 4 bytes, exact;
 *   BF16  width * 2 bytes, round to nearest even;
 *   FP8   the first width - rope_dim ("nope") values as OCP e4m3fn in blocks of `block`, one
 *         E8M0 power-of-two scale per block (the official act_quant: s = 2^ceil(log2(amax/448)),
 *         amax >= 1e-4, q = e4m3_rne(clamp(x / s)), saturating), the scale bytes padded to a
 *         multiple of 4, then the last rope_dim values as bf16. Row and window KV use block 64
 *         and keep the RoPE dims (448 + 8 + 128 = 584 bytes for d = 512); indexer keys use one
 *         scale for the whole row and no RoPE part (128 + 4 = 132 bytes).
 * Decoding is exact arithmetic (q * 2^k), so decode(encode(x)) is a fixed function of x: a row
 * encoded once when written reads back the same bits however the sequence was chunked. */
#ifndef CN_KV_ROW_CODEC_H
#define CN_KV_ROW_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CN_KV_F32 = 0, CN_KV_BF16 = 1, CN_KV_FP8 = 2 } cn_kv_type;

#define CN_KV_FP8_BLOCK 64

typedef struct {
    cn_kv_type type;
    int64_t width, rope_dim, block; /* block: FP8 values per scale */
    size_t row_bytes;
} cn_kv_codec;

/* "f32", "bf16", "fp8"; NULL for an unknown type. */
const char *cn_kv_type_name(cn_kv_type t);
/* Parses a name as above; false if unknown. */
bool cn_kv_type_parse(const char *name, cn_kv_type *out);

/* A codec for rows of `width` values whose last `rope_dim` stay bf16 under FP8, with one scale per
 * `block` nope values (block <= 0: one scale for all of them). */
cn_kv_codec cn_kv_codec_make(cn_kv_type type, int64_t width, int64_t rope_dim, int64_t block);

void cn_kv_row_encode(const cn_kv_codec *c, const float *row, uint8_t *out);
void cn_kv_row_decode(const cn_kv_codec *c, const uint8_t *in, float *row);

/* The E8M0 exponent byte of the power-of-two scale for a block with this max |x| (spec 13.4). */
uint8_t cn_kv_fp8_scale_byte(float amax);

#endif
