/* Streaming detokenizer: ids in, UTF-8 text out as soon as it is complete. A token may end in
 * the middle of a character (byte-level BPE splits rare characters into byte tokens), so the
 * incomplete tail is held back until the next token completes it. Ill-formed parts become
 * U+FFFD exactly where HF's decode of the whole sequence (from_utf8_lossy) puts them, so the
 * concatenated output equals cn_tokenizer_decode of all the ids. */
#ifndef CN_TEXT_DETOKENIZE_H
#define CN_TEXT_DETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/tokenizer.h"

typedef struct cn_detokenizer cn_detokenizer;

/* A detokenizer reading tok's tokens (tok must outlive it). */
cn_status cn_detokenizer_new(const cn_tokenizer *tok, cn_detokenizer **out, cn_error *err);
void cn_detokenizer_free(cn_detokenizer *d);

/* Feeds one id. *text / *len receive the text completed by it (possibly empty, not
 * NUL-terminated), valid until the next call on d. An unknown id is refused and changes nothing. */
cn_status cn_detokenizer_push(cn_detokenizer *d, int32_t id, const char **text, size_t *len, cn_error *err);

/* Ends the stream: a held incomplete character becomes U+FFFD. The detokenizer is then empty
 * and can start a new stream. */
void cn_detokenizer_finish(cn_detokenizer *d, const char **text, size_t *len);

#endif
