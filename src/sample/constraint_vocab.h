/* What every grammar constraint reads about the vocabulary, built once per tokenizer and shared
 * read-only by all requests: the byte table (token_bytes.h), the trie over its TEXT tokens
 * (token_trie.h) and the list of CONTROL ids. */
#ifndef CN_SAMPLE_CONSTRAINT_VOCAB_H
#define CN_SAMPLE_CONSTRAINT_VOCAB_H

#include <stdbool.h>

#include "sample/token_bytes.h"
#include "sample/token_trie.h"

/* Inside free text most of the vocabulary is allowed whatever came before, so walking all of it
 * each step would cost milliseconds. Such tokens are set from a precomputed class bitset and
 * only the others are walked, in a trie of their own:
 * - json_plain: complete, valid UTF-8 characters, none of them '"', '\\', a control character
 *   (< 0x20) or U+FF5C: always allowed inside a JSON string between characters (json_automaton.h);
 * - text_plain: complete, valid UTF-8 characters, none of them U+FF5C: always allowed inside a
 *   DSML string parameter value between characters (tool_call_constraint.h);
 * - reason_plain: no '>' byte: can never complete "</think>", so always allowed in reasoning. */
typedef struct {
    const cn_token_bytes *bytes; /* borrowed: must outlive the vocab */
    cn_token_trie *trie;         /* all TEXT tokens */
    int32_t *control_ids;
    size_t n_control;
    uint64_t *json_plain;
    int64_t n_json_plain;
    cn_token_trie *json_other; /* TEXT tokens outside json_plain */
    uint64_t *text_plain;
    int64_t n_text_plain;
    cn_token_trie *text_other;
    uint64_t *reason_plain;
    int64_t n_reason_plain;
    cn_token_trie *reason_other;
} cn_constraint_vocab;

cn_status cn_constraint_vocab_create(const cn_token_bytes *bytes, cn_constraint_vocab **out, cn_error *err);
void cn_constraint_vocab_free(cn_constraint_vocab *vocab);

/* Applies an allowed-id bitset to logits: every id of [0, vocab) whose bit is clear (or that the
 * table does not have) becomes -INFINITY. */
void cn_constraint_apply_bits(const uint64_t *allowed, int32_t n_ids, float *logits, int64_t vocab);

/* True if some bit of [0, n) is set. */
bool cn_constraint_any_bit(const uint64_t *allowed, int64_t n);

#endif
