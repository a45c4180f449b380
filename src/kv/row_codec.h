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
 *   FP4   indexer keys only (specs/kv-store.md 4.1: "FP4 68 B"): the nope values as E2M1 in
 *         blocks of 32 with one E8M0 power-of-two scale per block, the official fp4_act_quant
 *         (spec 4.6: s = 2^ceil(log2(amax/6)), amax >= 6 * 2^-126, q = e2m1_rne(clamp(x / s,
 *         -6, 6))); two codes per byte, element 2i in the low nibble (the OCP MXFP4 / checkpoint
 *         packing), then the scale bytes padded to a multiple of 4, then any RoPE dims as bf16.
 *         A 128-key is 64 + 4 = 68 bytes; a row narrower than 32 has one block.
 * Decoding is exact arithmetic (q * 2^k), so decode(encode(x)) is a fixed function of x: a row
 * encoded once when written reads back the same bits however the sequence was chunked. */
#ifndef CN_KV_ROW_CODEC_H
#define CN_KV_ROW_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The values are stored in snapshots and hashed into store fingerprints: never renumber. */
typedef enum { CN_KV_F32 = 0, CN_KV_BF16 = 1, CN_KV_FP8 = 2, CN_KV_FP4 = 3 } cn_kv_type;
#define CN_KV_TYPE_LAST CN_KV_FP4

#define CN_KV_FP8_BLOCK 64
#define CN_KV_FP4_BLOCK 32 /* MXFP4's block; fixed, whatever cn_kv_codec_make is asked */

typedef struct {
    cn_kv_type type;
    int64_t width, rope_dim, block; /* block: FP8 / FP4 values per scale */
    size_t row_bytes;
} cn_kv_codec;

/* "f32", "bf16", "fp8", "fp4"; NULL for an unknown type. */
const char *cn_kv_type_name(cn_kv_type t);
/* Parses a name as above; false if unknown. */
bool cn_kv_type_parse(const char *name, cn_kv_type *out);

/* A codec for rows of `width` values whose last `rope_dim` stay bf16 under FP8 / FP4, with one
 * scale per `block` nope values (block <= 0: one scale for all of them; FP4 always 32). */
cn_kv_codec cn_kv_codec_make(cn_kv_type type, int64_t width, int64_t rope_dim, int64_t block);

void cn_kv_row_encode(const cn_kv_codec *c, const float *row, uint8_t *out);
void cn_kv_row_decode(const cn_kv_codec *c, const uint8_t *in, float *row);

/* The E8M0 exponent byte of the power-of-two scale for a block with this max |x| (spec 13.4). */
uint8_t cn_kv_fp8_scale_byte(float amax);
/* The same for an FP4 block: s = 2^ceil(log2(max(amax, 6 * 2^-126) / 6)) (spec 4.6). */
uint8_t cn_kv_fp4_scale_byte(float amax);

#endif
