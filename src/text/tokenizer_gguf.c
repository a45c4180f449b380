/* DeepSeek-V3/V4's tokenizer from GGUF metadata, as llama.cpp's converter stores it
 * (convert_hf_to_gguf.py TextModel.get_vocab_base + _set_vocab_gpt2, gguf-py SpecialVocab):
 *
 *   tokenizer.ggml.model       "gpt2" (byte-level BPE)
 *   tokenizer.ggml.pre         the pre-tokenizer's name: "joyai-llm" (V4 files) or "deepseek-v3",
 *                              which llama.cpp's llama-vocab.cpp maps to the same three regexes
 *                              (LLAMA_VOCAB_PRE_TYPE_JOYAI_LLM / _DEEPSEEK3_LLM) as tokenizer.json
 *   tokenizer.ggml.tokens      string per id: tokenizer.json's vocabulary spelling for ordinary
 *                              tokens, the content for added ones
 *   tokenizer.ggml.token_type  int32 per id: 1 normal, 3 control (added, special or "looking
 *                              special"), 4 user-defined (other added), 5 unused ("[PAD<id>]")
 *   tokenizer.ggml.merges      "left right" strings in rank order
 *
 * The converter keeps neither HF's `special` nor its `normalized` flag: any added token spelled
 * "<｜...｜>" or "<|...|>" becomes CONTROL. Control tokens are taken as special with
 * normalized:false, user-defined ones as non-special with normalized:true (HF's defaults), and
 * DeepSeek's own non-special added tokens (the table below, from V4's tokenizer.json) get their
 * tokenizer.json flags back, so a DeepSeek GGUF encodes exactly as its tokenizer.json in all three
 * added-token modes. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "text/tokenizer_gguf.h"
#include "text/tokenizer_internal.h"
#include "text/unicode_utf8.h"

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6 };

/* tokenizer.ggml.pre names llama.cpp gives DeepSeek's three-regex pre-tokenizer. */
static const char *const deepseek_pre_names[] = {"joyai-llm", "deepseek-v3"};

/* DeepSeek-V4's added tokens with special:false in tokenizer.json, and their normalized flag. The
 * converter writes most as CONTROL (they look special); these restore HF's flags. */
static const struct {
    const char *content;
    int normalized;
} deepseek_non_special[] = {
    {"<｜fim▁hole｜>", 1}, /* 128800 */
    {"<｜fim▁begin｜>", 1}, /* 128801 */
    {"<｜fim▁end｜>", 1}, /* 128802 */
    {"<｜User｜>", 1}, /* 128803 */
    {"<｜Assistant｜>", 1}, /* 128804 */
    {"<|EOT|>", 1}, /* 128805 */
    {"<｜tool▁calls▁begin｜>", 1}, /* 128806 */
    {"<｜tool▁calls▁end｜>", 1}, /* 128807 */
    {"<｜tool▁call▁begin｜>", 1}, /* 128808 */
    {"<｜tool▁call▁end｜>", 1}, /* 128809 */
    {"<｜tool▁outputs▁begin｜>", 1}, /* 128810 */
    {"<｜tool▁outputs▁end｜>", 1}, /* 128811 */
    {"<｜tool▁output▁begin｜>", 1}, /* 128812 */
    {"<｜tool▁output▁end｜>", 1}, /* 128813 */
    {"<｜tool▁sep｜>", 1}, /* 128814 */
    {"<｜begin▁of▁repo▁name｜>", 1}, /* 128815 */
    {"<｜end▁of▁repo▁name｜>", 1}, /* 128816 */
    {"<｜begin▁of▁file▁name｜>", 1}, /* 128817 */
    {"<｜end▁of▁file▁name｜>", 1}, /* 128818 */
    {"<｜begin▁of▁file｜>", 1}, /* 128819 */
    {"<｜end▁of▁file｜>", 1}, /* 128820 */
    {"<think>", 1}, /* 128821 */
    {"</think>", 1}, /* 128822 */
    {"<｜place▁holder▁for▁copy｜>", 1}, /* 128823 */
    {"<｜place▁holder▁for▁pointer▁replace｜>", 1}, /* 128824 */
    {"｜DSML｜", 1}, /* 128825 */
    {"<｜begin▁sys｜>", 1}, /* 128826 */
    {"<｜end▁sys｜>", 1}, /* 128827 */
    {"<｜latest_reminder｜>", 1}, /* 128828 */
    {"<｜action｜>", 1}, /* 128829 */
    {"<｜query｜>", 1}, /* 128830 */
    {"<｜authority｜>", 1}, /* 128831 */
    {"<｜domain｜>", 1}, /* 128832 */
    {"<｜task｜>", 1}, /* 128833 */
    {"<｜political｜>", 1}, /* 128834 */
    {"<｜entity｜>", 1}, /* 128835 */
    {"<｜title｜>", 1}, /* 128836 */
    {"<｜safety｜>", 1}, /* 128837 */
    {"<｜answer｜>", 1}, /* 128838 */
    {"<｜search｜>", 1}, /* 128839 */
    {"<dsml:", 1}, /* 128840 */
    {"</dsml:", 1}, /* 128841 */
    {"<｜search▁begin｜>", 1}, /* 128842 */
    {"<｜search▁end｜>", 1}, /* 128843 */
    {"<｜extracted_url｜>", 1}, /* 128844 */
    {"<｜read_url｜>", 1}, /* 128845 */
    {"<｜image2｜>", 0}, /* 129264 */
    {"<｜/table>｜", 0}, /* 129265 */
    {"<｜table｜>", 0}, /* 129266 */
    {"<｜/td｜>", 0}, /* 129267 */
    {"<｜td｜>", 0}, /* 129268 */
    {"<｜/tr｜>", 0}, /* 129269 */
    {"<｜tr｜>", 0}, /* 129270 */
};

