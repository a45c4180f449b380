/* The DSML tool-call constraint (sample/tool_call_constraint.h) over the real DeepSeek-V4
 * vocabulary: 300 runs from random logits, in chat and thinking mode, for tool_choice "required"
 * (one or several calls) and a named function. Each finished output is decoded by the streaming
 * detokenizer and read by cn_output_parser (written separately, against DeepSeek's reference
 * parser), which must report only complete calls, with names from the tool list and arguments
 * that cJSON parses and that satisfy the tool's schema (checked by tests/json_schema_check.h,
 * independent of json_schema.c); every "｜DSML｜" after the reasoning must be the control token. The
 * mask is compared on a few hundred states with running each token through a copy of the
 * automaton; bad tool lists are refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constraint_sampling.h"
#include "harness.h"
#include "json_schema_check.h"
#include "sample/dsml_marker.h"
#include "sample/tool_call_constraint.h"
#include "text/detokenize.h"
#include "text/output_parser.h"

#define EOS_ID 1
#define DSML_ID 128825
#define THINK_END_ID 128822
#define RUNS 300
#define MAX_STEPS 400

static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{"
    "\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"c\",\"f\"]},"
    "\"days\":{\"type\":\"integer\"}},\"required\":[\"location\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\"},\"exact\":{\"type\":\"boolean\"},\"filters\":{\"type\":\"object\",\"properties\":{"
    "\"lang\":{\"type\":\"string\"},\"max\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"maxItems\":3}},\"additionalProperties\":false},\"note\":{\"type\":[\"string\",\"null\"]}},"
    "\"required\":[\"query\",\"exact\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search_all\",\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"q\":{\"type\":\"string\"}},\"required\":[\"q\"]}}}]";

typedef struct {
    int content_bytes, errors;
} parse_events;

static void on_event(void *context, const cn_output_event *e) {
    parse_events *pe = context;
    if (e->kind == CN_OUTPUT_CONTENT_DELTA) pe->content_bytes += (int)e->len;
    if (e->kind == CN_OUTPUT_ERROR) {
        if (pe->errors++ < 3) fprintf(stderr, "  parser error: %s\n", e->text);
    }
}

static const cJSON *tool_parameters(const cJSON *tools, const char *name) {
    for (const cJSON *t = tools->child; t; t = t->next) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring, name)) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "parameters");
            return p ? p : f; /* no parameters: checked as "any", arguments must still be {} */
        }
    }
    return NULL;
}

typedef struct {
    int completed, truncated, brute_states, calls;
    int64_t tokens;
} run_stats;

/* Feeds the ids through the detokenizer into the parser and checks what it reports. */
static void check_output(const test_vocab *v, const cJSON *tools, const int32_t *ids, size_t n, bool thinking,
                         const char *function_name, size_t max_calls, uint64_t seed, run_stats *stats) {
    cn_error err = {0};
    cn_detokenizer *d;
    cn_output_parser *p;
    parse_events pe = {0};
    CHECK(cn_detokenizer_new(v->tok, &d, &err) == CN_OK);
    CHECK(cn_output_parser_create(thinking ? CN_OUTPUT_START_IN_REASONING : CN_OUTPUT_START_IN_CONTENT, on_event, &pe, &p,
                                  &err) == CN_OK);
    size_t text_cap = 1024, text_len = 0, dsml_tokens = 0, block_start = 0; /* reasoning may spell anything */
    char *text = malloc(text_cap);
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t len;
        dsml_tokens += ids[i] == DSML_ID;
        CHECK(cn_detokenizer_push(d, ids[i], &piece, &len, &err) == CN_OK);
        CHECK(cn_output_parser_feed(p, piece, len, &err) == CN_OK);
        while (text_len + len + 1 > text_cap) text = realloc(text, text_cap *= 2);
        memcpy(text + text_len, piece, len);
        text_len += len;
        if (ids[i] == THINK_END_ID) block_start = text_len;
    }
    text[text_len] = 0;
    const char *piece;
    size_t len;
    cn_detokenizer_finish(d, &piece, &len);
    CHECK(len == 0); /* the output ends on a whole character */
    CHECK(cn_output_parser_finish(p, &err) == CN_OK);
    /* every ｜DSML｜ in the text is a control token */
    size_t dsml_text = 0;
    for (const char *at = text + block_start; (at = strstr(at, CN_DSML_MARKER)); at += CN_DSML_MARKER_LEN) dsml_text++;
    CHECKF(dsml_text == dsml_tokens, "seed %llu: %zu ｜DSML｜ in the text, %zu control tokens", (unsigned long long)seed,
           dsml_text, dsml_tokens);
    size_t calls = cn_output_parser_call_count(p);
    CHECKF(pe.errors == 0 && cn_output_parser_error_count(p) == 0, "seed %llu: parser errors; text:\n%s", (unsigned long long)seed, text);
    CHECKF(pe.content_bytes == 0, "seed %llu: %d bytes of content", (unsigned long long)seed, pe.content_bytes);
    CHECKF(calls >= 1 && (max_calls == 0 || calls <= max_calls), "seed %llu: %zu calls", (unsigned long long)seed, calls);
    stats->calls += (int)calls;
    for (size_t i = 0; i < calls; i++) {
        cn_output_call call;
        CHECK(cn_output_parser_call(p, i, &call));
        CHECKF(call.status == CN_OUTPUT_CALL_COMPLETE, "seed %llu: call %zu not complete (%s)", (unsigned long long)seed, i,
               call.error ? call.error : "");
        if (function_name) CHECKF(!strcmp(call.name, function_name), "named %s, called %s", function_name, call.name);
        const cJSON *schema = tool_parameters(tools, call.name);
        CHECKF(schema != NULL, "seed %llu: unknown tool '%s'", (unsigned long long)seed, call.name);
        cJSON *args = cJSON_ParseWithLengthOpts(call.arguments, call.arguments_len + 1, NULL, 1);
        CHECKF(cJSON_IsObject(args), "seed %llu: arguments are not an object: %s", (unsigned long long)seed, call.arguments);
        if (args && schema) {
            char why[256] = "";
            int ok = cJSON_GetObjectItemCaseSensitive(schema, "name") ? args->child == NULL /* tool without parameters */
                                                                      : satisfies(args, schema, why, sizeof why);
            CHECKF(ok, "seed %llu: %s arguments violate the schema (%s): %s", (unsigned long long)seed, call.name, why,
                   call.arguments);
        }
        cJSON_Delete(args);
    }
    free(text);
    cn_output_parser_free(p);
    cn_detokenizer_free(d);
}

