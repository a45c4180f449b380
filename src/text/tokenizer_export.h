/* A loaded tokenizer (from tokenizer.json or GGUF) back as llama.cpp's converter stores it in GGUF
 * metadata (convert_hf_to_gguf.py TextModel.get_vocab_base + _set_vocab_gpt2), for clawnet
 * quantize: no second parse of the JSON, the tables the encoder uses are read out. */
#ifndef CN_TEXT_TOKENIZER_EXPORT_H
#define CN_TEXT_TOKENIZER_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/tokenizer.h"

enum { CN_TOKEN_TYPE_NORMAL = 1, CN_TOKEN_TYPE_CONTROL = 3, CN_TOKEN_TYPE_USER_DEFINED = 4, CN_TOKEN_TYPE_UNUSED = 5 };

typedef struct {
    int32_t n_tokens;
    char **tokens;      /* per id, NUL-terminated UTF-8 (tokenizer.ggml.tokens) */
    size_t *token_len;  /* per id, its byte length */
    int32_t *types;     /* per id, tokenizer.ggml.token_type */
    size_t n_merges;
    char **merges;      /* "left right" in rank order (tokenizer.ggml.merges) */
} cn_tokenizer_vocab;

/* The converter's per-id rule for ids 0 .. max(n_vocab, id count)-1:
 *   an added token: its content, CONTROL (3) if special or "looking special" ("<|...|>",
 *     "<｜...｜>", "<pad>", "<unused...>", ...), otherwise USER_DEFINED (4, U+2581 -> space);
 *   a vocabulary entry: its tokenizer.json spelling (byte-level alphabet), NORMAL (1);
 *   an id with neither: "[PAD<id>]", UNUSED (5).
 * Merges in rank order, spelled in the byte-level alphabet. */
cn_status cn_tokenizer_export_vocab(const cn_tokenizer *tok, int32_t n_vocab, cn_tokenizer_vocab *out, cn_error *err);
void cn_tokenizer_vocab_free(cn_tokenizer_vocab *v);

#endif