#define MAX_TOKENS 16777216

/* A string array's elements, walked in order (cn_gguf_parse checked that they lie in the file). */
typedef struct {
    const uint8_t *p;
} string_cursor;

static cn_gguf_string next_string(string_cursor *c) {
    uint64_t len;
    memcpy(&len, c->p, 8);
    cn_gguf_string s = {(const char *)c->p + 8, (size_t)len};
    c->p += 8 + (size_t)len;
    return s;
}

static cn_status string_array(const cn_gguf *g, const char *key, const cn_gguf_kv **out, cn_error *err) {
    *out = cn_gguf_find(g, key);
    if (!*out) return cn_fail(err, CN_ERR_MISSING, "tokenizer: GGUF metadata %s is missing", key);
    if ((*out)->type != CN_GGUF_ARRAY || (*out)->elem_type != CN_GGUF_STRING)
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF metadata %s must be an array of strings", key);
    return CN_OK;
}

/* "none" and "no_vocab" are llama.cpp's spellings for a model without a tokenizer (src/llama-vocab.cpp);
 * clawnet quantize writes "none" for a checkpoint that has none, since llama.cpp requires the key. */
static bool is_no_vocab(cn_gguf_string model) {
    return cn_gguf_string_equals(model, "none") || cn_gguf_string_equals(model, "no_vocab");
}

bool cn_gguf_has_tokenizer(const cn_gguf *g) {
    cn_gguf_string model;
    cn_error ignored = {0};
    if (!cn_gguf_find(g, "tokenizer.ggml.model")) return false;
    return cn_gguf_get_string(g, "tokenizer.ggml.model", &model, &ignored) != CN_OK || !is_no_vocab(model);
}

static cn_status check_pipeline(const cn_gguf *g, cn_error *err) {
    cn_gguf_string model, pre;
    cn_status st = cn_gguf_get_string(g, "tokenizer.ggml.model", &model, err);
    if (st == CN_ERR_MISSING) return cn_fail(err, st, "tokenizer: the GGUF has no tokenizer (tokenizer.ggml.model is missing)");
    if (st) return st;
    if (is_no_vocab(model))
        return cn_fail(err, CN_ERR_MISSING, "tokenizer: the GGUF has no tokenizer (tokenizer.ggml.model is \"%.*s\")",
                       (int)model.len, model.ptr);
    if (!cn_gguf_string_equals(model, "gpt2"))
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tokenizer: GGUF tokenizer.ggml.model \"%.*s\" is not supported (only \"gpt2\", byte-level BPE)",
                       (int)(model.len > 80 ? 80 : model.len), model.ptr);
    st = cn_gguf_get_string(g, "tokenizer.ggml.pre", &pre, err);
    if (st == CN_ERR_MISSING)
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tokenizer: GGUF tokenizer.ggml.pre is missing; only DeepSeek's pre-tokenizer (\"joyai-llm\" or "
                       "\"deepseek-v3\") is supported");
    if (st) return st;
    for (size_t i = 0; i < sizeof deepseek_pre_names / sizeof deepseek_pre_names[0]; i++)
        if (cn_gguf_string_equals(pre, deepseek_pre_names[i])) return CN_OK;
    return cn_fail(err, CN_ERR_UNSUPPORTED,
                   "tokenizer: GGUF tokenizer.ggml.pre \"%.*s\" is not supported (only DeepSeek's: \"joyai-llm\" or "
                   "\"deepseek-v3\")",
                   (int)(pre.len > 80 ? 80 : pre.len), pre.ptr);
}

