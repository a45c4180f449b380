/* The JSON constraint (sample/json_constraint.h) over the real DeepSeek-V4 vocabulary: 300 runs
 * from random logits through json_object and several json_schema constraints, each finished
 * output checked by oracles written elsewhere (cJSON_Parse, the output parser's strict RFC 8259
 * validator) and by a schema check written here, independently of json_schema.c; the mask
 * compared by brute force with running every token's bytes through a fresh automaton copy on a
 * few hundred states; unsupported keywords and impossible schemas refused; dead ends reported. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint_sampling.h"
#include "harness.h"
#include "json_schema_check.h"
#include "sample/json_automaton.h"
#include "sample/json_constraint.h"
#include "text/output_parser_json.h"

#define EOS_ID 1
#define RUNS 300
#define MAX_STEPS 300

static const char *const SCHEMAS[] = {
    NULL, /* json_object */
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":3}},"
    "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":4,\"items\":{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"integer\"},\"ok\":{\"type\":\"boolean\"},\"v\":{\"type\":[\"number\",\"null\"]}},"
    "\"required\":[\"id\",\"ok\",\"v\"],\"additionalProperties\":false}}",
    "{\"type\":\"object\",\"properties\":{\"color\":{\"enum\":[\"red\",\"green\",\"blue\",1,12,null]},"
    "\"k\":{\"const\":{\"a\":[1,2]}},\"nested\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"}},"
    "\"required\":[\"x\"]}},\"required\":[\"color\",\"k\",\"nested\"]}",
    "{\"type\":[\"integer\",\"boolean\"]}",
    "{\"type\":\"object\",\"properties\":{\"a\\\"b\":{\"type\":\"null\"},\"\xe4\xb8\xad\xe6\x96\x87\":{\"type\":\"string\"},"
    "\"n\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"maxItems\":2},\"minItems\":2}},"
    "\"required\":[\"a\\\"b\",\"\xe4\xb8\xad\xe6\x96\x87\",\"n\"],\"additionalProperties\":false}",
    "{\"description\":\"any value\",\"additionalProperties\":{\"type\":\"string\"},\"items\":{\"type\":\"null\"}}",
};
#define N_SCHEMAS (sizeof SCHEMAS / sizeof SCHEMAS[0])

/* ------------------------------------------------ brute force: mask vs a fresh automaton */

typedef struct {
    cn_json_schema *schema;
    cn_json_arena arena, scratch;
    cn_json_context ctx;
    cn_json_state state;
} mirror;

static void mirror_init(mirror *m, const cJSON *schema) {
    memset(m, 0, sizeof *m);
    cn_error err = {0};
    cn_status st = schema ? cn_json_schema_compile(schema, &m->schema, &err) : cn_json_schema_any_object(&m->schema, &err);
    CHECK(st == CN_OK);
    m->ctx = (cn_json_context){.schema = m->schema, .arena = &m->arena, .max_ws = CN_JSON_DEFAULT_MAX_WHITESPACE,
                               .max_depth = CN_JSON_DEFAULT_MAX_DEPTH, .outer_ws = true};
    cn_json_begin(&m->state, m->schema->root);
}

static void mirror_free(mirror *m) {
    cn_json_arena_free(&m->arena);
    cn_json_arena_free(&m->scratch);
    cn_json_schema_free(m->schema);
}

/* Does the automaton, started from the mirror's state, accept all of the token's bytes? */
static int mirror_accepts(mirror *m, const uint8_t *b, size_t len, cn_json_state *out) {
    cn_json_state s = m->state;
    m->ctx.arena = &m->scratch;
    for (size_t i = 0; i < len; i++)
        if (!cn_json_step(&m->ctx, &s, b[i])) return 0;
    if (out) *out = s;
    return 1;
}

static void mirror_advance(mirror *m, const test_vocab *v, int32_t id) {
    size_t len;
    const uint8_t *b = cn_token_bytes_get(v->bytes, id, &len);
    cn_json_state s = m->state;
    m->ctx.arena = &m->arena;
    int ok = 1;
    for (size_t i = 0; i < len && ok; i++) ok = cn_json_step(&m->ctx, &s, b[i]);
    CHECK(ok);
    m->state = s;
}

/* Every id: allowed by the mask exactly when a fresh automaton copy accepts its bytes (TEXT),
 * or it is the stop id and the value can end (CONTROL). */
