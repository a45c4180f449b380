/* The exact round trip of whole replies (issue 5, item 5): the token ids the model sampled for a
 * reply, kept so that a later request that re-sends the reply as an assistant turn renders it as
 * those same ids. Tokenizing the reply's text again would give the tokenizer's canonical split,
 * which a sampled (and, for tool calls and JSON, constrained) sequence rarely is; the prompt would
 * then leave the sequence the engine has cached right after the earlier prompt, and the whole
 * reply would be prefilled again.
 *
 * Keyed by what the reply spells: its segments of text and control tokens (maximal runs of plain
 * token bytes, and each added token by its string), which is also how the chat encoder's segments
 * of a re-sent assistant turn read (text/chat_encode.h, assistant_body). A turn whose segments
 * equal a remembered reply's exactly is swapped for the reply's ids, so the swap never changes the
 * text the model sees, only how it is split into tokens. The exact DSML bytes of tool calls come
 * first from serve/tool_call_registry.h (by call id); without them a turn with tool calls would
 * not spell the model's bytes and would not match here.
 *
 * Bounded: at most `capacity` replies and `max_bytes` (keys plus ids), least recently used
 * dropped first. Thread safe (one registry serves every connection). */
#ifndef CN_SERVE_REPLY_REGISTRY_H
#define CN_SERVE_REPLY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/chat_prompt.h"
#include "text/tokenizer.h"

typedef struct serve_replies serve_replies;

/* The tokenizer (kept, not owned) reads ids into segments; it must outlive the registry. */
cn_status serve_replies_create(const cn_tokenizer *tokenizer, size_t capacity, size_t max_bytes, serve_replies **out,
                               cn_error *err);
void serve_replies_free(serve_replies *registry);

/* Remembers the ids of one reply (what followed the generation prompt, the stop id left out).
 * Replaces a reply that spells the same segments. CN_ERR_ARG for no ids, an id the tokenizer does
 * not know, or a reply larger than max_bytes. */
cn_status serve_replies_put(serve_replies *registry, const int32_t *ids, size_t n, cn_error *err);

/* The chat encoder's assistant_body hook (cn_chat_options; context: the registry): swaps the body
 * [first_segment, end) for a remembered reply's ids when it spells exactly the same segments. */
cn_status serve_replies_swap_body(void *registry, cn_chat_prompt *prompt, size_t first_segment, cn_error *err);

size_t serve_replies_count(serve_replies *registry);

/* Bodies swapped so far (for tests and metrics). */
uint64_t serve_replies_swaps(serve_replies *registry);

#endif
