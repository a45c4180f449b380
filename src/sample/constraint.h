/* Constrained decoding: a rule on which token may be sampled next, so that output that must be
 * JSON (response_format) or a DSML tool call (tool_choice "required" or a named function) cannot
 * be sampled malformed. The sampler's caller masks the logits before sampling and reports the
 * token it chose; the rule itself decides over the bytes each token spells.
 *
 * A constraint is an object behind a small table of operations, so the engine knows none of the
 * grammars and a request owns the one it brings. */
#ifndef CN_SAMPLE_CONSTRAINT_H
#define CN_SAMPLE_CONSTRAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    /* Sets logits[id] = -INFINITY for every id that may not come next. Fails (CN_ERR_ARG, with a
     * message) when no token at all is allowed: the grammar is at a dead end. */
    cn_status (*mask)(void *self, float *logits, int64_t vocab, cn_error *err);
    /* Advances over the token that was chosen (one that mask allowed). */
    cn_status (*accept)(void *self, int32_t token, cn_error *err);
    /* true when the text accepted so far is complete: the output may end here. */
    bool (*complete)(const void *self);
    void (*destroy)(void *self);
} cn_token_constraint_ops;

typedef struct {
    const cn_token_constraint_ops *ops;
    void *self;
} cn_token_constraint;

static inline cn_status cn_constraint_mask(cn_token_constraint *c, float *logits, int64_t vocab, cn_error *err) {
    return c->ops->mask(c->self, logits, vocab, err);
}
static inline cn_status cn_constraint_accept(cn_token_constraint *c, int32_t token, cn_error *err) {
    return c->ops->accept(c->self, token, err);
}
static inline bool cn_constraint_complete(const cn_token_constraint *c) { return c->ops->complete(c->self); }
/* Frees the constraint (NULL or an empty one is fine). */
static inline void cn_constraint_destroy(cn_token_constraint *c) {
    if (c && c->ops) c->ops->destroy(c->self);
    if (c) c->ops = NULL, c->self = NULL;
}

#endif
