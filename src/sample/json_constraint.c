/* See json_constraint.h. Accepted tokens advance the committed automaton state; a mask walks
 * the trie from a copy of it, with container frames pushed by the walk going to a scratch arena
 * that is emptied before the next mask. */
#include "sample/json_constraint.h"

#include <stdlib.h>
#include <string.h>

#include "sample/json_automaton.h"

typedef struct {
    const cn_constraint_vocab *vocab;
    cn_json_schema *schema;
    cn_json_arena arena, scratch;
    cn_json_context ctx;
    cn_json_state state;
    int32_t *stop_ids;
    size_t n_stop;
    uint64_t *allowed;
    void *walk_states;
    bool ended; /* a stop id was accepted */
} json_constraint;

static bool is_stop(const json_constraint *c, int32_t id) {
    for (size_t i = 0; i < c->n_stop; i++)
        if (c->stop_ids[i] == id) return true;
    return false;
}

static bool walk_step(void *context, void *state, uint8_t byte) {
    return cn_json_step(context, state, byte);
}

static cn_status json_mask(void *self, float *logits, int64_t vocab, cn_error *err) {
    json_constraint *c = self;
    int32_t n_ids = cn_token_bytes_count(c->vocab->bytes);
    if (c->ended) return cn_fail(err, CN_ERR_ARG, "JSON constraint: the output has already ended");
    memset(c->allowed, 0, ((size_t)n_ids + 63) / 64 * sizeof *c->allowed);
    cn_json_arena_reset(&c->scratch);
    c->ctx.arena = &c->scratch;
    c->ctx.out_of_memory = false;
    const cn_token_trie *trie = c->vocab->trie;
    int64_t count = 0;
    if (cn_json_in_plain_string(&c->ctx, &c->state)) { /* see constraint_vocab.h */
        memcpy(c->allowed, c->vocab->json_plain, ((size_t)n_ids + 63) / 64 * sizeof *c->allowed);
        count = c->vocab->n_json_plain;
        trie = c->vocab->json_other;
    }
    count += cn_token_trie_walk(trie, &c->state, sizeof c->state, walk_step, &c->ctx, c->walk_states, c->allowed);
    if (c->ctx.out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "JSON constraint: out of memory");
    if (cn_json_can_end(&c->ctx, &c->state))
        for (size_t i = 0; i < c->n_stop; i++) {
            int32_t id = c->stop_ids[i];
            if (id >= 0 && id < n_ids && !(c->allowed[id >> 6] >> (id & 63) & 1)) {
                c->allowed[id >> 6] |= 1ull << (id & 63);
                count++;
            }
        }
    /* count only tokens the logits have */
    if (count == 0 || !cn_constraint_any_bit(c->allowed, vocab < n_ids ? vocab : n_ids))
        return cn_fail(err, CN_ERR_ARG, "JSON constraint: dead end: no token of the vocabulary can continue the output%s",
                       cn_json_can_end(&c->ctx, &c->state) ? " (the value is complete but no stop id was given)" : "");
    cn_constraint_apply_bits(c->allowed, n_ids, logits, vocab);
    return CN_OK;
}

static cn_status json_accept(void *self, int32_t token, cn_error *err) {
    json_constraint *c = self;
    if (c->ended) return cn_fail(err, CN_ERR_ARG, "JSON constraint: token %d after the end of the output", (int)token);
    if (is_stop(c, token)) {
        if (!cn_json_can_end(&c->ctx, &c->state))
            return cn_fail(err, CN_ERR_ARG, "JSON constraint: stop token %d before the JSON value is complete", (int)token);
        c->ended = true;
        return CN_OK;
    }
    cn_token_kind kind = cn_token_bytes_kind(c->vocab->bytes, token);
    if (kind != CN_TOKEN_TEXT)
        return cn_fail(err, CN_ERR_ARG, "JSON constraint: token %d is %s, not JSON text", (int)token,
                       kind == CN_TOKEN_CONTROL ? "a control token" : "not in the vocabulary");
    size_t len;
    const uint8_t *bytes = cn_token_bytes_get(c->vocab->bytes, token, &len);
    cn_json_state next = c->state;
    c->ctx.arena = &c->arena;
    c->ctx.out_of_memory = false;
    for (size_t i = 0; i < len; i++)
        if (!cn_json_step(&c->ctx, &next, bytes[i])) {
            if (c->ctx.out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "JSON constraint: out of memory");
            return cn_fail(err, CN_ERR_ARG, "JSON constraint: token %d does not continue the JSON value (byte %zu of %zu)",
                           (int)token, i, len);
        }
    c->state = next;
    return CN_OK;
}

static bool json_complete(const void *self) {
    const json_constraint *c = self;
    return c->ended || cn_json_can_end(&c->ctx, &c->state);
}

static void json_destroy(void *self) {
    json_constraint *c = self;
    if (!c) return;
    cn_json_schema_free(c->schema);
    cn_json_arena_free(&c->arena);
    cn_json_arena_free(&c->scratch);
    free(c->stop_ids);
    free(c->allowed);
    free(c->walk_states);
    free(c);
}

static const cn_token_constraint_ops JSON_OPS = {json_mask, json_accept, json_complete, json_destroy};

cn_status cn_json_constraint_create(const cn_constraint_vocab *vocab, const struct cJSON *schema,
                                    const cn_json_constraint_options *options, cn_token_constraint *out, cn_error *err) {
    out->ops = NULL;
    out->self = NULL;
    cn_json_constraint_options defaults = {0};
    if (!options) options = &defaults;
    json_constraint *c = calloc(1, sizeof *c);
    if (!c) return cn_fail(err, CN_ERR_NOMEM, "JSON constraint: out of memory");
    c->vocab = vocab;
    cn_status st = schema ? cn_json_schema_compile(schema, &c->schema, err) : cn_json_schema_any_object(&c->schema, err);
    if (st != CN_OK) {
        json_destroy(c);
        return st;
    }
    int32_t n_ids = cn_token_bytes_count(vocab->bytes);
    for (size_t i = 0; i < options->n_stop; i++)
        if (options->stop_ids[i] < 0 || options->stop_ids[i] >= n_ids) {
            json_destroy(c);
            return cn_fail(err, CN_ERR_ARG, "JSON constraint: stop id %d is outside the vocabulary (0..%d)",
                           (int)options->stop_ids[i], (int)n_ids - 1);
        }
    c->n_stop = options->n_stop;
    c->stop_ids = malloc((c->n_stop ? c->n_stop : 1) * sizeof *c->stop_ids);
    c->allowed = malloc(((size_t)n_ids + 63) / 64 * sizeof *c->allowed);
    c->walk_states = malloc(cn_token_trie_scratch_size(vocab->trie, sizeof(cn_json_state)));
    if (!c->stop_ids || !c->allowed || !c->walk_states) {
        json_destroy(c);
        return cn_fail(err, CN_ERR_NOMEM, "JSON constraint: out of memory");
    }
    if (c->n_stop) memcpy(c->stop_ids, options->stop_ids, c->n_stop * sizeof *c->stop_ids);
    c->ctx = (cn_json_context){.schema = c->schema,
                               .arena = &c->arena,
                               .max_ws = options->max_whitespace ? options->max_whitespace : CN_JSON_DEFAULT_MAX_WHITESPACE,
                               .max_depth = options->max_depth ? options->max_depth : CN_JSON_DEFAULT_MAX_DEPTH,
                               .outer_ws = true,
                               .forbid_dsml = false};
    cn_json_begin(&c->state, c->schema->root);
    out->ops = &JSON_OPS;
    out->self = c;
    return CN_OK;
}
