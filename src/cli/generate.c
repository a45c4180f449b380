#include "cli/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The prompt is fed in chunks of this many ids (bounding the activations of one forward step);
 * each chunk asks for its last row's logits only, so the LM head runs once per chunk instead of
 * once per id (on a 4-layer V4-Flash-width model it was a third of the prefill's weight work).
 * Any split gives the same state and logits. */
#define PREFILL_CHUNK 512

static bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

cn_tokenizer *cli_tokenizer_open(const char *tokenizer_path, const char *model_path, const cn_model *model,
                                 const char *command) {
    const char *base = tokenizer_path ? tokenizer_path : model_path;
    size_t size = strlen(base) + sizeof "/tokenizer.json";
    char *file = malloc(size);
    if (!file) {
        fprintf(stderr, "clawnet %s: out of memory\n", command);
        return NULL;
    }
    if (is_directory(base)) snprintf(file, size, "%s/tokenizer.json", base);
    else snprintf(file, size, "%s", base); /* a tokenizer.json, or a GGUF (with its tokenizer metadata) */
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    if (!is_file(file)) {
        if (tokenizer_path)
            fprintf(stderr, "clawnet %s: tokenizer %s does not exist\n", command, file[0] ? file : base);
        else
            fprintf(stderr, "clawnet %s: no tokenizer: %s/tokenizer.json does not exist; give --tokenizer PATH\n",
                    command, model_path);
    } else if (cn_tokenizer_load(file, &tok, &err) != CN_OK) {
        fprintf(stderr, "clawnet %s: tokenizer %s: %s%s\n", command, file, err.msg,
                tokenizer_path ? "" : "; give --tokenizer PATH");
    } else if (cn_tokenizer_id_count(tok) > model->cfg->vocab_size) {
        fprintf(stderr,
                "clawnet %s: tokenizer %s has %d ids but the model's vocab_size is %lld: the tokenizer does not "
                "belong to this model\n",
                command, file, (int)cn_tokenizer_id_count(tok), (long long)model->cfg->vocab_size);
        cn_tokenizer_free(tok);
        tok = NULL;
    }
    free(file);
    return tok;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

cn_status cli_generate(const cli_generation *g, const int32_t *ids, int64_t n, cli_generation_stats *stats,
                       cn_error *err) {
    memset(stats, 0, sizeof *stats);
    if (n < 1) return cn_fail(err, CN_ERR_ARG, "nothing to feed: the prompt adds no tokens");
    const int64_t V = g->model->cfg->vocab_size;
    float *logits = malloc((size_t)V * sizeof *logits);
    if (!logits) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %lld logits", (long long)V);
    cn_status st = CN_OK;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t at = 0; at < n && st == CN_OK; at += PREFILL_CHUNK) {
        const cn_forward_item chunk = {g->state, ids + at, n - at < PREFILL_CHUNK ? n - at : PREFILL_CHUNK, logits};
        st = cn_model_forward_batch(g->model, &chunk, 1, err);
    }
    const float *last = logits;
    stats->prefilled = n;
    stats->prefill_seconds = seconds_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t i = 0; st == CN_OK && i < g->max_new_tokens; i++) {
        int32_t next = cn_sampler_next(g->sampler, last, V);
        stats->generated++;
        err->code = CN_OK;
        if (g->on_token && !g->on_token(g->context, next, err)) {
            st = err->code;
            break;
        }
        if (g->stop_at_eos && next == g->model->cfg->eos_token_id) {
            stats->stopped_at_eos = true;
            break;
        }
        if (i + 1 == g->max_new_tokens) break;
        st = cn_model_forward(g->model, g->state, &next, 1, logits, NULL, err);
        last = logits;
    }
    stats->decode_seconds = seconds_since(&t0);
    free(logits);
    return st;
}

static double per_second(int64_t n, double seconds) { return seconds > 0 ? (double)n / seconds : 0.0; }

void cli_print_stats(const cli_generation_stats *s) {
    fprintf(stderr, "[prompt: %lld tokens (%lld prefilled, %.1f tok/s); generated: %lld tokens (%.1f tok/s)%s]\n",
            (long long)s->prompt_tokens, (long long)s->prefilled, per_second(s->prefilled, s->prefill_seconds),
            (long long)s->generated, per_second(s->generated > 1 ? s->generated - 1 : 0, s->decode_seconds),
            s->stopped_at_eos ? "" : ", stopped at the limit");
}
