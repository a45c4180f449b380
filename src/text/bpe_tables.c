/* The BPE model's tables: id -> bytes, bytes -> id, (left, right) -> (rank, result). */
#include <stdlib.h>
#include <string.h>

#include "text/bpe.h"

static uint64_t hash_bytes(const uint8_t *s, size_t len) { /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_pair(uint64_t key) { /* splitmix64's finaliser */
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ull;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebull;
    return key ^ (key >> 31);
}

static uint32_t table_size_for(size_t entries) { /* a power of two, at most half full */
    uint32_t size = 1024;
    while (size < 2 * entries + 2) size *= 2;
    return size;
}

cn_status cn_bpe_init(cn_bpe *bpe, int32_t id_capacity, size_t expected_tokens, size_t expected_merges,
                      cn_error *err) {
    memset(bpe, 0, sizeof *bpe);
    if (id_capacity <= 0) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: empty vocabulary");
    bpe->id_capacity = id_capacity;
    bpe->token_offset = calloc((size_t)id_capacity, sizeof *bpe->token_offset);
    bpe->token_length = calloc((size_t)id_capacity, sizeof *bpe->token_length);
    bpe->token_present = calloc((size_t)id_capacity, 1);
    uint32_t lookup_size = table_size_for(expected_tokens);
    bpe->lookup_slots = malloc(lookup_size * sizeof *bpe->lookup_slots);
    bpe->lookup_mask = lookup_size - 1;
    uint32_t merge_size = table_size_for(expected_merges);
    bpe->merge_slots = calloc(merge_size, sizeof *bpe->merge_slots);
    bpe->merge_mask = merge_size - 1;
    bpe->arena_cap = 16 * expected_tokens + 1024;
    bpe->bytes_arena = malloc(bpe->arena_cap);
    if (!bpe->token_offset || !bpe->token_length || !bpe->token_present || !bpe->lookup_slots ||
        !bpe->merge_slots || !bpe->bytes_arena) {
        cn_bpe_free(bpe);
        return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory for %d ids", (int)id_capacity);
    }
    for (uint32_t i = 0; i < lookup_size; i++) bpe->lookup_slots[i] = -1;
    for (int i = 0; i < 256; i++) bpe->byte_token[i] = -1;
    return CN_OK;
}

void cn_bpe_free(cn_bpe *bpe) {
    free(bpe->token_offset);
    free(bpe->token_length);
    free(bpe->token_present);
    free(bpe->bytes_arena);
    free(bpe->lookup_slots);
    free(bpe->merge_slots);
    memset(bpe, 0, sizeof *bpe);
}

const uint8_t *cn_bpe_token_bytes(const cn_bpe *bpe, int32_t id, size_t *len) {
    if (id < 0 || id >= bpe->id_capacity || !bpe->token_present[id]) return NULL;
    *len = bpe->token_length[id];
    return bpe->bytes_arena + bpe->token_offset[id];
}

int32_t cn_bpe_lookup(const cn_bpe *bpe, const uint8_t *bytes, size_t len) {
    for (uint32_t slot = (uint32_t)hash_bytes(bytes, len) & bpe->lookup_mask;; slot = (slot + 1) & bpe->lookup_mask) {
        int32_t id = bpe->lookup_slots[slot];
        if (id < 0) return -1;
        if (bpe->token_length[id] == len && !memcmp(bpe->bytes_arena + bpe->token_offset[id], bytes, len)) return id;
    }
}

cn_status cn_bpe_add_token(cn_bpe *bpe, int32_t id, const uint8_t *bytes, size_t len, bool encodable,
                           cn_error *err) {
    if (id < 0 || id >= bpe->id_capacity) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: token id %d out of range", (int)id);
    if (bpe->token_present[id]) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: token id %d defined twice", (int)id);
    if (len > UINT32_MAX / 2) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: token %d is too long", (int)id);
    if (encodable && cn_bpe_lookup(bpe, bytes, len) >= 0)
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: tokens %d and %d have the same bytes",
                       (int)cn_bpe_lookup(bpe, bytes, len), (int)id);
    if (bpe->arena_used + len > bpe->arena_cap) {
        size_t cap = 2 * bpe->arena_cap + len;
        uint8_t *grown = realloc(bpe->bytes_arena, cap);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory for token bytes");
        bpe->bytes_arena = grown;
        bpe->arena_cap = cap;
    }
    if (bpe->arena_used > UINT32_MAX - len) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: vocabulary too large");
    memcpy(bpe->bytes_arena + bpe->arena_used, bytes, len);
    bpe->token_offset[id] = (uint32_t)bpe->arena_used;
    bpe->token_length[id] = (uint32_t)len;
    bpe->token_present[id] = 1;
    bpe->arena_used += len;
    if (!encodable) return CN_OK;
    uint32_t slot = (uint32_t)hash_bytes(bytes, len) & bpe->lookup_mask;
    uint32_t probes = 0;
    while (bpe->lookup_slots[slot] >= 0) {
        slot = (slot + 1) & bpe->lookup_mask;
        if (++probes > bpe->lookup_mask) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: more tokens than declared");
    }
    bpe->lookup_slots[slot] = id;
    if (len == 1) bpe->byte_token[bytes[0]] = id;
    return CN_OK;
}

static cn_bpe_merge_slot *merge_slot_for(const cn_bpe *bpe, uint64_t key) {
    for (uint32_t slot = (uint32_t)hash_pair(key) & bpe->merge_mask;; slot = (slot + 1) & bpe->merge_mask) {
        cn_bpe_merge_slot *s = &bpe->merge_slots[slot];
        if (s->key == key || s->key == 0) return s;
    }
}

cn_status cn_bpe_add_merge(cn_bpe *bpe, int32_t left, int32_t right, cn_error *err) {
    size_t left_len = 0, right_len = 0;
    const uint8_t *left_bytes = cn_bpe_token_bytes(bpe, left, &left_len);
    const uint8_t *right_bytes = cn_bpe_token_bytes(bpe, right, &right_len);
    if (!left_bytes || !right_bytes) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: merge %u uses an unknown token", bpe->merge_count);
    if (bpe->merge_count >= bpe->merge_mask / 2) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: more merges than declared");
    uint8_t stack_buf[256];
    uint8_t *joined = left_len + right_len <= sizeof stack_buf ? stack_buf : malloc(left_len + right_len);
    if (!joined) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(joined, left_bytes, left_len);
    memcpy(joined + left_len, right_bytes, right_len);
    int32_t result = cn_bpe_lookup(bpe, joined, left_len + right_len);
    if (joined != stack_buf) free(joined);
    if (result < 0)
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: merge %u (tokens %d + %d) makes a string not in the vocabulary",
                       bpe->merge_count, (int)left, (int)right);
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    cn_bpe_merge_slot *slot = merge_slot_for(bpe, key);
    slot->key = key; /* a repeated pair is overwritten: the later rule wins, as in HF */
    slot->rank = bpe->merge_count++;
    slot->result = result;
    return CN_OK;
}

bool cn_bpe_merge_lookup(const cn_bpe *bpe, int32_t left, int32_t right, uint32_t *rank, int32_t *result) {
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    const cn_bpe_merge_slot *slot = merge_slot_for(bpe, key);
    if (slot->key == 0) return false;
    *rank = slot->rank;
    *result = slot->result;
    return true;
}

cn_status cn_bpe_finish(cn_bpe *bpe, cn_error *err) {
    for (int b = 0; b < 256; b++)
        if (bpe->byte_token[b] < 0)
            return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: no token for byte 0x%02X: not a byte-level vocabulary", b);
    return CN_OK;
}
