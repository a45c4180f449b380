/* A byte-level JSON automaton driven by a compiled schema (json_schema.h): fed one byte at a time,
 * it rejects the first byte after which no text could complete a value the schema accepts, so
 * every prefix it accepts can still be finished (no dead ends). The state is a small struct
 * copied by value (the token trie walk keeps one per depth); open containers below the innermost
 * live in an append-only stack in an arena, shared by all copies.
 *
 * Text it accepts is strict RFC 8259 JSON with these limits, so a model cannot run on forever in
 * filler (docs/constrained_decoding.md): at most max_ws whitespace bytes in a row; numbers with
 * at most 24 integer digits, 24 fraction digits and 3 exponent digits; no \u escape of a
 * surrogate (characters beyond U+FFFF are written as UTF-8); strings valid UTF-8; enum and const
 * values written exactly as compact JSON; keys of objects with declared properties use only the
 * short escapes (\" \\ \/ \b \f \n \r \t). */
#ifndef CN_SAMPLE_JSON_AUTOMATON_H
#define CN_SAMPLE_JSON_AUTOMATON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample/json_schema.h"

/* A bump allocator for container frames: one per constraint for accepted text, one reset before
 * each mask for the frames a walk pushes. */
typedef struct cn_json_arena_block cn_json_arena_block;
typedef struct {
    cn_json_arena_block *head;
} cn_json_arena;
void cn_json_arena_reset(cn_json_arena *arena); /* keeps the first block */
void cn_json_arena_free(cn_json_arena *arena);

typedef struct {
    int32_t schema;   /* the container's node */
    int32_t member;   /* object: the property of the member being read, -1 for an undeclared key */
    uint64_t seen;    /* object: declared properties present (forbidden ones count as present) */
    uint32_t count;   /* array: items so far */
    uint8_t is_array;
} cn_json_frame;

typedef struct cn_json_stack_node {
    const struct cn_json_stack_node *below;
    cn_json_frame frame;
} cn_json_stack_node;

typedef struct {
    const cn_json_stack_node *below; /* containers below top */
    cn_json_frame top;               /* the innermost open container (depth > 0) */
    uint32_t depth;                  /* open containers */
    int32_t value;                   /* node of the value expected or being read */
    int32_t enum_at;                 /* enum trie position */
    uint64_t key_match;              /* key: declared names that start with the decoded key */
    uint32_t key_len;                /* key: decoded bytes so far */
    uint8_t lex, sub, ws, marker, digits, utf8_need, utf8_lo, utf8_hi;
} cn_json_state;

typedef struct {
    const cn_json_schema *schema;
    cn_json_arena *arena;  /* where pushed frames go */
    uint16_t max_ws;       /* whitespace bytes in a row */
    uint16_t max_depth;    /* containers deeper than this only where the schema demands one */
    bool outer_ws;         /* whitespace allowed before the top-level value */
    bool forbid_dsml;      /* strings may not contain "｜DSML｜" (a value inside a DSML parameter) */
    bool out_of_memory;    /* set when a push failed (the step then rejected) */
} cn_json_context;

/* A state expecting one value of schema node `node`. */
void cn_json_begin(cn_json_state *st, int32_t node);
/* Advances over byte b; false if b cannot come next (st is then unspecified). */
bool cn_json_step(cn_json_context *ctx, cn_json_state *st, uint8_t b);
/* True when st is inside a string between characters where any json_plain token
 * (constraint_vocab.h) is allowed: a value string, or a key of an object without declared
 * properties. */
bool cn_json_in_plain_string(const cn_json_context *ctx, const cn_json_state *st);
/* True when the text so far is one complete value (a number could still grow). */
bool cn_json_can_end(const cn_json_context *ctx, const cn_json_state *st);

#endif
