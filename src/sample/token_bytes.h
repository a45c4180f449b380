/* The vocabulary as byte strings, for constrained decoding: per id, the exact bytes the token
 * decodes to (what the streaming detokenizer appends before UTF-8 repair) and whether it is a
 * control token. sample/ does not know the tokenizer (text/ sits above it), so the table is
 * filled by whoever has one: text/token_bytes_export.h builds it from a cn_tokenizer.
 *
 * Control tokens (the added tokens of tokenizer.json: <｜end▁of▁sentence｜>, <think>, ｜DSML｜,
 * ...) are never matched as text by a grammar: a grammar names the control ids it allows, so
 * "｜DSML｜" spelled with ordinary tokens and the single ｜DSML｜ token stay distinct.
 * Built once, then read-only: one table serves every request and thread. */
#ifndef CN_SAMPLE_TOKEN_BYTES_H
#define CN_SAMPLE_TOKEN_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum {
    CN_TOKEN_ABSENT = 0, /* no token has this id: never allowed */
    CN_TOKEN_TEXT,       /* an ordinary vocabulary entry: its bytes are matched by grammars */
    CN_TOKEN_CONTROL,    /* an added/special token: only allowed where a grammar names its id */
} cn_token_kind;

typedef struct cn_token_bytes cn_token_bytes;

/* An empty table for ids 0 .. n_ids-1 (all ABSENT). */
cn_status cn_token_bytes_create(int32_t n_ids, cn_token_bytes **out, cn_error *err);
void cn_token_bytes_free(cn_token_bytes *tb);

/* Sets id's bytes (copied) and kind. A TEXT token must have at least one byte. */
cn_status cn_token_bytes_set(cn_token_bytes *tb, int32_t id, const uint8_t *bytes, size_t len, cn_token_kind kind,
                             cn_error *err);

int32_t cn_token_bytes_count(const cn_token_bytes *tb);
cn_token_kind cn_token_bytes_kind(const cn_token_bytes *tb, int32_t id);
/* id's bytes (NULL for ABSENT or out of range). */
const uint8_t *cn_token_bytes_get(const cn_token_bytes *tb, int32_t id, size_t *len);
/* The CONTROL token whose bytes are exactly s, or -1 ("｜DSML｜", "</think>"). */
int32_t cn_token_bytes_find_control(const cn_token_bytes *tb, const char *s);
/* The longest TEXT token, in bytes (bounds the depth of a walk over the vocabulary). */
size_t cn_token_bytes_max_len(const cn_token_bytes *tb);

#endif
