/* The three Split passes of DeepSeek's pre-tokenizer, as nested scans over one text.
 * Offsets are byte offsets into the original text; passes hand sub-ranges down. */
#include "text/pretokenize.h"

#include <stdbool.h>

#include "text/unicode_classes.h"
#include "text/unicode_utf8.h"

typedef struct {
    const uint8_t *text;
    cn_piece_fn emit;
    void *ctx;
    cn_error *err;
} splitter;

/* One decoded character: its code point, class mask and byte length. */
typedef struct {
    uint32_t cp;
    uint8_t cls;
    uint8_t len;
} character;

static character char_at(const splitter *s, size_t pos) {
    character c;
    c.len = (uint8_t)cn_utf8_decode_valid(s->text + pos, &c.cp);
    c.cls = cn_unicode_class(c.cp);
    return c;
}

/* ---- Pass C: the six alternatives -------------------------------------------------------- */

static bool is_ascii_punct(uint32_t cp) { /* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~] */
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
}
static bool is_ascii_letter(uint32_t cp) { return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'; }
static bool is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }
static bool is_letter_or_mark(const character *c) { return c->cls & (CN_UC_LETTER | CN_UC_MARK); }
static bool is_punct_or_symbol(const character *c) { return c->cls & (CN_UC_PUNCT | CN_UC_SYMBOL); }
static bool is_space(const character *c) { return c->cls & CN_UC_SPACE; }

/* End of the run of characters satisfying pred starting at pos (pos itself if none). */
static size_t run_end(const splitter *s, size_t pos, size_t end, bool (*pred)(const character *)) {
    while (pos < end) {
        character c = char_at(s, pos);
        if (!pred(&c)) break;
        pos += c.len;
    }
    return pos;
}

static bool is_crlf_char(const character *c) { return is_crlf(c->cp); }
static bool is_ascii_letter_char(const character *c) { return is_ascii_letter(c->cp); }

/* Returns the end of the leftmost-first match of pattern C at pos, or pos if none matches. */
static size_t match_c_at(const splitter *s, size_t pos, size_t end) {
    character c0 = char_at(s, pos);
    bool has_next = pos + c0.len < end;
    character c1 = has_next ? char_at(s, pos + c0.len) : (character){0, 0, 0};

    /* 1: [ASCII punct][A-Za-z]+ */
    if (is_ascii_punct(c0.cp) && has_next && is_ascii_letter(c1.cp))
        return run_end(s, pos + c0.len, end, is_ascii_letter_char);

    /* 2: [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ -- try the optional character first (greedy),
     * then without it; a mark can serve either role, the result is the same run. */
    bool optional_ok = !is_crlf(c0.cp) && !(c0.cls & (CN_UC_LETTER | CN_UC_PUNCT | CN_UC_SYMBOL));
    if (optional_ok && has_next && is_letter_or_mark(&c1)) return run_end(s, pos + c0.len, end, is_letter_or_mark);
    if (is_letter_or_mark(&c0)) return run_end(s, pos, end, is_letter_or_mark);

    /* 3: ' '?[\p{P}\p{S}]+[\r\n]* */
    size_t ps_start = pos;
    if (c0.cp == ' ' && has_next && is_punct_or_symbol(&c1))
        ps_start = pos + 1;
    if (ps_start != pos || is_punct_or_symbol(&c0)) {
        size_t after = run_end(s, ps_start, end, is_punct_or_symbol);
        return run_end(s, after, end, is_crlf_char);
    }

    if (!is_space(&c0)) return pos;
    /* The whitespace run [pos, ws_end), remembering where its last CR/LF ends and where its
     * last character starts: alternatives 4-6 are decided from these alone. */
    size_t ws_end = pos, last_crlf_end = pos, last_char_start = pos;
    while (ws_end < end) {
        character c = char_at(s, ws_end);
        if (!is_space(&c)) break;
        last_char_start = ws_end;
        ws_end += c.len;
        if (is_crlf(c.cp)) last_crlf_end = ws_end;
    }
    /* 4: \s*[\r\n]+ -- \s* backs off to the last CR/LF of the run */
    if (last_crlf_end != pos) return last_crlf_end;
    /* 5: \s+(?!\S) -- the whole run at the end of the piece; otherwise the run minus its last
     * character, which is whitespace, so the lookahead holds there (needs 2+ characters) */
    if (ws_end == end) return ws_end;
    if (last_char_start != pos) return last_char_start;
    /* 6: \s+ */
    return ws_end;
}

static cn_status pass_c(const splitter *s, size_t start, size_t end) {
    size_t pos = start, gap = start;
    while (pos < end) {
        size_t match_end = match_c_at(s, pos, end);
        if (match_end == pos) { /* no match here: the character joins the gap */
            pos += char_at(s, pos).len;
            continue;
        }
        cn_status st;
        if (gap < pos && (st = s->emit(s->ctx, gap, pos, s->err)) != CN_OK) return st;
        if ((st = s->emit(s->ctx, pos, match_end, s->err)) != CN_OK) return st;
        pos = gap = match_end;
    }
    if (gap < end) return s->emit(s->ctx, gap, end, s->err);
    return CN_OK;
}

/* ---- Pass B: runs of DeepSeek's CJK class -------------------------------------------------- */

static bool is_deepseek_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF);
}
static bool is_deepseek_cjk_char(const character *c) { return is_deepseek_cjk(c->cp); }

static cn_status pass_b(const splitter *s, size_t start, size_t end) {
    size_t pos = start, gap = start;
    cn_status st;
    while (pos < end) {
        character c = char_at(s, pos);
        if (!is_deepseek_cjk(c.cp)) {
            pos += c.len;
            continue;
        }
        size_t run = run_end(s, pos, end, is_deepseek_cjk_char);
        if (gap < pos && (st = pass_c(s, gap, pos)) != CN_OK) return st;
        if ((st = pass_c(s, pos, run)) != CN_OK) return st;
        pos = gap = run;
    }
    if (gap < end) return pass_c(s, gap, end);
    return CN_OK;
}

/* ---- Pass A: digit groups of at most three ------------------------------------------------- */

static cn_status pass_a(const splitter *s, size_t start, size_t end) {
    size_t pos = start, gap = start;
    cn_status st;
    while (pos < end) {
        character c = char_at(s, pos);
        if (!(c.cls & CN_UC_NUMBER)) {
            pos += c.len;
            continue;
        }
        size_t group = pos + c.len;
        for (int count = 1; count < 3 && group < end; count++) {
            character d = char_at(s, group);
            if (!(d.cls & CN_UC_NUMBER)) break;
            group += d.len;
        }
        if (gap < pos && (st = pass_b(s, gap, pos)) != CN_OK) return st;
        if ((st = pass_b(s, pos, group)) != CN_OK) return st;
        pos = gap = group;
    }
    if (gap < end) return pass_b(s, gap, end);
    return CN_OK;
}

cn_status cn_pretokenize(const uint8_t *text, size_t len, cn_piece_fn emit, void *ctx, cn_error *err) {
    splitter s = {text, emit, ctx, err};
    if (len == 0) return CN_OK;
    return pass_a(&s, 0, len);
}