static int64_t brute_force_check(mirror *m, const test_vocab *v, const float *masked, int32_t n) {
    int64_t disagreements = 0;
    cn_json_arena_reset(&m->scratch);
    for (int32_t id = 0; id < n; id++) {
        size_t len;
        const uint8_t *b = cn_token_bytes_get(v->bytes, id, &len);
        int want;
        switch (cn_token_bytes_kind(v->bytes, id)) {
        case CN_TOKEN_TEXT: want = mirror_accepts(m, b, len, NULL); break;
        case CN_TOKEN_CONTROL: want = id == EOS_ID && cn_json_can_end(&m->ctx, &m->state); break;
        default: want = 0;
        }
        int got = isfinite(masked[id]);
        if (got != want && disagreements++ < 5) fprintf(stderr, "  id %d: mask %d, automaton %d\n", (int)id, got, want);
    }
    return disagreements;
}

/* ------------------------------------------------ sampling runs */

typedef struct {
    int completed, truncated, brute_states;
    int64_t tokens;
} run_stats;

static void run_once(const test_vocab *v, const cJSON *schema, uint64_t seed, const float *class_bias[3], int brute_steps,
                     run_stats *stats, float *logits, float *bias, const float *gumbel) {
    uint64_t rng = seed;
    /* per run: how strongly quotes, closers and commas are preferred (2..6 nats) */
    float w[3];
    for (int k = 0; k < 3; k++) w[k] = (float)(2.0 + 4.0 * test_rng_uniform(&rng));
    for (int32_t i = 0; i < v->n_ids; i++) bias[i] = w[0] * class_bias[0][i] + w[1] * class_bias[1][i] + w[2] * class_bias[2][i];

    cn_error err = {0};
    cn_token_constraint c;
    int32_t stop = EOS_ID;
    cn_json_constraint_options opt = {.stop_ids = &stop, .n_stop = 1};
    if (cn_json_constraint_create(v->vocab, schema, &opt, &c, &err) != CN_OK) {
        CHECKF(0, "create: %s", err.msg);
        return;
    }
    mirror m;
    mirror_init(&m, schema);
    char *text = malloc(MAX_STEPS * 256 + 1);
    size_t used = 0;
    int ended = 0;
    for (int step = 0; step < MAX_STEPS; step++) {
        test_random_logits(logits, bias, v->n_ids, gumbel, &rng);
        if (cn_constraint_mask(&c, logits, v->n_ids, &err) != CN_OK) {
            text[used] = 0;
            CHECKF(0, "seed %llu step %d: mask failed: %s; text so far: %s", (unsigned long long)seed, step, err.msg, text);
            break;
        }
        if (step < brute_steps) {
            int64_t bad = brute_force_check(&m, v, logits, v->n_ids);
            CHECKF(bad == 0, "seed %llu step %d: mask and automaton disagree on %lld ids", (unsigned long long)seed, step,
                   (long long)bad);
            stats->brute_states++;
        }
        int32_t id = test_argmax_finite(logits, v->n_ids);
        CHECK(id >= 0);
        if (id < 0) break;
        if (cn_constraint_accept(&c, id, &err) != CN_OK) {
            CHECKF(0, "accept %d: %s", (int)id, err.msg);
            break;
        }
        stats->tokens++;
        if (id == EOS_ID) {
            ended = 1;
            break;
        }
        CHECKF(cn_token_bytes_kind(v->bytes, id) == CN_TOKEN_TEXT, "control token %d allowed", (int)id);
        size_t len;
        const uint8_t *b = cn_token_bytes_get(v->bytes, id, &len);
        memcpy(text + used, b, len);
        used += len;
        mirror_advance(&m, v, id);
    }
    text[used] = 0;
    if (ended) {
        stats->completed++;
        CHECK(cn_constraint_complete(&c));
        char why[256] = "";
        CHECKF(cn_output_json_validate(text, used, why, sizeof why), "seed %llu: not RFC 8259 JSON (%s): %s",
               (unsigned long long)seed, why, text);
        cJSON *parsed = cJSON_ParseWithLengthOpts(text, used + 1, NULL, 1) /* the length counts the NUL */;
        CHECKF(parsed != NULL, "seed %llu: cJSON cannot parse: %s", (unsigned long long)seed, text);
        if (parsed) {
            if (!schema) CHECKF(cJSON_IsObject(parsed), "json_object gave a non-object: %s", text);
            why[0] = 0;
            CHECKF(satisfies(parsed, schema, why, sizeof why), "seed %llu: schema violated (%s): %s",
                   (unsigned long long)seed, why, text);
        }
        cJSON_Delete(parsed);
    } else {
        stats->truncated++;
        if (getenv("CN_TEST_VERBOSE")) fprintf(stderr, "truncated seed %llu: %.300s\n", (unsigned long long)seed, text);
        CHECK(!cn_constraint_complete(&c) || used > 0);
    }
    free(text);
    mirror_free(&m);
    cn_constraint_destroy(&c);
}

/* ------------------------------------------------ refusals and dead ends */

