/* The tokenizer's vocabulary as the byte table constrained decoding reads (sample/token_bytes.h):
 * per id the bytes the streaming detokenizer appends for it, and every added token of
 * tokenizer.json (special or not: <｜end▁of▁sentence｜>, <think>, </think>, ｜DSML｜, ...) marked
 * CONTROL, since a grammar must allow those by id, never by their spelling. */
#ifndef CN_TEXT_TOKEN_BYTES_EXPORT_H
#define CN_TEXT_TOKEN_BYTES_EXPORT_H

#include "base/error.h"
#include "sample/token_bytes.h"
#include "text/tokenizer.h"

cn_status cn_token_bytes_from_tokenizer(const cn_tokenizer *tok, cn_token_bytes **out, cn_error *err);

#endif
