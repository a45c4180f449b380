/* libclawnet's public interface: what the `clawnet` command and, later, the server and the
 * agent runtime build on. Everything else under src/ is internal.
 *
 *   cn_model_open / cn_model_close          a checkpoint (directory or GGUF), weights bound
 *   cn_model_state_init / cn_kv_state_*     one sequence's state: reset, copy, (de)serialise
 *   cn_model_forward                        logits (and residual streams) for new tokens
 *   cn_model_set_act_q8                     8-bit activations against integer-dot weights (off
 *                                           after cn_model_open; the clawnet CLI's default is on)
 *   cn_model_mtp_forward                    the multi-token-prediction block on its own
 *   cn_sampler_*                            greedy / temperature, top-k, top-p, seeded
 *   cn_logit_stats_*, cn_kl_divergence      KL, top-1, NLL / perplexity of logits vs a reference
 *   cn_checkpoint_* , cn_model_config_*     inspecting a checkpoint without running it
 *   cn_tokenizer_*, cn_detokenizer_*       DeepSeek-V4 tokenizer.json: encode, decode, streaming
 *   cn_chat_encode, cn_chat_prompt_tokenize messages -> the V4 chat prompt -> token ids
 *   cn_output_parser_*                      model text -> reasoning, content, tool-call events
 *
 * Errors are values: every call that can fail returns a cn_status and fills a cn_error.
 * A model is used by one forward call at a time (its worker threads are shared); run several
 * sequences by giving each its own cn_kv_state. */
#ifndef CLAWNET_CLAWNET_H
#define CLAWNET_CLAWNET_H

#include "base/error.h"
#include "format/checkpoint.h"
#include "format/model_config.h"
#include "kv/state.h"
#include "model/model.h"
#include "sample/logit_stats.h"
#include "sample/sampler.h"
#include "text/chat_encode.h"
#include "text/chat_json.h"
#include "text/chat_tokenize.h"
#include "text/detokenize.h"
#include "text/output_parser.h"
#include "text/tokenizer.h"

#endif
