/* clawnet bench: prefill and decode speed of a model on this machine, next to the machine's own
 * ceilings (llama-bench's pp/tg with a context-depth sweep). Decode is memory bound: its ceiling is
 * measured read bandwidth / weight bytes read per token. Prefill is compute bound: achieved
 * GFLOP/s (2 FLOP per active parameter per token) against the measured FMA peak of the cores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/bench_probe.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"
#include "model/weight_traffic.h"

#define MAX_DEPTHS 16

static void bench_usage(FILE *f) {
    fputs("usage: clawnet bench -m MODEL [options]\n"
          "\n"
          "Measures prefill (pp) and decode (tg) tokens/s, repeated, reporting median and spread, with\n"
          "the ceilings measured on this machine: decode against read bandwidth / weight bytes per token,\n"
          "prefill against the f32 FMA peak of the cores.\n"
          "\n"
          "  -m, --model PATH     checkpoint directory or .gguf (scripts/make_bench_checkpoint.py makes\n"
          "                       synthetic ones with V4-Flash widths)\n"
          "  -p N                 prompt tokens for the prefill test (default 512; 0 skips it)\n"
          "  -n N                 tokens decoded per decode test (default 16)\n"
          "  --depths A,B,...     context depths for decode (default 0)\n"
          "  -r N                 repetitions (default 3)\n"
          "  -t, --threads N      worker threads (default: all CPUs)\n"
          "  --kv-type T          storage of the KV rows: f32 (default), bf16, fp8; the report gives\n"
          "                       KV bytes per token of context\n"
          "  --json FILE          also write the results as JSON\n",
          f);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min, max;
} spread;

static spread summarise(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_double);
    spread s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

/* Deterministic pseudo-random token ids: benchmarks should not depend on a tokenizer. */
static void fill_tokens(int32_t *ids, int64_t n, int64_t vocab, uint64_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((seed >> 33) % (uint64_t)vocab);
    }
}

static bool parse_depths(const char *text, int64_t *depths, int *n) {
    int32_t *ids;
    int64_t count;
    if (!cn_parse_ids(text, &ids, &count)) return false;
    if (count < 1 || count > MAX_DEPTHS) {
        fprintf(stderr, "clawnet bench: --depths takes 1 to %d values\n", MAX_DEPTHS);
        free(ids);
        return false;
    }
    for (int64_t i = 0; i < count; i++) depths[i] = ids[i];
    *n = (int)count;
    free(ids);
    return true;
}

