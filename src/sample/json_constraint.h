/* response_format as a token constraint (sample/constraint.h): the output is one JSON value, an
 * object for json_object or a value the given JSON Schema accepts for json_schema (the subset in
 * json_schema.h; anything else is refused here, at construction). Once the value is complete
 * only the stop ids (EOS) are allowed, and they are allowed only then.
 *
 * The mask walks the vocabulary trie (token_trie.h) with the byte automaton (json_automaton.h),
 * so its cost follows how many distinct token prefixes the grammar accepts, not the vocabulary
 * size; docs/constrained_decoding.md has measurements. */
#ifndef CN_SAMPLE_JSON_CONSTRAINT_H
#define CN_SAMPLE_JSON_CONSTRAINT_H

#include <stddef.h>
#include <stdint.h>

#include "sample/constraint.h"
#include "sample/constraint_vocab.h"

struct cJSON;

#define CN_JSON_DEFAULT_MAX_WHITESPACE 40 /* bytes in a row: a newline and deep indentation */
#define CN_JSON_DEFAULT_MAX_DEPTH 32

typedef struct {
    const int32_t *stop_ids; /* ids that end the output (EOS); copied */
    size_t n_stop;
    uint16_t max_whitespace; /* 0: CN_JSON_DEFAULT_MAX_WHITESPACE */
    uint16_t max_depth;      /* 0: CN_JSON_DEFAULT_MAX_DEPTH */
} cn_json_constraint_options;

/* schema NULL: any JSON object (response_format json_object). vocab must outlive the constraint.
 * CN_ERR_UNSUPPORTED / CN_ERR_ARG name the schema keyword at fault. */
cn_status cn_json_constraint_create(const cn_constraint_vocab *vocab, const struct cJSON *schema,
                                    const cn_json_constraint_options *options, cn_token_constraint *out, cn_error *err);

#endif