static void run_once(const test_vocab *v, const cJSON *tools, int r, const float *classes[4], float *logits, float *bias,
                     const float *gumbel, run_stats *stats) {
    uint64_t seed = 5000 + (uint64_t)r, rng = seed;
    bool thinking = r % 3 == 1;
    const char *function_name = r % 5 == 2 ? "search" : r % 5 == 4 ? "now" : NULL;
    size_t max_calls = r % 4 == 3 ? 1 : 0;
    float w[4];
    static const float low[4] = {1, 5, 1, 0}, span[4] = {3, 4, 3, 3}; /* nats, per class */
    for (int k = 0; k < 4; k++) w[k] = (float)(low[k] + span[k] * test_rng_uniform(&rng));
    for (int32_t i = 0; i < v->n_ids; i++)
        bias[i] = w[0] * classes[0][i] + w[1] * classes[1][i] + w[2] * classes[2][i] + w[3] * classes[3][i];
    bias[DSML_ID] = 12.0f; /* closing a text value needs this one token after "</" */
    bias[THINK_END_ID] = (float)(3.0 + 5.0 * test_rng_uniform(&rng));
    bias[EOS_ID] = 5.0f;

    int32_t stop = EOS_ID;
    cn_tool_call_constraint_options opt = {.tools = tools, .function_name = function_name, .thinking = thinking,
                                           .max_calls = max_calls, .stop_ids = &stop, .n_stop = 1};
    cn_token_constraint c;
    cn_error err = {0};
    if (cn_tool_call_constraint_create(v->vocab, &opt, &c, &err) != CN_OK) {
        CHECKF(0, "create: %s", err.msg);
        return;
    }
    int32_t *ids = malloc(MAX_STEPS * sizeof *ids);
    size_t n = 0;
    int ended = 0, brute_steps = r % 10 == 0 ? 25 : 0;
    for (int step = 0; step < MAX_STEPS; step++) {
        test_random_logits(logits, bias, v->n_ids, gumbel, &rng);
        if (cn_constraint_mask(&c, logits, v->n_ids, &err) != CN_OK) {
            CHECKF(0, "seed %llu step %d: mask failed: %s", (unsigned long long)seed, step, err.msg);
            break;
        }
        if (step < brute_steps) {
            int64_t bad = 0;
            for (int32_t id = 0; id < v->n_ids; id++)
                if (isfinite(logits[id]) != cn_tool_call_constraint_allows(&c, id) && bad++ < 5)
                    fprintf(stderr, "  id %d: mask %d\n", (int)id, isfinite(logits[id]));
            CHECKF(bad == 0, "seed %llu step %d: mask and automaton disagree on %lld ids", (unsigned long long)seed, step,
                   (long long)bad);
            stats->brute_states++;
        }
        int32_t id = test_argmax_finite(logits, v->n_ids);
        if (id < 0 || cn_constraint_accept(&c, id, &err) != CN_OK) {
            CHECKF(0, "seed %llu: accept %d: %s", (unsigned long long)seed, (int)id, err.msg);
            break;
        }
        stats->tokens++;
        if (id == EOS_ID) {
            ended = 1;
            break;
        }
        ids[n++] = id;
    }
    if (ended) {
        stats->completed++;
        CHECK(cn_constraint_complete(&c));
        check_output(v, tools, ids, n, thinking, function_name, function_name ? 1 : max_calls, seed, stats);
    } else {
        stats->truncated++;
        if (getenv("CN_TEST_VERBOSE")) {
            char *t;
            size_t tl;
            if (cn_tokenizer_decode(v->tok, ids, n, &t, &tl, &err) == CN_OK) fprintf(stderr, "truncated %d: ...%s\n", r, tl > 300 ? t + tl - 300 : t);
            free(t);
        }
    }
    free(ids);
    cn_constraint_destroy(&c);
}

