/* See tool_call_constraint.h. The block is a chain of fixed texts with a few free fields; the
 * state machine below keeps where in the chain the output is:
 *  - a literal: one or more alternative fixed texts (bitmask `alts`, position `pos`), where the
 *    byte DSML_TOKEN stands for the ｜DSML｜ control token;
 *  - a name (tool or parameter): the names still matching (bitmask) and the bytes read;
 *  - a string="true" value: UTF-8 state, the ｜DSML｜ byte matcher, and whether it ends in "</"
 *    (the value ends when the ｜DSML｜ token follows "</");
 *  - a string="false" value: a JSON automaton state for the parameter's schema;
 *  - reasoning (thinking mode): a matcher for "</think>" spelled with ordinary tokens.
 * Texts and newlines are those of chat_encode.c (put_invoke, put_parameter, put_assistant) and
 * what output_parser.c accepts (docs/output_parser.md, "The accepted language"). */
#include "sample/tool_call_constraint.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample/dsml_marker.h"
#include "sample/json_automaton.h"
#include "sample/json_constraint.h"

#define DSML_TOKEN '\x01' /* in the literals below: the ｜DSML｜ control token */
#define MAX_NAME_BYTES 256 /* output_parser.c MAX_NAME_BYTES */

/* What finishing a literal alternative leads to. */
typedef enum {
    GO_TOOL_NAME,   /* "<｜DSML｜invoke name=\"" read: a tool name */
    GO_PARAM_NAME,  /* "<｜DSML｜parameter name=\"": a parameter name */
    GO_PARAMS,      /* "\">\n" after the tool name: parameters or the invoke's end */
    GO_STRING_KIND, /* "\" string=\"" after a parameter name */
    GO_TEXT_VALUE,  /* "true\">" */
    GO_JSON_VALUE,  /* "false\">" */
    GO_AFTER_PARAM, /* "parameter>\n": next parameter or the invoke's end */
    GO_AFTER_INVOKE,
    GO_END,
} go_to;

typedef struct {
    const char *text;
    go_to next;
} alternative;

/* Literal sets: each state that reads fixed text names one of these. */
enum {
    LIT_OPEN,         /* the block and the first invoke */
    LIT_AFTER_NAME,   /* "\">\n" */
    LIT_PARAMS_FIRST, /* first parameter, or the end of an invoke without parameters */
    LIT_PARAMS_NEXT,  /* another parameter, or the invoke's end */
    LIT_STRING_ATTR,  /* "\" string=\"" */
    LIT_STRING_KIND,  /* "true\">" or "false\">" */
    LIT_PARAM_CLOSE,  /* "parameter>\n" after "</" ｜DSML｜ */
    LIT_JSON_CLOSE,   /* "/" ｜DSML｜ "parameter>\n" after a JSON value and '<' */
    LIT_AFTER_INVOKE, /* another invoke, or the block's end */
    N_LITS,
};

static const alternative LITERALS[N_LITS][2] = {
    [LIT_OPEN] = {{"\n\n<\x01tool_calls>\n<\x01invoke name=\"", GO_TOOL_NAME}, {NULL, 0}},
    [LIT_AFTER_NAME] = {{"\">\n", GO_PARAMS}, {NULL, 0}},
    [LIT_PARAMS_FIRST] = {{"<\x01parameter name=\"", GO_PARAM_NAME}, {"\n</\x01invoke>", GO_AFTER_INVOKE}},
    [LIT_PARAMS_NEXT] = {{"<\x01parameter name=\"", GO_PARAM_NAME}, {"</\x01invoke>", GO_AFTER_INVOKE}},
    [LIT_STRING_ATTR] = {{"\" string=\"", GO_STRING_KIND}, {NULL, 0}},
    [LIT_STRING_KIND] = {{"true\">", GO_TEXT_VALUE}, {"false\">", GO_JSON_VALUE}},
    [LIT_PARAM_CLOSE] = {{"parameter>\n", GO_AFTER_PARAM}, {NULL, 0}},
    [LIT_JSON_CLOSE] = {{"/\x01parameter>\n", GO_AFTER_PARAM}, {NULL, 0}},
    [LIT_AFTER_INVOKE] = {{"\n<\x01invoke name=\"", GO_TOOL_NAME}, {"\n</\x01tool_calls>", GO_END}},
};

