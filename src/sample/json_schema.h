/* The JSON Schema subset constrained decoding enforces (docs/constrained_decoding.md), compiled
 * into a table of nodes the byte automaton (json_automaton.h) walks. Supported: type (one name or
 * a list of object, array, string, number, integer, boolean, null), properties, required,
 * additionalProperties (true, false or a schema), items, minItems, maxItems, enum, const, and
 * the annotations that constrain nothing (title, description, default, examples, $schema, $id,
 * $comment, deprecated, readOnly, writeOnly). Every other keyword is refused at compile time with
 * its path, never ignored: output that the schema rejects must not be possible.
 *
 * A schema no JSON value satisfies (an empty enum, minItems > maxItems, a required property
 * that may not appear, ...) is refused too, and parts that cannot be satisfied (an optional
 * property whose schema is impossible) are pruned, so the automaton never enters a dead end. */
#ifndef CN_SAMPLE_JSON_SCHEMA_H
#define CN_SAMPLE_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct cJSON;

enum {
    CN_JSON_NULL = 1 << 0,
    CN_JSON_BOOLEAN = 1 << 1,
    CN_JSON_INTEGER = 1 << 2, /* a number written without fraction or exponent */
    CN_JSON_NUMBER = 1 << 3,
    CN_JSON_STRING = 1 << 4,
    CN_JSON_ARRAY = 1 << 5,
    CN_JSON_OBJECT = 1 << 6,
    CN_JSON_ANY_TYPE = (1 << 7) - 1,
};

#define CN_JSON_MAX_PROPERTIES 64 /* declared properties per object: seen sets are 64-bit masks */

typedef struct {
    uint32_t name; /* offset in cn_json_schema.names: raw UTF-8, what the key decodes to */
    uint32_t len;
    int32_t node;
} cn_json_property;

typedef struct {
    uint32_t types;        /* CN_JSON_* bits still possible (unsatisfiable ones pruned) */
    int32_t enum_root;     /* >= 0: the value is one of the enum literals (cn_json_schema.enum_nodes) */
    /* object */
    uint32_t first_prop, n_props; /* a run of cn_json_schema.props */
    uint64_t required;   /* bits of props that must appear */
    uint64_t forbidden;  /* bits of props whose schema nothing satisfies: they may not appear */
    int32_t additional;  /* node for undeclared keys, or -1 (additionalProperties false) */
    /* array */
    int32_t items;       /* node for every item */
    uint32_t min_items, max_items;
} cn_json_node;

/* The enum literals of all nodes, one byte trie per enum: each literal is the value's compact
 * JSON text (cJSON_PrintUnformatted), which the output must repeat byte for byte. */
typedef struct {
    int32_t first_child, next_sibling;
    uint8_t byte;
    bool terminal; /* a literal ends here */
} cn_json_enum_node;

typedef struct {
    cn_json_node *nodes;
    size_t n_nodes, cap_nodes;
    cn_json_enum_node *enum_nodes;
    size_t n_enum, cap_enum;
    cn_json_property *props; /* all properties, each node's a contiguous run */
    size_t n_props, cap_props;
    uint8_t *names; /* property name bytes */
    size_t n_names, cap_names;
    int32_t root;
    int32_t any; /* the node "any JSON value" */
} cn_json_schema;

/* Compiles schema (a JSON Schema object, or true). CN_ERR_UNSUPPORTED names the first keyword
 * or value outside the subset, CN_ERR_ARG a malformed or unsatisfiable schema. */
cn_status cn_json_schema_compile(const struct cJSON *schema, cn_json_schema **out, cn_error *err);
/* The schema of response_format json_object: any object. */
cn_status cn_json_schema_any_object(cn_json_schema **out, cn_error *err);
void cn_json_schema_free(cn_json_schema *schema);

#endif