int cn_cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *json_path = NULL;
    int64_t n_prompt = 512, n_decode = 16, repeats = 3, threads = 0, depths[MAX_DEPTHS] = {0};
    int n_depths = 1;
    cn_kv_type kv_type = CN_KV_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model_path = v;
        } else if (!strcmp(a, "-p")) {
            if (!cn_parse_int(a, v, 0, 1 << 20, &n_prompt)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!cn_parse_int(a, v, 1, 1 << 20, &n_decode)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!cn_parse_int(a, v, 1, 1000, &repeats)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cn_parse_int(a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--kv-type")) {
            if (!prompt_args_kv_type("bench", v, &kv_type)) return 2;
        } else if (!strcmp(a, "--depths")) {
            if (!parse_depths(v, depths, &n_depths)) return 2;
        } else if (!strcmp(a, "--json")) {
            json_path = v;
        } else {
            fprintf(stderr, "clawnet bench: unknown option %s (see clawnet bench --help)\n", a);
            return 2;
        }
    }
    if (!model_path) {
        fputs("clawnet bench: -m MODEL is required (see clawnet bench --help)\n", stderr);
        return 2;
    }
    cn_error err = {0};
    cn_model *model = NULL;
    if (cn_model_open(model_path, (int)threads, &model, &err)) {
        fprintf(stderr, "clawnet bench: %s\n", err.msg);
        return 1;
    }
    const cn_model_config *c = model->cfg;
    const int64_t V = c->vocab_size;
    int64_t max_depth = 0;
    for (int d = 0; d < n_depths; d++) max_depth = depths[d] > max_depth ? depths[d] : max_depth;
    int64_t n_ids = (n_prompt > max_depth ? n_prompt : max_depth) + n_decode;
    int32_t *ids = malloc((size_t)n_ids * sizeof *ids);
    float *logits = malloc((size_t)V * sizeof(float));
    double *samples = malloc((size_t)repeats * sizeof(double));
    if (!ids || !logits || !samples) {
        fputs("clawnet bench: out of memory\n", stderr);
        return 1;
    }
    fill_tokens(ids, n_ids, V, 12345);

    fprintf(stderr, "measuring the machine...\n");
    const double bandwidth = bench_read_bandwidth(model->pool, (size_t)1 << 30, 5);
    const double peak = bench_peak_flops(model->pool, 3);
    const cn_weight_traffic traffic = cn_model_weight_traffic(model);
    const double ceiling = bandwidth / traffic.per_token;

    cJSON *json = cJSON_CreateObject(), *results = cJSON_AddArrayToObject(json, "results");
    cJSON_AddStringToObject(json, "model", model_path);
    cJSON_AddNumberToObject(json, "threads", cn_threadpool_size(model->pool));
    cJSON_AddNumberToObject(json, "read_bandwidth_gb_s", bandwidth / 1e9);
    cJSON_AddNumberToObject(json, "fma_peak_gflop_s", peak / 1e9);
    cJSON_AddNumberToObject(json, "weight_bytes_per_token", traffic.per_token);
    cJSON_AddNumberToObject(json, "decode_ceiling_tok_s", ceiling);
    printf("model: %s (%d layers, %lld threads)\n", model_path, c->n_layers, (long long)cn_threadpool_size(model->pool));
    printf("machine: read bandwidth %.2f GB/s, f32 FMA peak %.1f GFLOP/s\n", bandwidth / 1e9, peak / 1e9);
    printf("weights read per token: %.1f MB (dense %.1f, routed %.1f, head+embedding %.1f) -> decode ceiling %.2f tok/s\n\n",
           traffic.per_token / 1e6, traffic.dense / 1e6, traffic.routed / 1e6, traffic.head / 1e6, ceiling);
    printf("| test | tokens/s (median) | min | max | of ceiling |\n|---|---:|---:|---:|---:|\n");
    int status = 0;
    cn_kv_state st;
    const cn_kv_options kv_opts = {kv_type, kv_type};
    if (cn_model_state_init_opts(model, &st, &kv_opts, &err)) goto fail;
    const size_t kv_fixed = cn_kv_state_bytes(&st); /* window rings and compressor buffers */
    size_t kv_deepest = kv_fixed;

    if (n_prompt > 0) {
        float *all = malloc((size_t)n_prompt * (size_t)V * sizeof(float));
        for (int r = 0; r < repeats && all; r++) {
            cn_kv_state_reset(&st);
            double t0 = bench_now_seconds();
            if (cn_model_forward(model, &st, ids, n_prompt, all, NULL, &err)) goto fail;
            samples[r] = (double)n_prompt / (bench_now_seconds() - t0);
        }
        free(all);
        spread s = summarise(samples, (int)repeats);
        /* 2 FLOPs per weight element multiplied (dense + routed + head); attention scores are
         * left out, which understates the work at long prompts. */
        const double gflops = s.median * 2.0 * traffic.active_params / 1e9;
        printf("| pp%lld | %.2f | %.2f | %.2f | %.1f%% of FMA peak (%.1f GFLOP/s) |\n", (long long)n_prompt, s.median, s.min,
               s.max, 100.0 * gflops * 1e9 / peak, gflops);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "test", "prefill");
        cJSON_AddNumberToObject(row, "tokens", (double)n_prompt);
        cJSON_AddNumberToObject(row, "tok_s_median", s.median);
        cJSON_AddNumberToObject(row, "tok_s_min", s.min);
        cJSON_AddNumberToObject(row, "tok_s_max", s.max);
        cJSON_AddNumberToObject(row, "gflop_s", gflops);
        cJSON_AddNumberToObject(row, "of_fma_peak", gflops * 1e9 / peak);
        cJSON_AddItemToArray(results, row);
    }
    for (int d = 0; d < n_depths; d++) {
        size_t kv_bytes = 0;
        for (int r = 0; r < repeats; r++) {
            cn_kv_state_reset(&st);
            for (int64_t done = 0; done < depths[d];) { /* fill the context, untimed */
                int64_t len = depths[d] - done < 256 ? depths[d] - done : 256;
                if (cn_model_forward(model, &st, ids + done, len, NULL, NULL, &err)) goto fail;
                done += len;
            }
            kv_bytes = cn_kv_state_bytes(&st);
            if (depths[d] == max_depth) kv_deepest = kv_bytes;
            double t0 = bench_now_seconds();
            for (int64_t i = 0; i < n_decode; i++)
                if (cn_model_forward(model, &st, ids + depths[d] + i, 1, logits, NULL, &err)) goto fail;
            samples[r] = (double)n_decode / (bench_now_seconds() - t0);
        }
        spread s = summarise(samples, (int)repeats);
        printf("| tg%lld @ depth %lld | %.2f | %.2f | %.2f | %.1f%% |\n", (long long)n_decode, (long long)depths[d], s.median,
               s.min, s.max, 100.0 * s.median / ceiling);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "test", "decode");
        cJSON_AddNumberToObject(row, "tokens", (double)n_decode);
        cJSON_AddNumberToObject(row, "depth", (double)depths[d]);
        cJSON_AddNumberToObject(row, "tok_s_median", s.median);
        cJSON_AddNumberToObject(row, "tok_s_min", s.min);
        cJSON_AddNumberToObject(row, "tok_s_max", s.max);
        cJSON_AddNumberToObject(row, "of_ceiling", s.median / ceiling);
        cJSON_AddNumberToObject(row, "kv_bytes", (double)kv_bytes);
        cJSON_AddItemToArray(results, row);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak resident memory: %.1f MB (weights are memory-mapped: resident pages count)\n", (double)ru.ru_maxrss / 1024.0);
    printf("KV state: %.1f KB fixed (windows, compressor buffers)", (double)kv_fixed / 1024.0);
    if (max_depth > 0)
        printf(", %.1f bytes/token of growth (%s rows)", (double)(kv_deepest - kv_fixed) / (double)max_depth,
               cn_kv_type_name(kv_type));
    putchar('\n');
    cJSON_AddStringToObject(json, "kv_type", cn_kv_type_name(kv_type));
    cJSON_AddNumberToObject(json, "kv_fixed_bytes", (double)kv_fixed);
    if (max_depth > 0) cJSON_AddNumberToObject(json, "kv_bytes_per_token", (double)(kv_deepest - kv_fixed) / (double)max_depth);
    cJSON_AddNumberToObject(json, "peak_rss_mb", (double)ru.ru_maxrss / 1024.0);
    if (json_path) {
        char *text = cJSON_Print(json);
        FILE *f = fopen(json_path, "w");
        if (!f || !text || fputs(text, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "clawnet bench: cannot write %s\n", json_path);
            status = 1;
        }
        free(text);
    }
    goto done;
fail:
    fprintf(stderr, "clawnet bench: %s\n", err.msg);
    status = 1;
done:
    cJSON_Delete(json);
    cn_kv_state_free(&st);
    free(ids);
    free(logits);
    free(samples);
    cn_model_close(model);
    return status;
}