static void check_refused(const test_vocab *v, const char *tools_text, const char *function_name, const char *word) {
    cJSON *tools = cJSON_Parse(tools_text);
    CHECK(tools != NULL);
    int32_t stop = EOS_ID;
    cn_tool_call_constraint_options opt = {.tools = tools, .function_name = function_name, .stop_ids = &stop, .n_stop = 1};
    cn_token_constraint c;
    cn_error err = {0};
    cn_status st = cn_tool_call_constraint_create(v->vocab, &opt, &c, &err);
    CHECKF(st != CN_OK && strstr(err.msg, word), "tools %s: status %s, message '%s' (want one naming '%s')", tools_text,
           cn_status_name(st), err.msg, word);
    if (st == CN_OK) cn_constraint_destroy(&c);
    cJSON_Delete(tools);
}

static void check_refusals(const test_vocab *v) {
    check_refused(v, "[]", NULL, "no tools");
    check_refused(v, "[{\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\","
                     "\"pattern\":\"a\"}}}}}]", NULL, "pattern");
    check_refused(v, "[{\"function\":{\"name\":\"a\",\"parameters\":{\"anyOf\":[]}}}]", NULL, "anyOf");
    check_refused(v, "[{\"function\":{\"name\":\"a<b\"}}]", NULL, "a<b");
    check_refused(v, "[{\"function\":{\"name\":\"\"}}]", NULL, "cannot be written");
    check_refused(v, "[{\"function\":{\"name\":\"a\"}},{\"function\":{\"name\":\"a\"}}]", NULL, "two tools");
    check_refused(v, "[{\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\\\"y\":{}}}}}]", NULL,
                  "parameter name");
    check_refused(v, "[{\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"string\"}}}]", NULL, "object");
    check_refused(v, "[{\"function\":{\"name\":\"a\"}}]", "b", "no tool is named 'b'");
}

int main(int argc, char **argv) {
    test_vocab v;
    if (!test_vocab_load(&v, argc, argv)) return cn_test_finish("test_constraint_tool_call");
    check_refusals(&v);
    cJSON *tools = cJSON_Parse(TOOLS);
    CHECK(tools != NULL);
    /* nudges: quotes, "</" (ends text values), digits and closers, newlines */
    float *classes[4];
    for (int k = 0; k < 4; k++) classes[k] = calloc((size_t)v.n_ids, sizeof(float));
    for (int32_t i = 0; i < v.n_ids; i++) {
        size_t len;
        const uint8_t *b = cn_token_bytes_get(v.bytes, i, &len);
        classes[0][i] = (float)test_token_has(&v, i, "\"");
        /* a text value ends with "</" then the ｜DSML｜ token: tokens ending in "<" or "</" */
        classes[1][i] = b && len > 0 && (b[len - 1] == '<' || (len > 1 && b[len - 2] == '<' && b[len - 1] == '/'));
        classes[2][i] = (float)test_token_has(&v, i, "}],0123456789");
        classes[3][i] = (float)test_token_has(&v, i, "\n");
    }
    float *gumbel = test_gumbel_table();
    float *logits = malloc((size_t)v.n_ids * sizeof *logits), *bias = malloc((size_t)v.n_ids * sizeof *bias);
    const float *class_bias[4] = {classes[0], classes[1], classes[2], classes[3]};
    run_stats stats = {0};
    int runs = getenv("CN_TEST_RUNS") ? atoi(getenv("CN_TEST_RUNS")) : RUNS;
    for (int r = 0; r < runs; r++) run_once(&v, tools, r, class_bias, logits, bias, gumbel, &stats);
    printf("%d runs: %d complete (%d calls), %d hit %d tokens; %lld tokens; mask checked by brute force on %d states\n",
           runs, stats.completed, stats.calls, stats.truncated, MAX_STEPS, (long long)stats.tokens, stats.brute_states);
    CHECKF(stats.completed >= runs * 7 / 10, "only %d of %d runs finished", stats.completed, runs);
    CHECK(runs < RUNS || stats.brute_states >= 200);
    for (int k = 0; k < 4; k++) free(classes[k]);
    free(gumbel);
    free(logits);
    free(bias);
    cJSON_Delete(tools);
    test_vocab_free(&v);
    return cn_test_finish("test_constraint_tool_call");
}
