/* Mapping every naming scheme to the canonical (DeepSeek official) tensor names. */
#ifndef CN_FORMAT_TENSOR_NAMES_H
#define CN_FORMAT_TENSOR_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Converts a transformers name (model.layers.3.self_attn.q_a_proj.weight) to the canonical
 * one (layers.3.attn.wq_a.weight). Returns false if the name is not one V4 uses. */
bool cn_tensor_name_from_transformers(const char *hf_name, char *out, size_t out_size);

/* True if the name looks like a transformers name rather than an official one. */
bool cn_tensor_name_is_transformers(const char *name);

#endif
