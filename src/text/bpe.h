/* Byte-level BPE as HF tokenizers applies it (specs/tokenizer.md section 1.4): a vocabulary of
 * byte strings, merge rules ranked by their position in the file, and per piece a heap of
 * candidate merges ordered by (rank, position) with HF's stale-entry rule. Tables are built once
 * by the loader and read-only afterwards, so encoding from several threads is safe. */
#ifndef CN_TEXT_BPE_H
#define CN_TEXT_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A growable list of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} cn_token_ids;

cn_status cn_token_ids_push(cn_token_ids *list, int32_t id, cn_error *err);

typedef struct {
    uint64_t key; /* (left id + 1) << 32 | (right id + 1); 0 marks an empty slot */
    uint32_t rank;
    int32_t result;
} cn_bpe_merge_slot;

typedef struct {
    int32_t id_capacity;      /* ids are 0 .. id_capacity-1 */
    uint32_t *token_offset;   /* per id: where its bytes start in bytes_arena */
    uint32_t *token_length;   /* per id: byte length; with token_present telling if it exists */
    uint8_t *token_present;   /* per id: 1 if the vocabulary (or an added token) defines it */
    uint8_t *bytes_arena;
    size_t arena_used, arena_cap;

    int32_t *lookup_slots; /* byte string -> id, open addressing, -1 = empty */
    uint32_t lookup_mask;
    int32_t byte_token[256]; /* the id of each single-byte token, -1 if missing */

    cn_bpe_merge_slot *merge_slots;
    uint32_t merge_mask;
    uint32_t merge_count;
} cn_bpe;

/* Per-call working memory for cn_bpe_encode_piece; zero-initialise, free with cn_bpe_scratch_free. */
typedef struct {
    int32_t *symbol_id, *symbol_prev, *symbol_next;
    struct cn_bpe_candidate *heap;
    size_t symbol_cap, heap_cap, heap_len;
} cn_bpe_scratch;

/* Sizes the tables for ids 0 .. id_capacity-1 and up to expected_tokens / expected_merges. */
cn_status cn_bpe_init(cn_bpe *bpe, int32_t id_capacity, size_t expected_tokens, size_t expected_merges,
                      cn_error *err);
void cn_bpe_free(cn_bpe *bpe);

/* Records the bytes id decodes to. If encodable, the bytes also map back to id for BPE
 * (tokens spelled outside the byte-level alphabet are decode-only). Refuses duplicate ids
 * and duplicate encodable byte strings. */
cn_status cn_bpe_add_token(cn_bpe *bpe, int32_t id, const uint8_t *bytes, size_t len, bool encodable,
                           cn_error *err);

/* The id whose encodable bytes are exactly these, or -1. */
int32_t cn_bpe_lookup(const cn_bpe *bpe, const uint8_t *bytes, size_t len);

/* Adds the merge rule left+right with the next rank; a repeated pair takes the later rank, as HF
 * does. The concatenation must be in the vocabulary. */
cn_status cn_bpe_add_merge(cn_bpe *bpe, int32_t left, int32_t right, cn_error *err);

/* The rule merging left+right: its rank and result id; false if there is none. */
bool cn_bpe_merge_lookup(const cn_bpe *bpe, int32_t left, int32_t right, uint32_t *rank, int32_t *result);

/* Finishes loading: every byte must have a single-byte token. */
cn_status cn_bpe_finish(cn_bpe *bpe, cn_error *err);

/* Appends the ids of one pre-tokenized piece (raw bytes, len > 0). */
cn_status cn_bpe_encode_piece(const cn_bpe *bpe, const uint8_t *bytes, size_t len, cn_bpe_scratch *scratch,
                              cn_token_ids *out, cn_error *err);

void cn_bpe_scratch_free(cn_bpe_scratch *scratch);

/* The bytes of id, or NULL if no token has that id. */
const uint8_t *cn_bpe_token_bytes(const cn_bpe *bpe, int32_t id, size_t *len);

#endif
