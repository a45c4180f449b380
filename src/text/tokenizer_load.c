/* Reading tokenizer.json with cJSON, behind a gate that accepts exactly DeepSeek's pipeline
 * (specs/tokenizer.md section 7.1): anything else would encode differently, so it is refused. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "text/bpe_bytelevel.h"
#include "text/tokenizer_internal.h"
#include "text/unicode_utf8.h"

/* The three Split patterns, as the JSON strings decode (\r and \n are real CR and LF). */
static const char *const split_patterns[3] = {
    "\\p{N}{1,3}",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
     " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
};

size_t cn_tokenizer_spelling_bytes(const char *s, size_t len, uint8_t *out, int *in_alphabet) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += cn_utf8_decode_valid((const uint8_t *)s + i, &cp);
        uint8_t b;
        if (!cn_bytelevel_byte(cp, &b)) {
            *in_alphabet = 0;
            memcpy(out, s, len);
            return len;
        }
        out[n++] = b;
    }
    *in_alphabet = 1;
    return n;
}

static const char *type_of(const cJSON *node) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
    return cJSON_IsString(t) ? t->valuestring : "(no type)";
}

static int is_type(const cJSON *node, const char *type) { return !strcmp(type_of(node), type); }

/* True if key is absent, null or false. */
static int absent_or_off(const cJSON *node, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v);
}

static cn_status check_normalizer(const cJSON *root, cn_error *err) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (!n || cJSON_IsNull(n)) return CN_OK;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
    if (is_type(n, "Sequence") && cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0) return CN_OK;
    return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: normalizer %s is not supported (only an empty Sequence)", type_of(n));
}

static cn_status check_pre_tokenizer(const cJSON *root, cn_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
    if (!p || !is_type(p, "Sequence") || !cJSON_IsArray(list) || cJSON_GetArraySize(list) != 4)
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tokenizer: pre_tokenizer %s is not supported (only DeepSeek's Sequence of three Splits and ByteLevel)",
                       p ? type_of(p) : "null");
    for (int i = 0; i < 3; i++) {
        const cJSON *split = cJSON_GetArrayItem(list, i);
        const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex");
        const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(split, "behavior");
        if (!is_type(split, "Split") || !cJSON_IsString(pattern) || strcmp(pattern->valuestring, split_patterns[i]) ||
            !cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated") || !absent_or_off(split, "invert"))
            return cn_fail(err, CN_ERR_UNSUPPORTED,
                           "tokenizer: pre-tokenizer step %d (%s) is not DeepSeek's Split %d (pattern, Isolated, not inverted)",
                           i + 1, type_of(split), i + 1);
    }
    const cJSON *byte_level = cJSON_GetArrayItem(list, 3);
    if (!is_type(byte_level, "ByteLevel") || !absent_or_off(byte_level, "add_prefix_space") ||
        !absent_or_off(byte_level, "use_regex"))
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tokenizer: pre-tokenizer step 4 (%s) must be ByteLevel without prefix space or regex",
                       type_of(byte_level));
    return CN_OK;
}

static cn_status check_model(const cJSON *model, cn_error *err) {
    if (!model || !is_type(model, "BPE"))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: model %s is not supported (only BPE)", model ? type_of(model) : "null");
    static const char *const off_keys[] = {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                                           "byte_fallback", "ignore_merges"};
    for (size_t i = 0; i < sizeof off_keys / sizeof off_keys[0]; i++)
        if (!absent_or_off(model, off_keys[i]))
            return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: BPE option \"%s\" is set; it is not supported", off_keys[i]);
    return CN_OK;
}

static cn_status check_decoder_and_rest(const cJSON *root, cn_error *err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (!d || !is_type(d, "ByteLevel"))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: decoder %s is not supported (only ByteLevel)", d ? type_of(d) : "null");
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (post && !cJSON_IsNull(post) && !is_type(post, "ByteLevel"))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: post_processor %s is not supported (only ByteLevel or none)", type_of(post));
    if (!absent_or_off(root, "truncation") || !absent_or_off(root, "padding"))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: truncation and padding must be off");
    return CN_OK;
}