typedef enum { PH_REASON, PH_LITERAL, PH_TOOL_NAME, PH_PARAM_NAME, PH_TEXT, PH_JSON, PH_END } phase;

typedef struct {
    uint8_t *name;
    size_t len;
    int32_t node;      /* in the tool's schema */
    bool allow_text;   /* string="true" */
    bool allow_json;   /* string="false" */
} param;

typedef struct {
    uint8_t *name;
    size_t len;
    cn_json_schema *schema;
    cn_json_context json; /* per tool: the schema its values are read with */
    param *params;
    uint32_t n_params;
    uint64_t required, forbidden;
} tool;

typedef struct {
    uint8_t phase, lit, alts, pos;
    uint8_t think;           /* reasoning: bytes of "</think>" matched */
    uint8_t utf8_need, utf8_lo, utf8_hi, marker, tail; /* text value; tail: 1 after '<', 2 after "</" */
    int16_t tool, param;
    uint16_t name_len, calls;
    uint64_t match; /* names still matching */
    uint64_t seen;  /* parameters of this invoke present (forbidden ones count as present) */
    cn_json_state json;
} tc_state;

typedef struct {
    const cn_constraint_vocab *vocab;
    tool *tools;
    uint32_t n_tools;
    size_t max_calls;
    int32_t dsml_id, think_end_id;
    int32_t *stop_ids;
    size_t n_stop;
    cn_json_arena arena, scratch;
    cn_json_arena *current; /* where JSON frames go now */
    bool out_of_memory;
    tc_state state;
    uint64_t *allowed;
    void *walk_states;
    bool ended;
} tool_call_constraint;

static const char THINK_END[] = "</think>";

/* ---------------------------------------------------------------- the byte automaton */

static void enter_literal(tc_state *s, int lit, uint8_t alts) {
    s->phase = PH_LITERAL;
    s->lit = (uint8_t)lit;
    s->alts = alts;
    s->pos = 0;
}

