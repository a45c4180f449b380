/* The KV compressor (specs/deepseek-v4.md 5.3-5.4): every m tokens pool into one compressed
 * row by a per-channel softmax over learned gate scores. CSA (m = 4) overlaps windows: entry i
 * pools window i-1's first half-channels with window i's second half-channels. The same code
 * serves the attention compressor (dc = head_dim) and the indexer's (dc = index_head_dim). */
#ifndef CN_MODEL_COMPRESSOR_H
#define CN_MODEL_COMPRESSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "format/model_config.h"
#include "kv/state.h"
#include "model/rope.h"
#include "model/weights.h"

/* Feeds S tokens (attention input a [S][D], positions p0..p0+S-1) through the compressor,
 * token by token in order, appending every entry whose window closes to `rows`. Emission
 * happens before attention, so the token closing window i already sees entry i. `hadamard`:
 * each entry is rotated (tensor/hadamard.h) after its RoPE, before `rows` encodes it — the
 * official indexer compressor's step before its FP4 round trip (5.3), used with FP4 keys. */
cn_status cn_compressor_feed(cn_threadpool *pool, const cn_model_config *cfg, const cn_compressor_weights *w,
                             const cn_rope *rope, int ratio, int64_t dc, bool hadamard, cn_kv_compressor *state,
                             cn_kv_rows *rows, const float *a, int64_t S, int64_t p0, cn_error *err);

#endif
