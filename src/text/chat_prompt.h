/* A rendered chat prompt: one UTF-8 string cut into segments that are either text (to be
 * tokenised with added tokens NOT recognised), a control token (to be inserted by id: the
 * segment's bytes are the token's string, e.g. "<｜User｜>", for cn_tokenizer_token_id), or text
 * whose token ids are already known (an assistant turn as the model sampled it: the server's
 * exact round trip, serve/reply_registry.h), inserted as those ids.
 *
 * The reference encoder renders one string and lets the tokenizer find the special tokens in it,
 * which also finds them inside user text; keeping the encoder's own markers apart is what lets the
 * tokenizer treat everything the user wrote as plain text (docs/chat.md). */
#ifndef CN_TEXT_CHAT_PROMPT_H
#define CN_TEXT_CHAT_PROMPT_H

#include "base/error.h"
#include "text/chat_bytes.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CN_CHAT_SEGMENT_TEXT,
    CN_CHAT_SEGMENT_CONTROL,
    CN_CHAT_SEGMENT_IDS, /* text spelled by the ids [id_offset, id_offset + id_count) of .ids */
} cn_chat_segment_kind;

typedef struct {
    cn_chat_segment_kind kind;
    size_t offset; /* into cn_chat_prompt.text */
    size_t length;
    size_t id_offset, id_count; /* CN_CHAT_SEGMENT_IDS */
} cn_chat_segment;

typedef struct {
    cn_chat_bytes text;         /* the flat prompt: every segment, in order, back to back */
    cn_chat_segment *segments;  /* adjacent text segments are merged */
    size_t segment_count;
    size_t segment_capacity;
    int32_t *ids;               /* the ids of CN_CHAT_SEGMENT_IDS segments */
    size_t id_count, id_capacity;
} cn_chat_prompt;

/* Appends outside text (message content, reasoning, tool output, argument values): it must be
 * valid UTF-8; C0 80 (U+0000 as stored by chat_json.h) becomes a NUL byte. */
cn_status cn_chat_prompt_text(cn_chat_prompt *p, const char *s, cn_error *err);

/* Appends one control token (its string, exactly as in tokenizer.json). */
cn_status cn_chat_prompt_control(cn_chat_prompt *p, const char *token, cn_error *err);

/* Appends encoder-owned template text, splitting out every control token it mentions (the tools
 * block spells out <｜DSML｜…> markup and <think>, which the reference tokenizes as added tokens). */
cn_status cn_chat_prompt_template(cn_chat_prompt *p, const char *s, cn_error *err);

/* Appends JSON text the encoder wrote itself (json.dumps output): text, kept as is. */
cn_status cn_chat_prompt_raw_text(cn_chat_prompt *p, const char *s, size_t length, cn_error *err);

/* Replaces segments [first_segment, segment_count) by one CN_CHAT_SEGMENT_IDS segment covering the
 * same text and holding ids[0..n) (copied, n >= 1). The text is unchanged: the caller vouches that
 * the ids spell it, control tokens included (serve/reply_registry.c checks this segment by segment
 * before it offers ids). CN_ERR_ARG when first_segment is not a segment. */
cn_status cn_chat_prompt_replace_with_ids(cn_chat_prompt *p, size_t first_segment, const int32_t *ids, size_t n,
                                          cn_error *err);

void cn_chat_prompt_free(cn_chat_prompt *p);

#endif