static uint64_t low_bits(uint32_t n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

/* Which alternatives of the parameter-or-end literals are open: another parameter if one is
 * left, the end once every required one is present. */
static uint8_t params_alternatives(const tool_call_constraint *c, const tc_state *s) {
    const tool *t = &c->tools[s->tool];
    uint8_t alts = 0;
    if (~s->seen & low_bits(t->n_params)) alts |= 1;
    if ((t->required & ~s->seen) == 0) alts |= 2;
    return alts;
}

static void go(tool_call_constraint *c, tc_state *s, go_to next) {
    switch (next) {
    case GO_TOOL_NAME:
        s->phase = PH_TOOL_NAME;
        s->match = low_bits(c->n_tools);
        s->name_len = 0;
        break;
    case GO_PARAM_NAME:
        s->phase = PH_PARAM_NAME;
        s->match = low_bits(c->tools[s->tool].n_params) & ~s->seen;
        s->name_len = 0;
        break;
    case GO_PARAMS: enter_literal(s, LIT_PARAMS_FIRST, params_alternatives(c, s)); break;
    case GO_STRING_KIND: {
        const param *p = &c->tools[s->tool].params[s->param];
        enter_literal(s, LIT_STRING_KIND, (uint8_t)((p->allow_text ? 1 : 0) | (p->allow_json ? 2 : 0)));
        break;
    }
    case GO_TEXT_VALUE:
        s->phase = PH_TEXT;
        s->utf8_need = 0;
        s->marker = 0;
        s->tail = 0;
        break;
    case GO_JSON_VALUE:
        s->phase = PH_JSON;
        cn_json_begin(&s->json, c->tools[s->tool].params[s->param].node);
        break;
    case GO_AFTER_PARAM: enter_literal(s, LIT_PARAMS_NEXT, params_alternatives(c, s)); break;
    case GO_AFTER_INVOKE:
        s->calls++;
        enter_literal(s, LIT_AFTER_INVOKE, (uint8_t)((c->max_calls == 0 || s->calls < c->max_calls ? 1 : 0) | 2));
        break;
    case GO_END: s->phase = PH_END; break;
    }
}

/* One literal byte (or the ｜DSML｜ token, as DSML_TOKEN) against the open alternatives. */
static bool literal_byte(tool_call_constraint *c, tc_state *s, uint8_t b) {
    const alternative *alts = LITERALS[s->lit];
    uint8_t still = 0;
    for (int k = 0; k < 2; k++)
        if ((s->alts >> k & 1) && alts[k].text && (uint8_t)alts[k].text[s->pos] == b) still |= (uint8_t)(1 << k);
    if (!still) return false;
    s->pos++;
    for (int k = 0; k < 2; k++)
        if ((still >> k & 1) && alts[k].text[s->pos] == 0) { /* alternatives never prefix each other */
            go(c, s, alts[k].next);
            return true;
        }
    s->alts = still;
    return true;
}

/* A name byte: tools (or the tool's parameters not yet present) whose name continues so; the
 * closing quote picks the one spelled exactly. */
static bool name_byte(tool_call_constraint *c, tc_state *s, uint8_t b) {
    bool is_tool = s->phase == PH_TOOL_NAME;
    const tool *t = is_tool ? NULL : &c->tools[s->tool];
    uint64_t still = 0;
    for (uint64_t m = s->match; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        const uint8_t *name = is_tool ? c->tools[i].name : t->params[i].name;
        size_t len = is_tool ? c->tools[i].len : t->params[i].len;
        if (b == '"' ? len == s->name_len : len > s->name_len && name[s->name_len] == b) still |= 1ull << i;
    }
    if (!still) return false;
    if (b != '"') {
        s->match = still;
        s->name_len++;
        return true;
    }
    int chosen = __builtin_ctzll(still);
    if (is_tool) {
        s->tool = (int16_t)chosen;
        s->seen = c->tools[chosen].forbidden;
        enter_literal(s, LIT_AFTER_NAME, 1);
        s->pos = 1; /* the quote was its first byte */
    } else {
        s->param = (int16_t)chosen;
        s->seen |= 1ull << chosen;
        enter_literal(s, LIT_STRING_ATTR, 1);
        s->pos = 1;
    }
    return true;
}

/* A byte of a string="true" value: valid UTF-8, never the bytes of ｜DSML｜. */
static bool text_byte(tc_state *s, uint8_t b) {
    if ((s->marker = cn_dsml_marker_step(s->marker, b)) == CN_DSML_MARKER_LEN) return false;
    if (s->utf8_need) {
        if (b < s->utf8_lo || b > s->utf8_hi) return false;
        s->utf8_lo = 0x80;
        s->utf8_hi = 0xBF;
        s->utf8_need--;
    } else if (b >= 0x80) {
        uint8_t need, lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b >= 0xE1 && b <= 0xEF) need = 2;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else return false;
        s->utf8_need = need;
        s->utf8_lo = lo;
        s->utf8_hi = hi;
    }
    s->tail = b == '<' ? 1 : (s->tail == 1 && b == '/') ? 2 : 0;
    return true;
}

/* "</think>" as ordinary text would end the reasoning for the parser; only the token may. */
static bool reason_byte(tc_state *s, uint8_t b) {
    uint8_t m = s->think;
    if ((uint8_t)THINK_END[m] != b) m = 0; /* no proper prefix of "</think>" is also a suffix of it */
    if ((uint8_t)THINK_END[m] == b) m++;
    if (m == sizeof THINK_END - 1) return false;
    s->think = m;
    return true;
}

