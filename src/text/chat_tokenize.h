/* A rendered chat prompt (chat_prompt.h) to token ids: control segments by their id, text segments
 * encoded with no added tokens recognised, so text a user wrote that spells "<｜User｜>" stays
 * plain text, ids segments as their ids. Where the text spells no added token, the ids equal HF tokenizers' encode of the
 * reference's flat string (tests/test_chat_prompt_ids.c). */
#ifndef CN_TEXT_CHAT_TOKENIZE_H
#define CN_TEXT_CHAT_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/chat_prompt.h"
#include "text/tokenizer.h"

/* *ids is malloc'd (free() it; NULL when *n is 0). A control segment the tokenizer does not know
 * is an error (CN_ERR_ARG) naming it: a tokenizer from another model family. */
cn_status cn_chat_prompt_tokenize(const cn_tokenizer *tok, const cn_chat_prompt *prompt, int32_t **ids, size_t *n,
                                  cn_error *err);

#endif