static void check_refused(const test_vocab *v, const char *schema_text, cn_status want, const char *word) {
    cJSON *schema = cJSON_Parse(schema_text);
    CHECK(schema != NULL);
    cn_error err = {0};
    cn_token_constraint c;
    cn_status st = cn_json_constraint_create(v->vocab, schema, NULL, &c, &err);
    CHECKF(st == want && strstr(err.msg, word), "schema %s: status %s, message '%s' (want %s naming '%s')", schema_text,
           cn_status_name(st), err.msg, cn_status_name(want), word);
    if (st == CN_OK) cn_constraint_destroy(&c);
    cJSON_Delete(schema);
}

static void check_refusals(const test_vocab *v) {
    check_refused(v, "{\"type\":\"string\",\"pattern\":\"^a\"}", CN_ERR_UNSUPPORTED, "pattern");
    check_refused(v, "{\"anyOf\":[{\"type\":\"string\"}]}", CN_ERR_UNSUPPORTED, "anyOf");
    check_refused(v, "{\"$ref\":\"#/$defs/x\"}", CN_ERR_UNSUPPORTED, "$ref");
    check_refused(v, "{\"type\":\"string\",\"minLength\":2}", CN_ERR_UNSUPPORTED, "minLength");
    check_refused(v, "{\"type\":\"string\",\"format\":\"date\"}", CN_ERR_UNSUPPORTED, "format");
    check_refused(v, "{\"type\":\"integer\",\"minimum\":0}", CN_ERR_UNSUPPORTED, "minimum");
    check_refused(v, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"patternProperties\":{}}}}",
                  CN_ERR_UNSUPPORTED, "/properties/a");
    check_refused(v, "{\"type\":\"array\",\"items\":[{\"type\":\"string\"}]}", CN_ERR_UNSUPPORTED, "tuple");
    check_refused(v, "{\"type\":\"text\"}", CN_ERR_ARG, "type");
    check_refused(v, "{\"enum\":[1,2],\"properties\":{}}", CN_ERR_UNSUPPORTED, "properties");
    /* nothing satisfies these */
    check_refused(v, "{\"enum\":[]}", CN_ERR_ARG, "no JSON value");
    check_refused(v, "{\"type\":\"string\",\"enum\":[1,2]}", CN_ERR_ARG, "no JSON value");
    check_refused(v, "{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", CN_ERR_ARG, "no JSON value");
    check_refused(v, "{\"type\":\"object\",\"required\":[\"x\"],\"additionalProperties\":false}", CN_ERR_ARG, "no JSON value");
    check_refused(v, "{\"type\":\"object\",\"properties\":{\"x\":false},\"required\":[\"x\"]}", CN_ERR_ARG, "no JSON value");
    check_refused(v, "false", CN_ERR_ARG, "no JSON value");
}

/* A vocabulary that cannot finish an object: after "{" nothing fits, and the mask says so. */
static void check_dead_end(void) {
    cn_token_bytes *tb;
    cn_constraint_vocab *vocab;
    cn_error err = {0};
    CHECK(cn_token_bytes_create(4, &tb, &err) == CN_OK);
    CHECK(cn_token_bytes_set(tb, 0, (const uint8_t *)"{", 1, CN_TOKEN_TEXT, &err) == CN_OK);
    CHECK(cn_token_bytes_set(tb, 1, (const uint8_t *)"<eos>", 5, CN_TOKEN_CONTROL, &err) == CN_OK);
    CHECK(cn_token_bytes_set(tb, 2, (const uint8_t *)"x", 1, CN_TOKEN_TEXT, &err) == CN_OK);
    CHECK(cn_constraint_vocab_create(tb, &vocab, &err) == CN_OK);
    cn_token_constraint c;
    int32_t stop = 1;
    cn_json_constraint_options opt = {.stop_ids = &stop, .n_stop = 1};
    CHECK(cn_json_constraint_create(vocab, NULL, &opt, &c, &err) == CN_OK);
    float logits[4] = {0, 0, 0, 0};
    CHECK(cn_constraint_mask(&c, logits, 4, &err) == CN_OK);
    CHECK(isfinite(logits[0]) && !isfinite(logits[1]) && !isfinite(logits[2]) && !isfinite(logits[3]));
    CHECK(cn_constraint_accept(&c, 2, &err) == CN_ERR_ARG);  /* "x" does not start an object */
    CHECK(cn_constraint_accept(&c, 1, &err) == CN_ERR_ARG);  /* nor may the output end */
    CHECK(cn_constraint_accept(&c, 0, &err) == CN_OK);
    CHECK(!cn_constraint_complete(&c));
    CHECKF(cn_constraint_mask(&c, logits, 4, &err) == CN_ERR_ARG && strstr(err.msg, "dead end"), "%s", err.msg);
    cn_constraint_destroy(&c);
    cn_constraint_vocab_free(vocab);
    cn_token_bytes_free(tb);
}