/* A byte of a string="false" value; '<' after a complete value starts "</｜DSML｜parameter>". */
static bool json_byte(tool_call_constraint *c, tc_state *s, uint8_t b) {
    cn_json_context *ctx = &c->tools[s->tool].json;
    ctx->arena = c->current;
    ctx->out_of_memory = false;
    cn_json_state before = s->json;
    if (cn_json_step(ctx, &s->json, b)) return true;
    if (ctx->out_of_memory) c->out_of_memory = true;
    if (b != '<' || !cn_json_can_end(ctx, &before)) return false;
    enter_literal(s, LIT_JSON_CLOSE, 1);
    return true;
}

static bool step_byte(void *context, void *state, uint8_t b) {
    tool_call_constraint *c = context;
    tc_state *s = state;
    switch (s->phase) {
    case PH_REASON: return reason_byte(s, b);
    case PH_LITERAL: return b != DSML_TOKEN && literal_byte(c, s, b);
    case PH_TOOL_NAME:
    case PH_PARAM_NAME: return name_byte(c, s, b);
    case PH_TEXT: return text_byte(s, b);
    case PH_JSON: return json_byte(c, s, b);
    default: return false;
    }
}

/* A control token: ｜DSML｜ inside literals and to close a text value; </think> to end reasoning. */
static bool step_control(tool_call_constraint *c, tc_state *s, int32_t id) {
    if (id == c->dsml_id) {
        if (s->phase == PH_LITERAL) return literal_byte(c, s, DSML_TOKEN);
        if (s->phase == PH_TEXT && s->tail == 2 && s->utf8_need == 0) {
            enter_literal(s, LIT_PARAM_CLOSE, 1);
            return true;
        }
        return false;
    }
    if (id == c->think_end_id && s->phase == PH_REASON) {
        enter_literal(s, LIT_OPEN, 1);
        return true;
    }
    return false;
}

static bool is_stop(const tool_call_constraint *c, int32_t id) {
    for (size_t i = 0; i < c->n_stop; i++)
        if (c->stop_ids[i] == id) return true;
    return false;
}

/* ---------------------------------------------------------------- the constraint */