static cn_status check_utf8(cn_gguf_string s, const char *what, uint64_t index, cn_error *err) {
    size_t bad;
    if (!cn_utf8_validate((const uint8_t *)s.ptr, s.len, &bad))
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF %s %" PRIu64 " is not valid UTF-8 (byte %zu)", what, index, bad);
    return CN_OK;
}

/* The bytes a spelling stands for (see cn_tokenizer_spelling_bytes); *bytes is malloc'd. */
static cn_status spelling(cn_gguf_string s, uint8_t **bytes, size_t *n, int *in_alphabet, cn_error *err) {
    *bytes = malloc(s.len + 1);
    if (!*bytes) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    *n = cn_tokenizer_spelling_bytes(s.ptr, s.len, *bytes, in_alphabet);
    return CN_OK;
}

static cn_status load_normal(cn_tokenizer *tok, const cn_gguf_kv *tokens, const cn_gguf_kv *types, cn_error *err) {
    string_cursor c = {tokens->value};
    for (uint64_t id = 0; id < tokens->count; id++) {
        cn_gguf_string s = next_string(&c);
        int64_t type;
        cn_status st = cn_gguf_array_int(types, id, &type, err);
        if (st) return st;
        if ((st = check_utf8(s, "token", id, err))) return st;
        if (type == TYPE_CONTROL || type == TYPE_USER_DEFINED || type == TYPE_UNUSED) continue;
        if (type != TYPE_NORMAL)
            return cn_fail(err, CN_ERR_UNSUPPORTED,
                           "tokenizer: GGUF token %" PRIu64 " has token_type %" PRId64 " (%s); byte-level BPE uses only "
                           "1 normal, 3 control, 4 user-defined and 5 unused",
                           id, type, type == TYPE_UNKNOWN ? "unknown" : type == TYPE_BYTE ? "byte" : "not a llama.cpp type");
        uint8_t *bytes;
        size_t n = 0;
        int in_alphabet = 0;
        if ((st = spelling(s, &bytes, &n, &in_alphabet, err))) return st;
        st = cn_bpe_add_token(&tok->bpe, (int32_t)id, bytes, n, in_alphabet && n > 0, err);
        free(bytes);
        if (st) return st;
    }
    return CN_OK;
}

static cn_status load_merges(cn_tokenizer *tok, const cn_gguf_kv *merges, cn_error *err) {
    string_cursor c = {merges->value};
    for (uint64_t i = 0; i < merges->count; i++) {
        cn_gguf_string s = next_string(&c);
        cn_status st = check_utf8(s, "merge", i, err);
        if (st) return st;
        const char *space = memchr(s.ptr, ' ', s.len);
        size_t left_len = space ? (size_t)(space - s.ptr) : 0;
        if (!space || left_len == 0 || left_len + 1 == s.len || memchr(space + 1, ' ', s.len - left_len - 1))
            return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF merge %" PRIu64 " \"%.*s\" is not \"left right\"", i,
                           (int)(s.len > 80 ? 80 : s.len), s.ptr);
        int32_t left = cn_tokenizer_operand_id(tok, s.ptr, left_len);
        int32_t right = cn_tokenizer_operand_id(tok, space + 1, s.len - left_len - 1);
        if (left < 0 || right < 0)
            return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF merge %" PRIu64 " \"%.*s\" uses a token not in the vocabulary",
                           i, (int)(s.len > 80 ? 80 : s.len), s.ptr);
        if ((st = cn_bpe_add_merge(&tok->bpe, left, right, err))) return st;
    }
    return CN_OK;
}

/* HF's flags for an added token: from its GGUF type, or DeepSeek's table. */
static void added_flags(cn_gguf_string s, int64_t type, int *special, int *normalized) {
    *special = type == TYPE_CONTROL;
    *normalized = !*special;
    for (size_t i = 0; i < sizeof deepseek_non_special / sizeof deepseek_non_special[0]; i++)
        if (cn_gguf_string_equals(s, deepseek_non_special[i].content)) {
            *special = 0;
            *normalized = deepseek_non_special[i].normalized;
            return;
        }
}

