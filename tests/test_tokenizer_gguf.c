/* The tokenizer loaded from GGUF metadata (src/text/tokenizer_gguf.c) against the same tokenizer
 * loaded from tokenizer.json: a GGUF written from DeepSeek-V4's tokenizer.json the way llama.cpp's
 * converter writes it (scripts/make_tokenizer_gguf.py, made at test time: CLAWNET_TOKENIZER_GGUF)
 * must give every id the same bytes and special flag, encode the golden strings and the corpus
 * (tests/fixtures/tokenizer/) to the same ids in all three added-token modes (and to the oracle's
 * ids), and decode identically. Small GGUFs built here check the refusals. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "text/bpe_bytelevel.h"
#include "text/tokenizer.h"
#include "text/unicode_utf8.h"

static const cn_added_tokens_mode modes[3] = {CN_ADDED_TOKENS_ALL, CN_ADDED_TOKENS_SPECIAL_ONLY, CN_ADDED_TOKENS_NONE};
static const char *const mode_names[3] = {"all", "special", "none"};

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

/* Encodes text with both tokenizers in every mode; ids and decodes must agree, and in mode
 * want_mode (if want is not NULL) equal the oracle's. */
static void compare(const cn_tokenizer *json_tok, const cn_tokenizer *gguf_tok, const char *text, size_t len,
                    const char *want_mode, const cJSON *want, const char *label) {
    for (int m = 0; m < 3; m++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        cn_error err = {0};
        CHECK(cn_tokenizer_encode(json_tok, text, len, modes[m], &a, &na, &err) == CN_OK);
        CHECKF(cn_tokenizer_encode(gguf_tok, text, len, modes[m], &b, &nb, &err) == CN_OK, "%s: %s", label, err.msg);
        CHECKF(same_ids(a, na, b, nb), "%s, mode %s: GGUF ids differ from tokenizer.json's (%zu vs %zu ids)", label,
               mode_names[m], nb, na);
        if (want && !strcmp(want_mode, mode_names[m])) {
            int same = (size_t)cJSON_GetArraySize(want) == nb;
            for (size_t i = 0; same && i < nb; i++) same = cJSON_GetArrayItem(want, (int)i)->valueint == b[i];
            CHECKF(same, "%s, mode %s: GGUF ids differ from the oracle's", label, mode_names[m]);
        }
        char *da = NULL, *db = NULL;
        size_t la = 0, lb = 0;
        CHECK(cn_tokenizer_decode(json_tok, b, nb, &da, &la, &err) == CN_OK);
        CHECK(cn_tokenizer_decode(gguf_tok, b, nb, &db, &lb, &err) == CN_OK);
        CHECKF(da && db && la == lb && !memcmp(da, db, la) && lb == len && !memcmp(db, text, len),
               "%s, mode %s: decode differs", label, mode_names[m]);
        free(da);
        free(db);
        free(a);
        free(b);
    }
}

/* Every id: same bytes, same special flag; lookups by spelling. */
static void test_tables(const cn_tokenizer *json_tok, const cn_tokenizer *gguf_tok) {
    int32_t n = cn_tokenizer_id_count(json_tok);
    CHECKF(cn_tokenizer_id_count(gguf_tok) == n, "id count %d vs %d", cn_tokenizer_id_count(gguf_tok), n);
    int bad_bytes = 0, bad_special = 0, specials = 0;
    for (int32_t id = 0; id < n; id++) {
        size_t la = 0, lb = 0;
        const uint8_t *a = cn_tokenizer_token_bytes(json_tok, id, &la), *b = cn_tokenizer_token_bytes(gguf_tok, id, &lb);
        if (!a != !b || la != lb || (a && memcmp(a, b, la))) bad_bytes++;
        if (cn_tokenizer_is_special(json_tok, id) != cn_tokenizer_is_special(gguf_tok, id)) bad_special++;
        specials += cn_tokenizer_is_special(gguf_tok, id) != 0;
    }
    CHECKF(bad_bytes == 0, "%d ids decode to different bytes", bad_bytes);
    CHECKF(bad_special == 0, "%d ids differ in their special flag", bad_special);
    CHECKF(specials == 1230, "%d special tokens (V4 has 1,230)", specials);
    static const char *const spellings[] = {"<｜User｜>", "<｜begin▁of▁sentence｜>", "<think>", "｜DSML｜", "Ġthe", "<｜/table>｜"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++)
        CHECKF(cn_tokenizer_token_id(gguf_tok, spellings[i]) == cn_tokenizer_token_id(json_tok, spellings[i]) &&
                   cn_tokenizer_token_id(gguf_tok, spellings[i]) >= 0,
               "lookup of %s", spellings[i]);
}

