/* The tokenizer's parts, shared by the loader (tokenizer_load.c) and the codec (tokenizer.c). */
#ifndef CN_TEXT_TOKENIZER_INTERNAL_H
#define CN_TEXT_TOKENIZER_INTERNAL_H

#include "text/bpe.h"
#include "text/tokenizer.h"
#include "text/tokenizer_added.h"

struct cn_tokenizer {
    cn_bpe bpe;
    /* HF extracts added tokens in two rounds (added_vocabulary.rs, extract_and_normalize):
     * first those with normalized=false on the raw text, then those with normalized=true on the
     * gaps left (after the normalizer, empty here). The order matters when their contents overlap. */
    cn_added_trie raw_tokens, normalized_tokens;
    uint8_t *special; /* per id: 1 for added tokens marked special */
};

/* The bytes a tokenizer.json string stands for, as HF's ByteLevel decoder reads it: mapped through
 * the byte-level alphabet if every character is in it, otherwise the string's own UTF-8. out must
 * hold len bytes; returns the byte count and sets *in_alphabet. */
size_t cn_tokenizer_spelling_bytes(const char *s, size_t len, uint8_t *out, int *in_alphabet);

/* The id of a merge operand spelled in the byte-level alphabet, or -1. */
int32_t cn_tokenizer_operand_id(const cn_tokenizer *tok, const char *s, size_t len);

#endif
