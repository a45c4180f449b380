/* llama_cpp_logits: the logits llama.cpp computes for a list of token ids, in the format of
 * `clawnet logits` (raw little-endian float32, [n_tokens][n_vocab]), so that the two can be compared
 * on the same GGUF (scripts/llama_cpp_side_by_side.sh, docs/llama_cpp.md).
 *
 * Built against an external llama.cpp (never part of ClawNet's build; it is not in Debian):
 *   cc -O2 scripts/llama_cpp_logits.c -I LLAMA/include -I LLAMA/ggml/include \
 *      -L BUILD/bin -lllama -lggml -lggml-base -lggml-cpu -lstdc++ -lm -fopenmp -o llama_cpp_logits
 *
 * usage: llama_cpp_logits MODEL.gguf "ID ID ..." OUT.f32 [THREADS] [CHUNK]
 * The prompt is decoded in calls of CHUNK tokens (default: all in one batch), every position's logits
 * requested. Only the C API of llama.h is used (llama_model_load_from_file, llama_decode,
 * llama_get_logits_ith). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level >= GGML_LOG_LEVEL_WARN || getenv("LLAMA_CPP_LOGITS_VERBOSE")) fputs(text, stderr);
}

static int parse_ids(const char *s, llama_token **out, int *n) {
    int cap = 64;
    *n = 0;
    *out = malloc((size_t)cap * sizeof **out);
    if (!*out) return -1;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) {
            if (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t') {
                s++;
                continue;
            }
            fprintf(stderr, "llama_cpp_logits: bad token id list at \"%.20s\"\n", s);
            return -1;
        }
        if (*n == cap) {
            cap *= 2;
            llama_token *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown) return -1;
            *out = grown;
        }
        (*out)[(*n)++] = (llama_token)v;
        s = end;
    }
    return *n > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fputs("usage: llama_cpp_logits MODEL.gguf \"ID ID ...\" OUT.f32 [THREADS] [CHUNK]\n", stderr);
        return 2;
    }
    const int threads = argc > 4 ? atoi(argv[4]) : 2;
    llama_token *ids = NULL;
    int n_ids = 0;
    if (parse_ids(argv[2], &ids, &n_ids)) return 2;
    const int chunk = argc > 5 && atoi(argv[5]) > 0 ? atoi(argv[5]) : n_ids;

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llama_cpp_logits: llama.cpp could not load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            fprintf(stderr, "llama_cpp_logits: id %d is outside the vocabulary (%d)\n", ids[i], n_vocab);
            return 2;
        }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_ids < 256 ? 256 : n_ids + 64);
    cp.n_batch = cp.n_ubatch = (uint32_t)(chunk < 512 ? 512 : chunk);
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama_cpp_logits: could not create a context\n");
        return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    struct llama_batch batch = llama_batch_init(chunk, 0, 1);
    for (int p0 = 0; p0 < n_ids; p0 += chunk) {
        const int n = n_ids - p0 < chunk ? n_ids - p0 : chunk;
        batch.n_tokens = n;
        for (int i = 0; i < n; i++) {
            batch.token[i] = ids[p0 + i];
            batch.pos[i] = p0 + i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = 1;
        }
        int rc = llama_decode(ctx, batch);
        if (rc) {
            fprintf(stderr, "llama_cpp_logits: llama_decode returned %d at position %d\n", rc, p0);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            const float *row = llama_get_logits_ith(ctx, i);
            if (!row || fwrite(row, sizeof *row, (size_t)n_vocab, f) != (size_t)n_vocab) {
                fprintf(stderr, "llama_cpp_logits: no logits for position %d\n", p0 + i);
                return 1;
            }
        }
    }
    if (fclose(f)) {
        perror(argv[3]);
        return 1;
    }
    fprintf(stderr, "llama_cpp_logits: %d positions x %d logits -> %s\n", n_ids, n_vocab, argv[3]);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(ids);
    return 0;
}