static void test_golden(const cn_tokenizer *json_tok, const cn_tokenizer *gguf_tok) {
    cJSON *json = cn_test_read_json("tests/fixtures/tokenizer/golden.json");
    const cJSON *c;
    int count = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(json, "cases")) {
        const char *hex = cJSON_GetObjectItem(c, "hex")->valuestring;
        char *text = malloc(strlen(hex) / 2 + 1);
        size_t len = cn_test_from_hex(hex, text);
        char label[96];
        snprintf(label, sizeof label, "golden %d (\"%.40s\")", count, cJSON_GetObjectItem(c, "text")->valuestring);
        compare(json_tok, gguf_tok, text, len, cJSON_GetObjectItem(c, "mode")->valuestring, cJSON_GetObjectItem(c, "ids"),
                label);
        free(text);
        count++;
    }
    CHECKF(count > 4000, "only %d golden cases", count);
    fprintf(stderr, "golden: %d cases x 3 modes\n", count);
    cJSON_Delete(json);
}

static void test_corpus(const cn_tokenizer *json_tok, const cn_tokenizer *gguf_tok) {
    cJSON *json = cn_test_read_json("tests/fixtures/tokenizer/corpus.json");
    const cJSON *line;
    int count = 0;
    cJSON_ArrayForEach(line, cJSON_GetObjectItem(json, "lines")) {
        const char *text = cJSON_GetObjectItem(line, "text")->valuestring;
        char label[64];
        snprintf(label, sizeof label, "corpus line %d", count);
        compare(json_tok, gguf_tok, text, strlen(text), "all", cJSON_GetObjectItem(line, "ids"), label);
        count++;
    }
    CHECKF(count >= 1000, "only %d corpus lines", count);
    fprintf(stderr, "corpus: %d lines x 3 modes\n", count);
    cJSON_Delete(json);
}

/* ---- small GGUFs ------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} buf;

static void put(buf *b, const void *data, size_t len) {
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t len) {
    put_u64(b, len);
    put(b, s, len);
}
static void kv_string(buf *b, const char *key, const char *value) {
    put_str(b, key, strlen(key));
    put_u32(b, 8);
    put_str(b, value, strlen(value));
    b->n_kv++;
}

/* The spellings of a tiny byte-level vocabulary: the 256 bytes, "ab", "<｜x｜>", "<｜y｜>". */
static size_t tiny_token(int id, char *out) {
    if (id < 256) return cn_utf8_encode(cn_bytelevel_char((uint8_t)id), (uint8_t *)out);
    const char *s = id == 256 ? "ab" : id == 257 ? "<｜x｜>" : "<｜y｜>";
    memcpy(out, s, strlen(s));
    return strlen(s);
}

typedef struct {
    const char *model, *pre; /* NULL: key left out */
    int n_types;             /* token_type entries; -1: key left out */
    int bad_type;            /* if not 0: token 5's type */
    const char *merge;       /* NULL: no merges key */
    int bad_utf8;            /* token 7 is "\xff" */
} tiny_spec;

#define TINY_N 259

static uint8_t *tiny_gguf(const tiny_spec *s, size_t *size) {
    buf kv = {0};
    if (s->model) kv_string(&kv, "tokenizer.ggml.model", s->model);
    if (s->pre) kv_string(&kv, "tokenizer.ggml.pre", s->pre);
    put_str(&kv, "tokenizer.ggml.tokens", strlen("tokenizer.ggml.tokens"));
    put_u32(&kv, 9);
    put_u32(&kv, 8);
    put_u64(&kv, TINY_N);
    for (int id = 0; id < TINY_N; id++) {
        char t[16];
        size_t len = tiny_token(id, t);
        if (s->bad_utf8 && id == 7) put_str(&kv, "\xff", 1);
        else put_str(&kv, t, len);
    }
    kv.n_kv++;
    if (s->n_types >= 0) {
        put_str(&kv, "tokenizer.ggml.token_type", strlen("tokenizer.ggml.token_type"));
        put_u32(&kv, 9);
        put_u32(&kv, 5);
        put_u64(&kv, (uint64_t)s->n_types);
        for (int id = 0; id < s->n_types; id++) {
            uint32_t type = id == 257 ? 3 : id == 258 ? 4 : (s->bad_type && id == 5) ? (uint32_t)s->bad_type : 1;
            put_u32(&kv, type);
        }
        kv.n_kv++;
    }
    if (s->merge) {
        put_str(&kv, "tokenizer.ggml.merges", strlen("tokenizer.ggml.merges"));
        put_u32(&kv, 9);
        put_u32(&kv, 8);
        put_u64(&kv, 1);
        put_str(&kv, s->merge, strlen(s->merge));
        kv.n_kv++;
    }
    buf file = {0};
    put(&file, "GGUF", 4);
    put_u32(&file, 3);
    put_u64(&file, 0);
    put_u64(&file, kv.n_kv);
    put(&file, kv.p, kv.n);
    free(kv.p);
    *size = file.n;
    return file.p;
}

static const tiny_spec good = {"gpt2", "joyai-llm", TINY_N, 0, "a b", 0};