/* The byte table against the tokenizer's own decode (itself checked against HF tokenizers in
 * test_tokenizer): same bytes for every id whose bytes are valid UTF-8, and the added tokens
 * marked CONTROL. */
static void check_token_bytes(const test_vocab *v) {
    int32_t dsml = cn_token_bytes_find_control(v->bytes, "\xef\xbd\x9c" "DSML" "\xef\xbd\x9c");
    CHECKF(dsml == 128825, "｜DSML｜ is id %d", (int)dsml);
    CHECK(cn_token_bytes_find_control(v->bytes, "</think>") == 128822);
    CHECK(cn_token_bytes_kind(v->bytes, EOS_ID) == CN_TOKEN_CONTROL);
    CHECK(cn_token_bytes_kind(v->bytes, 128803) == CN_TOKEN_CONTROL); /* <｜User｜>, not "special" in tokenizer.json */
    int64_t text = 0, control = 0, same = 0, compared = 0;
    for (int32_t id = 0; id < v->n_ids; id++) {
        cn_token_kind kind = cn_token_bytes_kind(v->bytes, id);
        text += kind == CN_TOKEN_TEXT;
        control += kind == CN_TOKEN_CONTROL;
        if (kind != CN_TOKEN_TEXT || id % 7) continue;
        size_t len, dlen;
        const uint8_t *b = cn_token_bytes_get(v->bytes, id, &len);
        char *decoded;
        cn_error err = {0};
        if (cn_tokenizer_decode(v->tok, &id, 1, &decoded, &dlen, &err) != CN_OK) continue;
        if (!memchr(decoded, 0xEF, dlen) || !strstr(decoded, "\xef\xbf\xbd")) { /* no U+FFFD repair */
            compared++;
            same += dlen == len && !memcmp(decoded, b, len);
        }
        free(decoded);
    }
    printf("vocabulary: %lld text tokens, %lld control tokens; %lld of %lld decoded ids identical\n", (long long)text,
           (long long)control, (long long)same, (long long)compared);
    CHECK(control >= 1000 && text >= 127000 && compared > 15000 && same == compared);
}

int main(int argc, char **argv) {
    check_dead_end();
    test_vocab v;
    if (!test_vocab_load(&v, argc, argv)) return cn_test_finish("test_constraint_json");
    check_token_bytes(&v);
    check_refusals(&v);

    /* classes of tokens a random model is nudged towards, so runs finish in a few hundred tokens */
    float *classes[3];
    for (int k = 0; k < 3; k++) classes[k] = calloc((size_t)v.n_ids, sizeof(float));
    for (int32_t i = 0; i < v.n_ids; i++) {
        classes[0][i] = (float)test_token_has(&v, i, "\"");
        classes[1][i] = (float)test_token_has(&v, i, "}]");
        classes[2][i] = (float)test_token_has(&v, i, ",:0123456789");
    }
    float *gumbel = test_gumbel_table();
    float *logits = malloc((size_t)v.n_ids * sizeof *logits), *bias = malloc((size_t)v.n_ids * sizeof *bias);
    cJSON *schemas[N_SCHEMAS];
    for (size_t s = 0; s < N_SCHEMAS; s++) {
        schemas[s] = SCHEMAS[s] ? cJSON_Parse(SCHEMAS[s]) : NULL;
        CHECK(!SCHEMAS[s] || schemas[s]);
    }
    run_stats stats = {0};
    const float *class_bias[3] = {classes[0], classes[1], classes[2]};
    int runs = getenv("CN_TEST_RUNS") ? atoi(getenv("CN_TEST_RUNS")) : RUNS;
    int first = getenv("CN_TEST_FIRST") ? atoi(getenv("CN_TEST_FIRST")) : 0;
    for (int r = first; r < first + runs; r++)
        run_once(&v, schemas[r % N_SCHEMAS], 1000 + (uint64_t)r, class_bias, r % 12 == 0 ? 12 : 0, &stats, logits, bias, gumbel);
    printf("%d runs: %d complete, %d hit %d tokens; %lld tokens; mask checked by brute force on %d states\n", runs,
           stats.completed, stats.truncated, MAX_STEPS, (long long)stats.tokens, stats.brute_states);
    CHECKF(stats.completed >= runs * 7 / 10, "only %d of %d runs finished", stats.completed, runs);
    CHECK(runs < RUNS || stats.brute_states >= 200);
    for (size_t s = 0; s < N_SCHEMAS; s++) cJSON_Delete(schemas[s]);
    for (int k = 0; k < 3; k++) free(classes[k]);
    free(logits);
    free(bias);
    free(gumbel);
    test_vocab_free(&v);
    return cn_test_finish("test_constraint_json");
}