static cn_status tc_mask(void *self, float *logits, int64_t vocab, cn_error *err) {
    tool_call_constraint *c = self;
    int32_t n_ids = cn_token_bytes_count(c->vocab->bytes);
    if (c->ended) return cn_fail(err, CN_ERR_ARG, "tool-call constraint: the output has already ended");
    size_t words = ((size_t)n_ids + 63) / 64;
    const cn_token_trie *trie = c->vocab->trie;
    const uint64_t *plain = NULL;
    int64_t count = 0;
    tc_state *s = &c->state;
    /* free text: the class bitsets of constraint_vocab.h, and a walk over the rest */
    if (s->phase == PH_REASON) plain = c->vocab->reason_plain, count = c->vocab->n_reason_plain, trie = c->vocab->reason_other;
    else if (s->phase == PH_TEXT && s->utf8_need == 0)
        plain = c->vocab->text_plain, count = c->vocab->n_text_plain, trie = c->vocab->text_other;
    else if (s->phase == PH_JSON && cn_json_in_plain_string(&c->tools[s->tool].json, &s->json))
        plain = c->vocab->json_plain, count = c->vocab->n_json_plain, trie = c->vocab->json_other;
    if (plain) memcpy(c->allowed, plain, words * sizeof *c->allowed);
    else memset(c->allowed, 0, words * sizeof *c->allowed);
    cn_json_arena_reset(&c->scratch);
    c->current = &c->scratch;
    c->out_of_memory = false;
    count += cn_token_trie_walk(trie, s, sizeof *s, step_byte, c, c->walk_states, c->allowed);
    if (c->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    /* only these control tokens can ever be allowed */
    int32_t candidates[3 + 8];
    size_t n_candidates = 0;
    candidates[n_candidates++] = c->dsml_id;
    if (c->think_end_id >= 0) candidates[n_candidates++] = c->think_end_id;
    for (size_t i = 0; i < c->n_stop && n_candidates < sizeof candidates / sizeof candidates[0]; i++)
        candidates[n_candidates++] = c->stop_ids[i];
    for (size_t i = 0; i < (c->n_stop > 8 ? c->vocab->n_control : n_candidates); i++) {
        int32_t id = c->n_stop > 8 ? c->vocab->control_ids[i] : candidates[i];
        if (c->allowed[id >> 6] >> (id & 63) & 1) continue; /* listed twice */
        tc_state copy = *s;
        bool ok = s->phase == PH_END ? is_stop(c, id) : step_control(c, &copy, id);
        if (ok) {
            c->allowed[id >> 6] |= 1ull << (id & 63);
            count++;
        }
    }
    if (count == 0 || !cn_constraint_any_bit(c->allowed, vocab < n_ids ? vocab : n_ids))
        return cn_fail(err, CN_ERR_ARG, "tool-call constraint: dead end: no token of the vocabulary can continue the output");
    cn_constraint_apply_bits(c->allowed, n_ids, logits, vocab);
    return CN_OK;
}

static cn_status tc_accept(void *self, int32_t token, cn_error *err) {
    tool_call_constraint *c = self;
    if (c->ended) return cn_fail(err, CN_ERR_ARG, "tool-call constraint: token %d after the end of the output", (int)token);
    tc_state next = c->state;
    c->current = &c->arena;
    c->out_of_memory = false;
    cn_token_kind kind = cn_token_bytes_kind(c->vocab->bytes, token);
    if (kind == CN_TOKEN_CONTROL) {
        if (next.phase == PH_END && is_stop(c, token)) {
            c->ended = true;
            return CN_OK;
        }
        if (!step_control(c, &next, token))
            return cn_fail(err, CN_ERR_ARG, "tool-call constraint: control token %d is not allowed here", (int)token);
    } else if (kind == CN_TOKEN_TEXT) {
        size_t len;
        const uint8_t *bytes = cn_token_bytes_get(c->vocab->bytes, token, &len);
        for (size_t i = 0; i < len; i++)
            if (!step_byte(c, &next, bytes[i])) {
                if (c->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
                return cn_fail(err, CN_ERR_ARG, "tool-call constraint: token %d does not continue the tool calls (byte %zu of %zu)",
                               (int)token, i, len);
            }
    } else {
        return cn_fail(err, CN_ERR_ARG, "tool-call constraint: token %d is not in the vocabulary", (int)token);
    }
    c->state = next;
    return CN_OK;
}

static bool tc_complete(const void *self) {
    const tool_call_constraint *c = self;
    return c->ended || c->state.phase == PH_END;
}

static void tc_destroy(void *self) {
    tool_call_constraint *c = self;
    if (!c) return;
    for (uint32_t i = 0; i < c->n_tools; i++) {
        tool *t = &c->tools[i];
        free(t->name);
        for (uint32_t k = 0; k < t->n_params; k++) free(t->params[k].name);
        free(t->params);
        cn_json_schema_free(t->schema);
    }
    free(c->tools);
    free(c->stop_ids);
    free(c->allowed);
    free(c->walk_states);
    cn_json_arena_free(&c->arena);
    cn_json_arena_free(&c->scratch);
    free(c);
}

static const cn_token_constraint_ops TOOL_CALL_OPS = {tc_mask, tc_accept, tc_complete, tc_destroy};

bool cn_tool_call_constraint_allows(cn_token_constraint *constraint, int32_t token) {
    tool_call_constraint *c = constraint->self;
    if (c->ended) return false;
    tc_state next = c->state;
    cn_json_arena_reset(&c->scratch);
    c->current = &c->scratch;
    cn_token_kind kind = cn_token_bytes_kind(c->vocab->bytes, token);
    if (kind == CN_TOKEN_CONTROL) return next.phase == PH_END ? is_stop(c, token) : step_control(c, &next, token);
    if (kind != CN_TOKEN_TEXT) return false;
    size_t len;
    const uint8_t *bytes = cn_token_bytes_get(c->vocab->bytes, token, &len);
    for (size_t i = 0; i < len; i++)
        if (!step_byte(c, &next, bytes[i])) return false;
    return true;
}

/* ---------------------------------------------------------------- construction */

/* The output parser reads names up to the closing quote and refuses these (output_parser.c). */
static bool name_acceptable(const char *name, size_t len) {
    if (len == 0 || len > MAX_NAME_BYTES) return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)name[i];
        if (b < 0x20 || b == 0x7f || b == '"' || b == '<' || b == '>') return false;
    }
    return !memmem(name, len, CN_DSML_MARKER, CN_DSML_MARKER_LEN); /* names need not end in NUL */
}

