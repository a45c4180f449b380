/* clawnet bench-constraint: the cost of one constrained-decoding mask over the whole vocabulary,
 * in the states a response_format or tool-call request passes through (docs/constrained_decoding.md
 * quotes its table). Each state is reached by accepting the tokens of a prefix; the mask is then
 * timed --reps times and the median and the allowed-token count printed. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "sample/json_constraint.h"
#include "sample/tool_call_constraint.h"
#include "text/token_bytes_export.h"
#include "text/tokenizer.h"

static const char usage[] =
    "usage: clawnet bench-constraint --tokenizer PATH [--reps N]\n"
    "\n"
    "Times one mask of the JSON and DSML tool-call constraints over the vocabulary of PATH (a\n"
    "tokenizer.json) in typical states: after '{', inside keys and strings, in numbers, in\n"
    "reasoning, inside tool names and parameter values. Prints the median over N masks\n"
    "(default 200) and how many tokens each allows. EOS is id 1 (DeepSeek-V4).\n";

static const char SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
    "\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]}},\"required\":[\"name\"],\"additionalProperties\":false}";
static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"location\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"},\"opts\":{\"type\":\"object\"}},"
    "\"required\":[\"location\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":{"
    "\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"}}}}}]";

typedef struct {
    const char *label;
    int kind; /* 0 json_object, 1 schema, 2 tool calls (thinking) */
    const char *prefix;
} bench_state;

static const bench_state STATES[] = {
    {"json_object: start", 0, ""},
    {"json_object: after '{'", 0, "{"},
    {"json_object: inside a key", 0, "{\"ke"},
    {"json_object: after ':'", 0, "{\"key\": "},
    {"json_object: inside a string", 0, "{\"key\": \"some te"},
    {"json_object: inside a number", 0, "{\"key\": 12"},
    {"json_object: complete", 0, "{\"key\": [1, 2]}"},
    {"schema: inside a declared key", 1, "{\"na"},
    {"schema: inside an enum", 1, "{\"color\": \"gr"},
    {"schema: inside a string", 1, "{\"name\": \"Ali"},
    {"tool call: reasoning", 2, "Let me think"},
    {"tool call: tool name", 2, "ok</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get"},
    {"tool call: string value", 2,
     "ok</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"location\" "
     "string=\"true\">Hong Ko"},
    {"tool call: JSON value", 2,
     "ok</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"opts\" "
     "string=\"false\">{\"a\": \"b"},
};

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cn_cmd_bench_constraint(int argc, char **argv) {
    const char *path = NULL;
    int64_t reps = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        const char *value = cn_option_value(argc, argv, &i);
        if (!value) return 2;
        if (!strcmp(argv[i - 1], "--tokenizer")) path = value;
        else if (!strcmp(argv[i - 1], "--reps")) {
            if (!cn_parse_int("--reps", value, 1, 100000, &reps)) return 2;
        } else {
            fprintf(stderr, "clawnet bench-constraint: unknown option %s\n%s", argv[i - 1], usage);
            return 2;
        }
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    cn_error err = {0};
    cn_tokenizer *tok = NULL;
    cn_token_bytes *bytes = NULL;
    cn_constraint_vocab *vocab = NULL;
    double t0 = now_us();
    if (cn_tokenizer_load(path, &tok, &err) != CN_OK || cn_token_bytes_from_tokenizer(tok, &bytes, &err) != CN_OK) {
        fprintf(stderr, "clawnet bench-constraint: %s\n", err.msg);
        cn_tokenizer_free(tok);
        return 1;
    }
    double t1 = now_us();
    if (cn_constraint_vocab_create(bytes, &vocab, &err) != CN_OK) {
        fprintf(stderr, "clawnet bench-constraint: %s\n", err.msg);
        cn_token_bytes_free(bytes);
        cn_tokenizer_free(tok);
        return 1;
    }
    double t2 = now_us();
    int32_t n = cn_token_bytes_count(bytes);
    printf("vocabulary: %d ids, trie of %zu nodes; byte table %.0f ms (with loading), tries and classes %.0f ms\n", (int)n,
           cn_token_trie_node_count(vocab->trie), (t1 - t0) / 1e3, (t2 - t1) / 1e3);
    printf("%-34s %12s %10s\n", "state", "median us", "allowed");
    float *logits = malloc((size_t)n * sizeof *logits);
    double *times = malloc((size_t)reps * sizeof *times);
    cJSON *schema = cJSON_Parse(SCHEMA), *tools = cJSON_Parse(TOOLS);
    int status = logits && times && schema && tools ? 0 : 1;
    int32_t stop = 1;
    for (size_t s = 0; s < sizeof STATES / sizeof STATES[0] && status == 0; s++) {
        const bench_state *b = &STATES[s];
        cn_token_constraint c;
        cn_status st;
        if (b->kind == 2) {
            cn_tool_call_constraint_options opt = {.tools = tools, .thinking = true, .stop_ids = &stop, .n_stop = 1};
            st = cn_tool_call_constraint_create(vocab, &opt, &c, &err);
        } else {
            cn_json_constraint_options opt = {.stop_ids = &stop, .n_stop = 1};
            st = cn_json_constraint_create(vocab, b->kind == 1 ? schema : NULL, &opt, &c, &err);
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (st == CN_OK) st = cn_tokenizer_encode(tok, b->prefix, strlen(b->prefix), CN_ADDED_TOKENS_ALL, &ids, &n_ids, &err);
        for (size_t i = 0; i < n_ids && st == CN_OK; i++) st = cn_constraint_accept(&c, ids[i], &err);
        free(ids);
        int allowed = 0;
        for (int64_t r = 0; r < reps && st == CN_OK; r++) {
            memset(logits, 0, (size_t)n * sizeof *logits);
            double a = now_us();
            st = cn_constraint_mask(&c, logits, n, &err);
            times[r] = now_us() - a;
        }
        if (st != CN_OK) {
            fprintf(stderr, "clawnet bench-constraint: %s: %s\n", b->label, err.msg);
            status = 1;
        } else {
            for (int32_t i = 0; i < n; i++) allowed += isfinite(logits[i]) != 0;
            qsort(times, (size_t)reps, sizeof *times, by_value);
            printf("%-34s %12.1f %10d\n", b->label, times[reps / 2], allowed);
        }
        if (c.ops) cn_constraint_destroy(&c);
    }
    cJSON_Delete(schema);
    cJSON_Delete(tools);
    free(logits);
    free(times);
    cn_constraint_vocab_free(vocab);
    cn_token_bytes_free(bytes);
    cn_tokenizer_free(tok);
    return status;
}
