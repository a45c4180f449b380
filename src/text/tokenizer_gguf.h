/* The tokenizer from GGUF metadata (llama.cpp's tokenizer.ggml.* keys), for a GGUF already
 * parsed by cn_gguf_parse: a model file or a vocabulary-only file. */
#ifndef CN_TEXT_TOKENIZER_GGUF_H
#define CN_TEXT_TOKENIZER_GGUF_H

#include <stdbool.h>

#include "format/gguf.h"
#include "text/tokenizer.h"

/* True if g has tokenizer metadata at all (tokenizer.ggml.model). */
bool cn_gguf_has_tokenizer(const cn_gguf *g);

/* Builds the tokenizer from g's metadata; the result does not point into g. */
cn_status cn_tokenizer_from_gguf(const cn_gguf *g, cn_tokenizer **tok, cn_error *err);

#endif