static cn_status load_added(cn_tokenizer *tok, const cn_gguf_kv *tokens, const cn_gguf_kv *types, cn_error *err) {
    string_cursor c = {tokens->value};
    for (uint64_t id = 0; id < tokens->count; id++) {
        cn_gguf_string s = next_string(&c);
        int64_t type;
        cn_status st = cn_gguf_array_int(types, id, &type, err);
        if (st) return st;
        if (type != TYPE_CONTROL && type != TYPE_USER_DEFINED) continue;
        if (s.len == 0) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF added token %" PRIu64 " is empty", id);
        uint8_t *bytes;
        size_t n = 0;
        int in_alphabet = 0, special, normalized;
        if ((st = spelling(s, &bytes, &n, &in_alphabet, err))) return st;
        st = cn_bpe_add_token(&tok->bpe, (int32_t)id, bytes, n, 0, err);
        free(bytes);
        if (st) return st;
        added_flags(s, type, &special, &normalized);
        tok->special[id] = (uint8_t)special;
        st = cn_added_trie_insert(normalized ? &tok->normalized_tokens : &tok->raw_tokens, (const uint8_t *)s.ptr, s.len,
                                  (int32_t)id, err);
        if (st) return st;
    }
    return CN_OK;
}

static cn_status build(cn_tokenizer *tok, const cn_gguf *g, cn_error *err) {
    cn_status st;
    const cn_gguf_kv *tokens, *types, *merges;
    if ((st = check_pipeline(g, err)) || (st = string_array(g, "tokenizer.ggml.tokens", &tokens, err)) ||
        (st = string_array(g, "tokenizer.ggml.merges", &merges, err)))
        return st;
    types = cn_gguf_find(g, "tokenizer.ggml.token_type");
    if (!types) return cn_fail(err, CN_ERR_MISSING, "tokenizer: GGUF metadata tokenizer.ggml.token_type is missing");
    if (types->type != CN_GGUF_ARRAY || types->elem_type == CN_GGUF_STRING || types->elem_type == CN_GGUF_ARRAY ||
        types->elem_type == CN_GGUF_FLOAT32 || types->elem_type == CN_GGUF_FLOAT64)
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF metadata tokenizer.ggml.token_type must be an array of integers");
    if (types->count != tokens->count)
        return cn_fail(err, CN_ERR_FORMAT,
                       "tokenizer: GGUF tokenizer.ggml.token_type has %" PRIu64 " entries but tokenizer.ggml.tokens has %" PRIu64,
                       types->count, tokens->count);
    if (tokens->count < 256 || tokens->count > MAX_TOKENS)
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF tokenizer.ggml.tokens has %" PRIu64 " tokens (256..%d allowed)",
                       tokens->count, MAX_TOKENS);
    if (merges->count == 0) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: GGUF tokenizer.ggml.merges is empty");
    int32_t n = (int32_t)tokens->count;
    if ((st = cn_bpe_init(&tok->bpe, n, (size_t)n, (size_t)merges->count, err))) return st;
    tok->special = calloc((size_t)n, 1);
    if (!tok->special) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    if ((st = cn_added_trie_init(&tok->raw_tokens, err)) || (st = cn_added_trie_init(&tok->normalized_tokens, err)) ||
        (st = load_normal(tok, tokens, types, err)) || (st = cn_bpe_finish(&tok->bpe, err)) ||
        (st = load_merges(tok, merges, err)) || (st = load_added(tok, tokens, types, err)))
        return st;
    return CN_OK;
}

cn_status cn_tokenizer_from_gguf(const cn_gguf *g, cn_tokenizer **out, cn_error *err) {
    *out = NULL;
    cn_tokenizer *tok = calloc(1, sizeof *tok);
    cn_status st = tok ? build(tok, g, err) : cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    if (st) {
        cn_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return CN_OK;
}

cn_status cn_tokenizer_load_gguf_data(const uint8_t *data, size_t size, cn_tokenizer **out, cn_error *err) {
    *out = NULL;
    cn_gguf g;
    cn_status st = cn_gguf_parse(data, size, &g, err);
    if (st) return st;
    st = cn_tokenizer_from_gguf(&g, out, err);
    cn_gguf_free(&g);
    return st;
}

cn_status cn_tokenizer_load_gguf(const char *path, cn_tokenizer **out, cn_error *err) {
    *out = NULL;
    cn_mapped_file file;
    cn_status st = cn_mapped_file_open(path, &file, err);
    if (st) return st;
    st = cn_tokenizer_load_gguf_data(file.data, file.size, out, err);
    cn_mapped_file_close(&file);
    if (st) cn_error_prefix(err, "%s", path);
    return st;
}
