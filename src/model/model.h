/* A loaded DeepSeek-V4 model and its forward pass (specs/deepseek-v4.md 2): embedding,
 * n residual streams through L blocks (mHC -> attention -> mHC -> MoE), the HC head, the
 * final norm and the LM head. The per-sequence state lives in a cn_kv_state the caller owns,
 * so one model serves many sequences. */
#ifndef CN_MODEL_MODEL_H
#define CN_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "format/checkpoint.h"
#include "kv/state.h"
#include "model/block.h"
#include "model/rope.h"
#include "model/weights.h"

typedef struct {
    cn_checkpoint ckpt;
    const cn_model_config *cfg;  /* = &ckpt.config */
    cn_model_weights weights;
    cn_rope rope_main, rope_compress;
    cn_threadpool *pool;
    cn_routing_observer observer;
    int64_t max_chunk;           /* longer inputs are processed in chunks of this many tokens */
} cn_model;

/* Opens a checkpoint (directory or .gguf) and binds its weights. n_threads <= 0: all CPUs. */
cn_status cn_model_open(const char *path, int n_threads, cn_model **out, cn_error *err);
/* Takes ownership of an already opened checkpoint (closed on failure too). */
cn_status cn_model_from_checkpoint(cn_checkpoint *ckpt, int n_threads, cn_model **out, cn_error *err);
void cn_model_close(cn_model *model);

/* 8-bit activations against the weights stored as Q2_K..Q6_K, IQ2_XXS, Q8_0 or MXFP4
 * (tensor/q8_activations.h): every matmul over such a weight quantises its input rows to int8 (per
 * 256 or per 32 elements) and computes integer dot products; F32, BF16, F16 and FP8 weights are not
 * affected. About twice as fast on those formats, slightly less exact (docs/performance.md: KL 3-7e-4
 * on trained weights); every split of a sequence still gives the same bits. Call between forward
 * passes, not during one.
 * Off (f32 activations, the exact path the oracle tests check) in a model cn_model_open returns:
 * the library makes no trade of accuracy for speed by itself. The `clawnet` commands turn it on
 * unless given --act f32 (src/cli/prompt_args.h), as llama.cpp does for these formats. */
void cn_model_set_act_q8(cn_model *model, bool on);

/* An empty state for one sequence of the main model (L layers), rows stored F32 (the oracle
 * precision). */
cn_status cn_model_state_init(const cn_model *model, cn_kv_state *st, cn_error *err);
/* The same with chosen row encodings (kv/state.h cn_kv_options; {0} = F32). For one encoding,
 * prefill, decode and chunked prefill stay bitwise equal: each row is encoded once when written. */
cn_status cn_model_state_init_opts(const cn_model *model, cn_kv_state *st, const cn_kv_options *opts, cn_error *err);

/* Processes n tokens at positions st->n_tokens.. and advances the state. Outputs, each
 * optional: logits [n][V]; streams [n][hc_mult][D], the residual streams after the last
 * block (the MTP block's input). Any split of a sequence into calls gives the same result. */
cn_status cn_model_forward(cn_model *model, cn_kv_state *st, const int32_t *tokens, int64_t n, float *logits,
                           float *streams, cn_error *err);

/* One sequence's part of a batched forward: n tokens (n >= 1) fed at state->n_tokens..;
 * last_logits [V] (optional) receives the logits of the last of them only, which is all a server
 * needs to sample and spares the LM head for the rest of a prompt chunk. */
typedef struct {
    cn_kv_state *state;
    const int32_t *tokens;
    int64_t n;
    float *last_logits;
} cn_forward_item;

/* Several sequences at once (continuous batching): each item is advanced exactly as
 * cn_model_forward(state, tokens, n, ...) would advance it, bit for bit (same state, same logits), whatever the
 * batch; the work that does not depend on a sequence's state (projections, MoE experts, the LM
 * head) can then read each weight once for all of them. States must be distinct. On error no
 * state is advanced past the failing chunk and err names the item. */
cn_status cn_model_forward_batch(cn_model *model, const cn_forward_item *items, int count, cn_error *err);

/* The multi-token-prediction block (section 9), run on its own: for positions p0.., given
 * the main model's final streams [n][hc_mult][D] there and the tokens that follow them
 * (next_tokens[i] = token at position p0+i+1), writes logits [n][V] predicting the token after
 * that. mtp_state is a one-layer state from cn_model_mtp_state_init. */
bool cn_model_has_mtp(const cn_model *model);
cn_status cn_model_mtp_state_init(const cn_model *model, cn_kv_state *st, cn_error *err);
cn_status cn_model_mtp_forward(cn_model *model, cn_kv_state *mtp_state, const float *streams,
                               const int32_t *next_tokens, int64_t n, float *logits, cn_error *err);

#endif