/* The largest id in the vocabulary and the added tokens, validating their shapes. */
static cn_status scan_ids(const cJSON *vocab, const cJSON *added, int32_t *max_id, cn_error *err) {
    *max_id = -1;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, vocab) {
        if (!cJSON_IsNumber(entry) || entry->valuedouble < 0 || entry->valuedouble > 16777216 ||
            entry->valuedouble != (double)entry->valueint)
            return cn_fail(err, CN_ERR_FORMAT, "tokenizer: vocabulary entry \"%.80s\" has a bad id", entry->string);
        if (entry->valueint > *max_id) *max_id = entry->valueint;
    }
    cJSON_ArrayForEach(entry, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(entry, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(entry, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 16777216 || !cJSON_IsString(content))
            return cn_fail(err, CN_ERR_FORMAT, "tokenizer: an added token lacks an id or content");
        if (id->valueint > *max_id) *max_id = id->valueint;
        static const char *const off_keys[] = {"lstrip", "rstrip", "single_word"};
        for (size_t i = 0; i < 3; i++)
            if (!absent_or_off(entry, off_keys[i]))
                return cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: added token \"%.80s\" sets %s; not supported",
                               content->valuestring, off_keys[i]);
    }
    if (*max_id < 255) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: vocabulary too small for byte-level BPE");
    return CN_OK;
}

static cn_status load_vocab(cn_tokenizer *tok, const cJSON *vocab, cn_error *err) {
    const cJSON *entry;
    cJSON_ArrayForEach(entry, vocab) {
        size_t len = strlen(entry->string);
        uint8_t *bytes = malloc(len + 1);
        if (!bytes) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
        int in_alphabet;
        size_t n = cn_tokenizer_spelling_bytes(entry->string, len, bytes, &in_alphabet);
        cn_status st = cn_bpe_add_token(&tok->bpe, entry->valueint, bytes, n, in_alphabet && n > 0, err);
        free(bytes);
        if (st != CN_OK) return st;
    }
    return CN_OK;
}

/* The id of a merge operand spelled in the byte-level alphabet, or -1 (both loaders use it). */
int32_t cn_tokenizer_operand_id(const cn_tokenizer *tok, const char *s, size_t len) {
    uint8_t stack_buf[256];
    uint8_t *bytes = len <= sizeof stack_buf ? stack_buf : malloc(len);
    if (!bytes) return -1;
    int in_alphabet;
    size_t n = cn_tokenizer_spelling_bytes(s, len, bytes, &in_alphabet);
    int32_t id = in_alphabet ? cn_bpe_lookup(&tok->bpe, bytes, n) : -1;
    if (bytes != stack_buf) free(bytes);
    return id;
}

/* Merges are "left right" strings (the alphabet has no space) or, in newer files, [left, right]. */
static cn_status load_merges(cn_tokenizer *tok, const cJSON *merges, cn_error *err) {
    const cJSON *rule;
    size_t index = 0;
    cJSON_ArrayForEach(rule, merges) {
        const char *left = NULL, *right = NULL;
        size_t left_len = 0, right_len = 0;
        if (cJSON_IsString(rule)) {
            const char *space = strchr(rule->valuestring, ' ');
            if (space && !strchr(space + 1, ' ')) {
                left = rule->valuestring;
                left_len = (size_t)(space - left);
                right = space + 1;
                right_len = strlen(right);
            }
        } else if (cJSON_IsArray(rule) && cJSON_GetArraySize(rule) == 2 && cJSON_IsString(cJSON_GetArrayItem(rule, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(rule, 1))) {
            left = cJSON_GetArrayItem(rule, 0)->valuestring;
            right = cJSON_GetArrayItem(rule, 1)->valuestring;
            left_len = strlen(left);
            right_len = strlen(right);
        }
        if (!left) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: merge %zu is not a pair of tokens", index);
        int32_t left_id = cn_tokenizer_operand_id(tok, left, left_len);
        int32_t right_id = cn_tokenizer_operand_id(tok, right, right_len);
        if (left_id < 0 || right_id < 0)
            return cn_fail(err, CN_ERR_FORMAT, "tokenizer: merge %zu uses a token not in the vocabulary", index);
        cn_status st = cn_bpe_add_merge(&tok->bpe, left_id, right_id, err);
        if (st != CN_OK) return st;
        index++;
    }
    return CN_OK;
}

static cn_status load_added(cn_tokenizer *tok, const cJSON *added, cn_error *err) {
    const cJSON *entry;
    cJSON_ArrayForEach(entry, added) {
        int32_t id = cJSON_GetObjectItemCaseSensitive(entry, "id")->valueint;
        const char *content = cJSON_GetObjectItemCaseSensitive(entry, "content")->valuestring;
        size_t len = strlen(content);
        int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "special"));
        /* normalized defaults to true for non-special tokens, false for special ones (HF AddedToken) */
        const cJSON *normalized_item = cJSON_GetObjectItemCaseSensitive(entry, "normalized");
        int normalized = normalized_item ? cJSON_IsTrue(normalized_item) : !special;
        if (len == 0) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: added token %d is empty", (int)id);
        uint8_t *bytes = malloc(len);
        if (!bytes) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
        int in_alphabet;
        size_t n = cn_tokenizer_spelling_bytes(content, len, bytes, &in_alphabet);
        size_t have_len;
        const uint8_t *have = cn_bpe_token_bytes(&tok->bpe, id, &have_len);
        cn_status st = CN_OK;
        if (have && (have_len != n || memcmp(have, bytes, n)))
            st = cn_fail(err, CN_ERR_UNSUPPORTED, "tokenizer: added token %d \"%.80s\" differs from the vocabulary entry with its id",
                         (int)id, content);
        else if (!have)
            st = cn_bpe_add_token(&tok->bpe, id, bytes, n, 0, err);
        free(bytes);
        if (st != CN_OK) return st;
        if (special) tok->special[id] = 1;
        st = cn_added_trie_insert(normalized ? &tok->normalized_tokens : &tok->raw_tokens, (const uint8_t *)content, len,
                                  id, err);
        if (st != CN_OK) return st;
    }
    return CN_OK;
}