static uint8_t *copy_bytes(const char *s, size_t len) {
    uint8_t *p = malloc(len + 1);
    if (p) memcpy(p, s, len + 1);
    return p;
}

static cn_status add_tool(tool_call_constraint *c, const cJSON *function, uint16_t max_ws, cn_error *err) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(function, "name");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(function, "parameters");
    if (!cJSON_IsString(name)) return cn_fail(err, CN_ERR_ARG, "tool-call constraint: tool %u has no name", c->n_tools);
    size_t len = strlen(name->valuestring);
    if (!name_acceptable(name->valuestring, len))
        return cn_fail(err, CN_ERR_ARG, "tool-call constraint: tool name '%.80s' cannot be written in DSML (empty, over %d bytes, "
                       "or holding '\"', '<', '>' or a control character)", name->valuestring, MAX_NAME_BYTES);
    for (uint32_t i = 0; i < c->n_tools; i++)
        if (c->tools[i].len == len && !memcmp(c->tools[i].name, name->valuestring, len))
            return cn_fail(err, CN_ERR_ARG, "tool-call constraint: two tools are named '%s'", name->valuestring);
    if (c->n_tools >= CN_TOOL_CALL_MAX_TOOLS)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tool-call constraint: more than %d tools", CN_TOOL_CALL_MAX_TOOLS);
    tool *t = &c->tools[c->n_tools];
    memset(t, 0, sizeof *t);
    if (!(t->name = copy_bytes(name->valuestring, len))) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    t->len = len;
    c->n_tools++;
    cJSON *empty = NULL;
    if (!params) params = empty = cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
    cn_status st = empty || params ? cn_json_schema_compile(params, &t->schema, err)
                                   : cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    cJSON_Delete(empty);
    if (st != CN_OK) return cn_error_prefix(err, "tool '%s' parameters", name->valuestring);
    const cn_json_node *root = &t->schema->nodes[t->schema->root];
    if (!(root->types & CN_JSON_OBJECT) || root->enum_root >= 0)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tool-call constraint: tool '%s': parameters must be an object schema",
                       name->valuestring);
    t->json = (cn_json_context){.schema = t->schema, .arena = &c->arena, .max_ws = max_ws,
                                .max_depth = CN_JSON_DEFAULT_MAX_DEPTH, .outer_ws = false, .forbid_dsml = true};
    t->n_params = root->n_props;
    t->required = root->required;
    t->forbidden = root->forbidden;
    t->params = calloc(t->n_params ? t->n_params : 1, sizeof *t->params);
    if (!t->params) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    for (uint32_t i = 0; i < t->n_params; i++) {
        const cn_json_property *prop = &t->schema->props[root->first_prop + i];
        param *p = &t->params[i];
        const char *pname = (const char *)t->schema->names + prop->name;
        if (!name_acceptable(pname, prop->len) || memchr(pname, 0, prop->len))
            return cn_fail(err, CN_ERR_ARG, "tool-call constraint: tool '%s': parameter name '%.*s' cannot be written in DSML",
                           name->valuestring, (int)(prop->len > 80 ? 80 : prop->len), pname);
        if (!(p->name = malloc(prop->len + 1))) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
        memcpy(p->name, pname, prop->len);
        p->name[prop->len] = 0;
        p->len = prop->len;
        p->node = prop->node;
        const cn_json_node *n = &t->schema->nodes[prop->node];
        /* string="true" holds a string as is; enums are matched as JSON literals (string="false") */
        p->allow_text = n->enum_root < 0 && (n->types & CN_JSON_STRING);
        p->allow_json = n->enum_root >= 0 || (n->types & ~(uint32_t)CN_JSON_STRING);
    }
    return CN_OK;
}