static void expect_refusal(tiny_spec s, cn_status code, const char *needle) {
    size_t size;
    uint8_t *data = tiny_gguf(&s, &size);
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    cn_status st = cn_tokenizer_load_gguf_data(data, size, &tok, &err);
    CHECKF(st == code && !tok, "expected status %d for \"%s\", got %d (%s)", (int)code, needle, (int)st, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
    cn_tokenizer_free(tok);
    free(data);
}

static void test_tiny(void) {
    size_t size;
    uint8_t *data = tiny_gguf(&good, &size);
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    CHECKF(cn_tokenizer_load_gguf_data(data, size, &tok, &err) == CN_OK, "tiny GGUF: %s", err.msg);
    free(data);
    if (tok) {
        int32_t *ids = NULL;
        size_t n = 0;
        const char *text = "ab<｜x｜>c<｜y｜>";
        CHECK(cn_tokenizer_encode(tok, text, strlen(text), CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK);
        CHECKF(n == 4 && ids[0] == 256 && ids[1] == 257 && ids[2] == 'c' && ids[3] == 258, "tiny encode: %zu ids", n);
        free(ids);
        CHECK(cn_tokenizer_encode(tok, text, strlen(text), CN_ADDED_TOKENS_SPECIAL_ONLY, &ids, &n, &err) == CN_OK);
        CHECKF(n > 4 && ids[1] == 257 && ids[n - 1] != 258, "tiny: the control token is special, the user-defined not");
        free(ids);
        CHECK(cn_tokenizer_is_special(tok, 257) && !cn_tokenizer_is_special(tok, 258));
        cn_tokenizer_free(tok);
    }
    tiny_spec s;
    s = good, s.model = NULL, expect_refusal(s, CN_ERR_MISSING, "tokenizer.ggml.model is missing");
    s = good, s.model = "llama", expect_refusal(s, CN_ERR_UNSUPPORTED, "tokenizer.ggml.model \"llama\" is not supported");
    s = good, s.pre = NULL, expect_refusal(s, CN_ERR_UNSUPPORTED, "tokenizer.ggml.pre is missing");
    s = good, s.pre = "qwen2", expect_refusal(s, CN_ERR_UNSUPPORTED, "tokenizer.ggml.pre \"qwen2\" is not supported");
    s = good, s.pre = "deepseek-v3";
    data = tiny_gguf(&s, &size);
    CHECK(cn_tokenizer_load_gguf_data(data, size, &tok, &err) == CN_OK);
    cn_tokenizer_free(tok);
    free(data);
    s = good, s.merge = NULL, expect_refusal(s, CN_ERR_MISSING, "tokenizer.ggml.merges is missing");
    s = good, s.n_types = -1, expect_refusal(s, CN_ERR_MISSING, "tokenizer.ggml.token_type is missing");
    s = good, s.n_types = TINY_N - 1, expect_refusal(s, CN_ERR_FORMAT, "token_type has 258 entries but tokenizer.ggml.tokens has 259");
    s = good, s.bad_type = 6, expect_refusal(s, CN_ERR_UNSUPPORTED, "token 5 has token_type 6 (byte)");
    s = good, s.merge = "ab", expect_refusal(s, CN_ERR_FORMAT, "merge 0 \"ab\" is not \"left right\"");
    s = good, s.merge = "a z9", expect_refusal(s, CN_ERR_FORMAT, "uses a token not in the vocabulary");
    s = good, s.bad_utf8 = 1, expect_refusal(s, CN_ERR_FORMAT, "token 7 is not valid UTF-8");
    /* not a GGUF at all */
    err = (cn_error){0};
    CHECK(cn_tokenizer_load_gguf_data((const uint8_t *)"{}", 2, &tok, &err) != CN_OK && !tok);
}

int main(int argc, char **argv) {
    const char *json_path = getenv("CLAWNET_TOKENIZER_JSON"), *gguf_path = getenv("CLAWNET_TOKENIZER_GGUF");
    if (argc > 2) json_path = argv[1], gguf_path = argv[2];
    test_tiny();
    if (!json_path || !*json_path || !gguf_path || !*gguf_path) {
        fprintf(stderr, "test_tokenizer_gguf: needs CLAWNET_TOKENIZER_JSON and CLAWNET_TOKENIZER_GGUF (run scripts/setup.sh "
                        "and re-run cmake; ctest makes the GGUF with scripts/make_tokenizer_gguf.py)\n");
        return 1;
    }
    cn_tokenizer *json_tok = NULL, *gguf_tok = NULL;
    cn_error err = {0};
    if (cn_tokenizer_load(json_path, &json_tok, &err) != CN_OK) {
        fprintf(stderr, "test_tokenizer_gguf: %s\n", err.msg);
        return 1;
    }
    /* cn_tokenizer_load recognises the GGUF by its magic */
    if (cn_tokenizer_load(gguf_path, &gguf_tok, &err) != CN_OK) {
        fprintf(stderr, "test_tokenizer_gguf: %s\n", err.msg);
        cn_tokenizer_free(json_tok);
        return 1;
    }
    test_tables(json_tok, gguf_tok);
    test_golden(json_tok, gguf_tok);
    test_corpus(json_tok, gguf_tok);
    cn_tokenizer_free(json_tok);
    cn_tokenizer_free(gguf_tok);
    return cn_test_finish("test_tokenizer_gguf");
}
