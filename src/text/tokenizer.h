/* DeepSeek-V3/V4's tokenizer, identical to HF tokenizers with DeepSeek's tokenizer.json
 * (specs/tokenizer.md): added-token extraction, the three-pass pre-tokenizer, byte-level BPE, and
 * the byte-level decoder. A loaded tokenizer is read-only: encode and decode from any thread. */
#ifndef CN_TEXT_TOKENIZER_H
#define CN_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct cn_tokenizer cn_tokenizer;

/* Which added tokens (tokenizer.json "added_tokens") are recognised in the text. */
typedef enum {
    CN_ADDED_TOKENS_ALL,          /* all, special or not: HF's default encode */
    CN_ADDED_TOKENS_NONE,         /* none: untrusted user text, "<｜User｜>" stays plain text */
    CN_ADDED_TOKENS_SPECIAL_ONLY, /* only those marked special (not <｜User｜>, <think>, ...) */
} cn_added_tokens_mode;

/* Loads a tokenizer.json, or a GGUF file's tokenizer metadata (recognised by its "GGUF" magic;
 * see cn_tokenizer_load_gguf). Refuses, with a message naming it, any pipeline element other than
 * the ones DeepSeek uses (empty normalizer, the three Splits + ByteLevel, BPE, ByteLevel). */
cn_status cn_tokenizer_load(const char *path, cn_tokenizer **tok, cn_error *err);

/* The tokenizer stored in a GGUF's metadata by llama.cpp's converter (tokenizer.ggml.model "gpt2",
 * tokenizer.ggml.pre "joyai-llm" or "deepseek-v3", tokens, token_type, merges): a model file or a
 * vocabulary-only one. The _data form reads size bytes of a whole GGUF file in memory. */
cn_status cn_tokenizer_load_gguf(const char *path, cn_tokenizer **tok, cn_error *err);
cn_status cn_tokenizer_load_gguf_data(const uint8_t *data, size_t size, cn_tokenizer **tok, cn_error *err);

/* The same from a JSON text in memory (len bytes, need not be NUL-terminated). */
cn_status cn_tokenizer_load_json(const char *json, size_t len, cn_tokenizer **tok, cn_error *err);

void cn_tokenizer_free(cn_tokenizer *tok);

/* Encodes len bytes of UTF-8 text. On success *ids (free() it; NULL when *n is 0) holds *n ids,
 * exactly HF's Tokenizer.encode(text, add_special_tokens=False).ids in mode ALL. Invalid UTF-8
 * is refused (CN_ERR_ARG) with the offset of the first bad byte: HF only accepts valid strings. */
cn_status cn_tokenizer_encode(const cn_tokenizer *tok, const char *text, size_t len, cn_added_tokens_mode mode,
                              int32_t **ids, size_t *n, cn_error *err);

/* Decodes ids to text like HF's decode(ids, skip_special_tokens=False): byte strings joined, then
 * each ill-formed UTF-8 part replaced by U+FFFD. *text is NUL-terminated (free() it); *len
 * excludes the NUL. Unknown ids are refused. */
cn_status cn_tokenizer_decode(const cn_tokenizer *tok, const int32_t *ids, size_t n, char **text, size_t *len,
                              cn_error *err);

/* The raw bytes token id decodes to (possibly a fragment of a UTF-8 character), or NULL. */
const uint8_t *cn_tokenizer_token_bytes(const cn_tokenizer *tok, int32_t id, size_t *len);

/* The id of an added token or vocabulary entry spelled as in tokenizer.json (e.g. "<｜User｜>",
 * "Ġthe"), or -1. */
int32_t cn_tokenizer_token_id(const cn_tokenizer *tok, const char *token);

/* One more than the largest id (129,280 for V4). */
int32_t cn_tokenizer_id_count(const cn_tokenizer *tok);

/* True if id is an added token marked special. */
int cn_tokenizer_is_special(const cn_tokenizer *tok, int32_t id);

/* True if id is an added token (special or not: "<｜User｜>", "<think>", "｜DSML｜", ...), the ids a
 * chat prompt's control segments become (text/chat_tokenize.h). */
int cn_tokenizer_is_added(const cn_tokenizer *tok, int32_t id);

#endif
