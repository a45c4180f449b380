/* See json_automaton.h. The lexical state `lex` says what the next byte may be; `sub` is the
 * position inside a string, number or literal. A scalar that can only be seen to end by the byte
 * after it (a number, an enum literal that is a prefix of another) finishes when that byte
 * arrives, and the byte is then read again in the container's state. */
#include "sample/json_automaton.h"

#include <stdlib.h>
#include <string.h>

#include "sample/dsml_marker.h"

enum {
    LEX_VALUE,     /* a value of st->value, whitespace before it */
    LEX_ARR_FIRST, /* after '[': a value or ']' */
    LEX_OBJ_FIRST, /* after '{': a key or '}' */
    LEX_OBJ_KEY,   /* after ',' in an object: a key */
    LEX_KEY,       /* inside a key */
    LEX_COLON,     /* after a key */
    LEX_AFTER,     /* after a member or item: ',' or the closer */
    LEX_STRING,
    LEX_NUMBER,
    LEX_LITERAL, /* true, false, null: digits = which, sub = bytes matched */
    LEX_ENUM,
    LEX_DONE, /* the top-level value is complete */
};

enum { S_CHAR, S_ESC, S_HEX0, S_HEX1, S_HEX1_D, S_HEX2, S_HEX3, S_UTF8 };
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_EXP, N_EXP_SIGN, N_EXP_DIGITS };
enum { MAX_INT_DIGITS = 24, MAX_FRAC_DIGITS = 24, MAX_EXP_DIGITS = 3 };

static const char *const LITERALS[3] = {"true", "false", "null"};