static cn_status load_parsed(cn_tokenizer *tok, const cJSON *root, cn_error *err) {
    cn_status st;
    if ((st = check_normalizer(root, err)) != CN_OK || (st = check_pre_tokenizer(root, err)) != CN_OK ||
        (st = check_decoder_and_rest(root, err)) != CN_OK)
        return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if ((st = check_model(model, err)) != CN_OK) return st;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return cn_fail(err, CN_ERR_FORMAT, "tokenizer: model.vocab (object) or model.merges (array) missing");
    if (added && !cJSON_IsArray(added)) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: added_tokens is not an array");
    int32_t max_id;
    if ((st = scan_ids(vocab, added, &max_id, err)) != CN_OK) return st;
    if ((st = cn_bpe_init(&tok->bpe, max_id + 1, (size_t)cJSON_GetArraySize(vocab), (size_t)cJSON_GetArraySize(merges),
                          err)) != CN_OK)
        return st;
    tok->special = calloc((size_t)max_id + 1, 1);
    if (!tok->special) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    if ((st = cn_added_trie_init(&tok->raw_tokens, err)) != CN_OK ||
        (st = cn_added_trie_init(&tok->normalized_tokens, err)) != CN_OK || (st = load_vocab(tok, vocab, err)) != CN_OK ||
        (st = cn_bpe_finish(&tok->bpe, err)) != CN_OK || (st = load_merges(tok, merges, err)) != CN_OK ||
        (st = load_added(tok, added, err)) != CN_OK)
        return st;
    return CN_OK;
}

cn_status cn_tokenizer_load_json(const char *json, size_t len, cn_tokenizer **out, cn_error *err) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: not valid JSON");
    cn_tokenizer *tok = calloc(1, sizeof *tok);
    cn_status st = tok ? load_parsed(tok, root, err) : cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    cJSON_Delete(root);
    if (st != CN_OK) {
        cn_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return CN_OK;
}

cn_status cn_tokenizer_load(const char *path, cn_tokenizer **out, cn_error *err) {
    cn_mapped_file file;
    cn_status st = cn_mapped_file_open(path, &file, err);
    if (st != CN_OK) return st;
    if (file.size >= 4 && !memcmp(file.data, "GGUF", 4)) st = cn_tokenizer_load_gguf_data(file.data, file.size, out, err);
    else st = cn_tokenizer_load_json((const char *)file.data, file.size, out, err);
    cn_mapped_file_close(&file);
    if (st != CN_OK) cn_error_prefix(err, "%s", path);
    return st;
}

void cn_tokenizer_free(cn_tokenizer *tok) {
    if (!tok) return;
    cn_bpe_free(&tok->bpe);
    cn_added_trie_free(&tok->raw_tokens);
    cn_added_trie_free(&tok->normalized_tokens);
    free(tok->special);
    free(tok);
}
