/* The lightning indexer of CSA layers (specs/deepseek-v4.md 5.5): scores every visible
 * compressed entry for a query, Σ_h w_h · relu(q_h · K_e), and keeps the top-k. */
#ifndef CN_MODEL_INDEXER_H
#define CN_MODEL_INDEXER_H

#include <stdint.h>

#include "base/threadpool.h"
#include "format/model_config.h"
#include "kv/state.h"
#include "model/rope.h"
#include "model/weights.h"

/* For S queries (qr [S][Rq] the attention's normalised query latent, a [S][D] the attention
 * input) selects up to index_topk visible entries each. selected [S][index_topk] gets entry
 * indices in ascending order, n_selected [S] their count. Ties go to the lower index: of
 * entries with equal scores the ones with lower compressed-entry indices are kept, whatever the
 * thread count or the split of a sequence into calls. With FP4 keys (kv/row_codec.h) the
 * queries are Hadamard-rotated and FP4 round-tripped like the keys were (official numerics). */
void cn_indexer_select(cn_threadpool *pool, const cn_model_config *cfg, const cn_indexer_weights *w,
                       const cn_rope *rope, int ratio, const cn_kv_rows *keys, const float *qr, const float *a,
                       int64_t S, int64_t p0, int32_t *selected, int32_t *n_selected);

#endif