struct cn_json_arena_block {
    cn_json_arena_block *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

static void *arena_alloc(cn_json_arena *arena, size_t size) {
    size = (size + 15) & ~(size_t)15;
    cn_json_arena_block *b = arena->head;
    if (!b || b->used + size > b->cap) {
        size_t cap = b ? b->cap * 2 : 16384;
        if (cap < size) cap = size;
        cn_json_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        arena->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

void cn_json_arena_reset(cn_json_arena *arena) {
    cn_json_arena_block *b = arena->head;
    if (!b) return;
    /* keep the newest (largest) block */
    cn_json_arena_block *rest = b->next;
    b->next = NULL;
    b->used = 0;
    while (rest) {
        cn_json_arena_block *next = rest->next;
        free(rest);
        rest = next;
    }
}

void cn_json_arena_free(cn_json_arena *arena) {
    cn_json_arena_block *b = arena->head;
    while (b) {
        cn_json_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena->head = NULL;
}

void cn_json_begin(cn_json_state *st, int32_t node) {
    memset(st, 0, sizeof *st);
    st->lex = LEX_VALUE;
    st->value = node;
    st->enum_at = -1;
}

static bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
static bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
static bool is_hex(uint8_t b) { return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }
static uint64_t low_bits(uint32_t n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

static bool take_ws(const cn_json_context *ctx, cn_json_state *st) {
    if (st->ws >= ctx->max_ws) return false;
    st->ws++;
    return true;
}

static const cn_json_node *node_of(const cn_json_context *ctx, int32_t node) { return &ctx->schema->nodes[node]; }

static bool push(cn_json_context *ctx, cn_json_state *st, int32_t node, bool is_array) {
    if (st->depth > 0) {
        cn_json_stack_node *below = arena_alloc(ctx->arena, sizeof *below);
        if (!below) {
            ctx->out_of_memory = true;
            return false;
        }
        below->below = st->below;
        below->frame = st->top;
        st->below = below;
    }
    st->top = (cn_json_frame){.schema = node, .member = -1, .seen = is_array ? 0 : node_of(ctx, node)->forbidden,
                              .count = 0, .is_array = is_array};
    st->depth++;
    return true;
}

/* The value just read is complete: back to its container (or done at the top). */
static void value_done(cn_json_state *st) {
    st->ws = 0;
    if (st->depth == 0) {
        st->lex = LEX_DONE;
        return;
    }
    if (st->top.is_array) st->top.count++;
    st->lex = LEX_AFTER;
}

static void pop(cn_json_state *st) {
    if (--st->depth > 0) {
        st->top = st->below->frame;
        st->below = st->below->below;
    }
    value_done(st);
}

/* A key can still be added: a declared property not present yet, or any undeclared one. */
static bool can_add_key(const cn_json_context *ctx, const cn_json_state *st) {
    const cn_json_node *n = node_of(ctx, st->top.schema);
    return (~st->top.seen & low_bits(n->n_props)) != 0 || n->additional >= 0;
}

static bool required_present(const cn_json_context *ctx, const cn_json_state *st) {
    return (node_of(ctx, st->top.schema)->required & ~st->top.seen) == 0;
}

static int32_t enum_child(const cn_json_schema *s, int32_t at, uint8_t b) {
    for (int32_t c = s->enum_nodes[at].first_child; c >= 0; c = s->enum_nodes[c].next_sibling)
        if (s->enum_nodes[c].byte == b) return c;
    return -1;
}

/* Room for one more container here: deeper than max_depth only where the value must be one. */
static bool room_for_container(const cn_json_context *ctx, const cn_json_state *st, uint32_t types) {
    return st->depth < ctx->max_depth || !(types & ~(uint32_t)(CN_JSON_ARRAY | CN_JSON_OBJECT));
}

static bool start_value(cn_json_context *ctx, cn_json_state *st, uint8_t b) {
    const cn_json_node *n = node_of(ctx, st->value);
    st->ws = 0;
    if (n->enum_root >= 0) {
        int32_t c = enum_child(ctx->schema, n->enum_root, b);
        if (c < 0) return false;
        st->enum_at = c;
        st->lex = LEX_ENUM;
        return true;
    }
    uint32_t t = n->types;
    switch (b) {
    case '{':
        if (!(t & CN_JSON_OBJECT) || !room_for_container(ctx, st, t) || !push(ctx, st, st->value, false)) return false;
        st->lex = LEX_OBJ_FIRST;
        return true;
    case '[':
        if (!(t & CN_JSON_ARRAY) || !room_for_container(ctx, st, t) || !push(ctx, st, st->value, true)) return false;
        st->lex = LEX_ARR_FIRST;
        return true;
    case '"':
        if (!(t & CN_JSON_STRING)) return false;
        st->lex = LEX_STRING;
        st->sub = S_CHAR;
        st->marker = 0;
        return true;
    case 't':
    case 'f':
    case 'n':
        if (!(t & (b == 'n' ? CN_JSON_NULL : CN_JSON_BOOLEAN))) return false;
        st->lex = LEX_LITERAL;
        st->digits = b == 't' ? 0 : b == 'f' ? 1 : 2;
        st->sub = 1;
        return true;
    default:
        if (!(t & (CN_JSON_INTEGER | CN_JSON_NUMBER)) || !(b == '-' || is_digit(b))) return false;
        st->lex = LEX_NUMBER;
        st->sub = b == '-' ? N_MINUS : b == '0' ? N_ZERO : N_INT;
        st->digits = b == '-' || b == '0' ? 0 : 1;
        return true;
    }
}

/* A decoded key byte: narrow the declared names it can still become. */
static bool key_byte(const cn_json_context *ctx, cn_json_state *st, uint8_t d) {
    const cn_json_schema *s = ctx->schema;
    const cn_json_node *n = node_of(ctx, st->top.schema);
    uint64_t match = 0;
    for (uint64_t m = st->key_match; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        const cn_json_property *p = &s->props[n->first_prop + (uint32_t)i];
        if (p->len > st->key_len && s->names[p->name + st->key_len] == d) match |= 1ull << i;
    }
    st->key_match = match;
    st->key_len++;
    return (match & ~st->top.seen) != 0 || n->additional >= 0;
}

/* The key's closing quote: which member's value comes next. */
static bool key_close(const cn_json_context *ctx, cn_json_state *st) {
    const cn_json_schema *s = ctx->schema;
    const cn_json_node *n = node_of(ctx, st->top.schema);
    for (uint64_t m = st->key_match; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        const cn_json_property *p = &s->props[n->first_prop + (uint32_t)i];
        if (p->len != st->key_len) continue;
        if (st->top.seen >> i & 1) return false; /* present already (or forbidden) */
        st->top.seen |= 1ull << i;
        st->top.member = i;
        st->value = p->node;
        return true;
    }
    if (n->additional < 0) return false;
    st->top.member = -1;
    st->value = n->additional;
    return true;
}

/* A backslash in a key leads somewhere only if an undeclared key may follow or a declared name
 * still possible continues with a character JSON writes as a short escape. */
static bool key_escape_viable(const cn_json_context *ctx, const cn_json_state *st) {
    const cn_json_schema *s = ctx->schema;
    const cn_json_node *n = node_of(ctx, st->top.schema);
    if (n->additional >= 0) return true;
    for (uint64_t m = st->key_match & ~st->top.seen; m; m &= m - 1) {
        const cn_json_property *p = &s->props[n->first_prop + (uint32_t)__builtin_ctzll(m)];
        if (p->len > st->key_len && memchr("\"\\/\b\f\n\r\t", s->names[p->name + st->key_len], 8)) return true;
    }
    return false;
}

enum { STR_REJECT, STR_MORE, STR_CLOSED };

/* One byte inside a string (a key when is_key): escapes, UTF-8, the DSML marker. */
static int string_byte(const cn_json_context *ctx, cn_json_state *st, uint8_t b, bool is_key) {
    if (ctx->forbid_dsml && (st->marker = cn_dsml_marker_step(st->marker, b)) == CN_DSML_MARKER_LEN) return STR_REJECT;
    switch (st->sub) {
    case S_CHAR:
        if (b == '"') return STR_CLOSED;
        if (b == '\\') {
            st->sub = S_ESC;
            return !is_key || key_escape_viable(ctx, st) ? STR_MORE : STR_REJECT;
        }
        if (b < 0x20) return STR_REJECT;
        if (b >= 0x80) {
            uint8_t need, lo = 0x80, hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) need = 1;
            else if (b == 0xE0) need = 2, lo = 0xA0;
            else if (b == 0xED) need = 2, hi = 0x9F;
            else if (b >= 0xE1 && b <= 0xEF) need = 2;
            else if (b == 0xF0) need = 3, lo = 0x90;
            else if (b == 0xF4) need = 3, hi = 0x8F;
            else if (b >= 0xF1 && b <= 0xF3) need = 3;
            else return STR_REJECT;
            st->sub = S_UTF8;
            st->utf8_need = need;
            st->utf8_lo = lo;
            st->utf8_hi = hi;
        }
        return !is_key || key_byte(ctx, st, b) ? STR_MORE : STR_REJECT;
    case S_UTF8:
        if (b < st->utf8_lo || b > st->utf8_hi) return STR_REJECT;
        st->utf8_lo = 0x80;
        st->utf8_hi = 0xBF;
        if (--st->utf8_need == 0) st->sub = S_CHAR;
        return !is_key || key_byte(ctx, st, b) ? STR_MORE : STR_REJECT;
    case S_ESC: {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *at = b ? strchr(from, b) : NULL;
        if (at) {
            st->sub = S_CHAR;
            return !is_key || key_byte(ctx, st, (uint8_t)to[at - from]) ? STR_MORE : STR_REJECT;
        }
        /* \u in a key would need decoding to match declared names: only for free keys */
        if (b != 'u' || (is_key && node_of(ctx, st->top.schema)->n_props > 0)) return STR_REJECT;
        st->sub = S_HEX0;
        return STR_MORE;
    }
    case S_HEX0:
        if (!is_hex(b)) return STR_REJECT;
        st->sub = b == 'd' || b == 'D' ? S_HEX1_D : S_HEX1;
        return STR_MORE;
    case S_HEX1_D: /* \uD800-\uDFFF are surrogates: refused, see the header */
        if (!is_hex(b) || !(b >= '0' && b <= '7')) return STR_REJECT;
        st->sub = S_HEX2;
        return STR_MORE;
    case S_HEX1:
    case S_HEX2:
    case S_HEX3:
        if (!is_hex(b)) return STR_REJECT;
        st->sub = st->sub == S_HEX3 ? S_CHAR : st->sub == S_HEX2 ? S_HEX3 : S_HEX2;
        return STR_MORE;
    default:
        return STR_REJECT;
    }
}

static bool number_can_end(uint8_t sub) { return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP_DIGITS; }

/* One byte of a number; false when it does not continue the number. */
static bool number_byte(const cn_json_context *ctx, cn_json_state *st, uint8_t b) {
    bool fractional = (node_of(ctx, st->value)->types & CN_JSON_NUMBER) != 0;
    switch (st->sub) {
    case N_MINUS:
        if (!is_digit(b)) return false;
        st->sub = b == '0' ? N_ZERO : N_INT;
        st->digits = b == '0' ? 0 : 1;
        return true;
    case N_ZERO:
    case N_INT:
        if (is_digit(b) && st->sub == N_INT && st->digits < MAX_INT_DIGITS) {
            st->digits++;
            return true;
        }
        if (fractional && b == '.') {
            st->sub = N_DOT;
            return true;
        }
        if (fractional && (b == 'e' || b == 'E')) {
            st->sub = N_EXP;
            return true;
        }
        return false;
    case N_DOT:
        if (!is_digit(b)) return false;
        st->sub = N_FRAC;
        st->digits = 1;
        return true;
    case N_FRAC:
        if (is_digit(b) && st->digits < MAX_FRAC_DIGITS) {
            st->digits++;
            return true;
        }
        if (b == 'e' || b == 'E') {
            st->sub = N_EXP;
            return true;
        }
        return false;
    case N_EXP:
        if (b == '+' || b == '-') {
            st->sub = N_EXP_SIGN;
            return true;
        }
        __attribute__((fallthrough));
    case N_EXP_SIGN:
        if (!is_digit(b)) return false;
        st->sub = N_EXP_DIGITS;
        st->digits = 1;
        return true;
    case N_EXP_DIGITS:
        if (!is_digit(b) || st->digits >= MAX_EXP_DIGITS) return false;
        st->digits++;
        return true;
    default:
        return false;
    }
}

bool cn_json_step(cn_json_context *ctx, cn_json_state *st, uint8_t b) {
    for (;;) {
        switch (st->lex) {
        case LEX_VALUE:
            if (is_ws(b)) return (st->depth > 0 || ctx->outer_ws) && take_ws(ctx, st);
            return start_value(ctx, st, b);
        case LEX_ARR_FIRST: {
            if (is_ws(b)) return take_ws(ctx, st);
            const cn_json_node *n = node_of(ctx, st->top.schema);
            if (b == ']') {
                if (n->min_items > 0) return false;
                pop(st);
                return true;
            }
            if (n->max_items == 0) return false;
            st->value = n->items;
            return start_value(ctx, st, b);
        }
        case LEX_OBJ_FIRST:
            if (is_ws(b)) return take_ws(ctx, st);
            if (b == '}') {
                if (!required_present(ctx, st)) return false;
                pop(st);
                return true;
            }
            __attribute__((fallthrough)); /* a key */
        case LEX_OBJ_KEY:
            if (is_ws(b)) return take_ws(ctx, st);
            if (b != '"' || !can_add_key(ctx, st)) return false;
            st->lex = LEX_KEY;
            st->sub = S_CHAR;
            st->marker = 0;
            st->key_match = low_bits(node_of(ctx, st->top.schema)->n_props);
            st->key_len = 0;
            return true;
        case LEX_KEY:
            switch (string_byte(ctx, st, b, true)) {
            case STR_MORE: return true;
            case STR_REJECT: return false;
            default:
                if (!key_close(ctx, st)) return false;
                st->lex = LEX_COLON;
                st->ws = 0;
                return true;
            }
        case LEX_COLON:
            if (is_ws(b)) return take_ws(ctx, st);
            if (b != ':') return false;
            st->lex = LEX_VALUE;
            st->ws = 0;
            return true;
        case LEX_AFTER: {
            if (is_ws(b)) return take_ws(ctx, st);
            const cn_json_node *n = node_of(ctx, st->top.schema);
            if (st->top.is_array) {
                if (b == ',' && st->top.count < n->max_items) {
                    st->lex = LEX_VALUE;
                    st->value = n->items;
                    st->ws = 0;
                    return true;
                }
                if (b == ']' && st->top.count >= n->min_items) {
                    pop(st);
                    return true;
                }
                return false;
            }
            if (b == ',' && can_add_key(ctx, st)) {
                st->lex = LEX_OBJ_KEY;
                st->ws = 0;
                return true;
            }
            if (b == '}' && required_present(ctx, st)) {
                pop(st);
                return true;
            }
            return false;
        }
        case LEX_STRING:
            switch (string_byte(ctx, st, b, false)) {
            case STR_MORE: return true;
            case STR_REJECT: return false;
            default: value_done(st); return true;
            }
        case LEX_NUMBER:
            if (number_byte(ctx, st, b)) return true;
            if (!number_can_end(st->sub)) return false;
            value_done(st);
            continue; /* b belongs to the container */
        case LEX_LITERAL: {
            const char *lit = LITERALS[st->digits];
            if ((uint8_t)lit[st->sub] != b) return false;
            if (lit[++st->sub] == 0) value_done(st);
            return true;
        }
        case LEX_ENUM: {
            int32_t c = enum_child(ctx->schema, st->enum_at, b);
            if (c >= 0) {
                st->enum_at = c;
                return true;
            }
            if (!ctx->schema->enum_nodes[st->enum_at].terminal) return false;
            value_done(st);
            continue;
        }
        default:
            return false;
        }
    }
}

bool cn_json_can_end(const cn_json_context *ctx, const cn_json_state *st) {
    if (st->depth > 0) return false;
    if (st->lex == LEX_DONE) return true;
    if (st->lex == LEX_NUMBER) return number_can_end(st->sub);
    if (st->lex == LEX_ENUM) return ctx->schema->enum_nodes[st->enum_at].terminal;
    return false;
}

bool cn_json_in_plain_string(const cn_json_context *ctx, const cn_json_state *st) {
    if (st->sub != S_CHAR) return false;
    if (st->lex == LEX_STRING) return true;
    return st->lex == LEX_KEY && node_of(ctx, st->top.schema)->n_props == 0;
}