cn_status cn_tool_call_constraint_create(const cn_constraint_vocab *vocab, const cn_tool_call_constraint_options *options,
                                         cn_token_constraint *out, cn_error *err) {
    out->ops = NULL;
    out->self = NULL;
    if (!options || !cJSON_IsArray(options->tools) || !options->tools->child)
        return cn_fail(err, CN_ERR_ARG, "tool-call constraint: no tools given");
    tool_call_constraint *c = calloc(1, sizeof *c);
    if (!c) return cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    c->vocab = vocab;
    c->max_calls = options->function_name ? 1 : options->max_calls;
    c->dsml_id = cn_token_bytes_find_control(vocab->bytes, CN_DSML_MARKER);
    c->think_end_id = cn_token_bytes_find_control(vocab->bytes, THINK_END);
    cn_status st = CN_OK;
    if (c->dsml_id < 0) st = cn_fail(err, CN_ERR_ARG, "tool-call constraint: the vocabulary has no ｜DSML｜ control token");
    else if (options->thinking && c->think_end_id < 0)
        st = cn_fail(err, CN_ERR_ARG, "tool-call constraint: thinking mode needs a </think> control token");
    int n = cJSON_GetArraySize(options->tools);
    if (!st && !(c->tools = calloc((size_t)n, sizeof *c->tools))) st = cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
    uint16_t max_ws = options->max_whitespace ? options->max_whitespace : CN_JSON_DEFAULT_MAX_WHITESPACE;
    for (const cJSON *entry = options->tools->child; entry && !st; entry = entry->next) {
        const cJSON *function = cJSON_GetObjectItemCaseSensitive(entry, "function");
        if (!function) function = entry;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(function, "name");
        if (options->function_name && (!cJSON_IsString(name) || strcmp(name->valuestring, options->function_name))) continue;
        st = add_tool(c, function, max_ws, err);
    }
    if (!st && c->n_tools == 0) st = cn_fail(err, CN_ERR_ARG, "tool-call constraint: no tool is named '%s'", options->function_name);
    int32_t n_ids = cn_token_bytes_count(vocab->bytes);
    for (size_t i = 0; !st && i < options->n_stop; i++)
        if (options->stop_ids[i] < 0 || options->stop_ids[i] >= n_ids)
            st = cn_fail(err, CN_ERR_ARG, "tool-call constraint: stop id %d is outside the vocabulary", (int)options->stop_ids[i]);
    if (!st && options->n_stop == 0) st = cn_fail(err, CN_ERR_ARG, "tool-call constraint: no stop id (EOS) given");
    if (!st) {
        c->n_stop = options->n_stop;
        c->stop_ids = malloc(c->n_stop * sizeof *c->stop_ids);
        c->allowed = malloc(((size_t)n_ids + 63) / 64 * sizeof *c->allowed);
        c->walk_states = malloc(cn_token_trie_scratch_size(vocab->trie, sizeof(tc_state)));
        if (!c->stop_ids || !c->allowed || !c->walk_states) st = cn_fail(err, CN_ERR_NOMEM, "tool-call constraint: out of memory");
        else memcpy(c->stop_ids, options->stop_ids, c->n_stop * sizeof *c->stop_ids);
    }
    if (st) {
        tc_destroy(c);
        return st;
    }
    c->current = &c->arena;
    memset(&c->state, 0, sizeof c->state);
    if (options->thinking) c->state.phase = PH_REASON;
    else enter_literal(&c->state, LIT_OPEN, 1);
    out->ops = &TOOL_CALL_OPS;
    out->self = c;
    return CN_OK;
}
