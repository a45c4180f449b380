/* clawnet bench: prefill and decode speed of a model on this machine, next to the machine's own
 * ceilings (llama-bench's pp/tg with a context-depth sweep). Decode is memory bound: its ceiling is
 * measured read bandwidth / weight bytes read per token. Prefill is compute bound: achieved
 * GFLOP/s (2 FLOP per active parameter per token) against the measured FMA peak of the cores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/bench_kernels.h"
#include "cli/bench_probe.h"
#include "cli/bench_server.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"
#include "model/weight_traffic.h"

#define MAX_DEPTHS 16
#define MAX_BATCH 64

static void bench_usage(FILE *f) {
    fputs("usage: clawnet bench -m MODEL [options]\n"
          "\n"
          "Measures prefill (pp) and decode (tg) tokens/s, repeated, reporting median and spread, with\n"
          "the ceilings measured on this machine: decode against read bandwidth / weight bytes per token,\n"
          "prefill against the f32 FMA peak of the cores.\n"
          "\n"
          "  -m, --model PATH     checkpoint directory or .gguf (scripts/make_bench_checkpoint.py makes\n"
          "                       synthetic ones with V4-Flash widths)\n"
          "  -p N                 prompt tokens for the prefill test (default 512; 0 skips it); one\n"
          "                       forward over them, logits of the last only (as llama-bench's pp)\n"
          "  -n N                 tokens decoded per decode test (default 16)\n"
          "  --depths A,B,...     context depths for decode (default 0)\n"
          "  -r N                 repetitions (default 3)\n"
          "  -t, --threads N      worker threads (default: all CPUs)\n"
          "  --batch B,C,...      also decode B sequences at once (cn_model_forward_batch, one token\n"
          "                       each per step) at each depth, against the same B sequences decoded\n"
          "                       one call at a time: aggregate tokens/s and the speedup\n"
          "  --kv-type T          storage of the KV rows: fp8 (default, as clawnet run), bf16, f32;\n"
          "                       the report gives KV bytes per token of context\n"
          "  --kv-index-type T    storage of the indexer keys: f32, bf16, fp8, fp4 (default: --kv-type)\n"
          "  --act q8|f32         activations of the products with Q8_0, Q2_K..Q6_K, IQ2_XXS and MXFP4\n"
          "                       weights: q8 (default) rounds each token's input to 8-bit integers and\n"
          "                       multiplies by integer dot products (as llama.cpp does; about 2x the\n"
          "                       speed for a KL of 3-7e-4 nats on trained weights: clawnet eval -m X\n"
          "                       --ref X measures it); f32 is the exact path. The report gives the\n"
          "                       share of the weight bytes that take int8 dots (F32, BF16, F16, FP8:\n"
          "                       never). --act-q8, --act-f32: the same as --act q8/f32\n"
          "  --json FILE          also write the results as JSON\n"
          "\n"
          "clawnet bench --server URL [...] measures a running server instead (aggregate and per-user\n"
          "tokens/s under concurrent requests, time to first token cold and with a cached prefix): see\n"
          "clawnet bench --server URL --help.\n"
          "clawnet bench --kernels [...] times the matrix-vector kernel of each weight format alone (GB/s\n"
          "of weights against the read bandwidth): see clawnet bench --kernels --help.\n",
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

/* A comma-separated list of 1..MAX_DEPTHS values in [min, max] (--depths, --batch). */
static bool parse_list(const char *option, const char *text, int64_t min, int64_t max, int64_t *values, int *n) {
    int32_t *ids;
    int64_t count;
    if (!cn_parse_ids(text, &ids, &count)) return false;
    bool ok = count >= 1 && count <= MAX_DEPTHS;
    for (int64_t i = 0; i < count && ok; i++) ok = ids[i] >= min && ids[i] <= max;
    if (!ok) fprintf(stderr, "clawnet bench: %s takes 1 to %d values from %lld to %lld\n", option, MAX_DEPTHS, (long long)min, (long long)max);
    for (int64_t i = 0; i < count && ok; i++) values[i] = ids[i];
    if (ok) *n = (int)count;
    free(ids);
    return ok;
}

/* Fills a fresh state to `depth` tokens, untimed, in chunks of 256. */
static cn_status fill_context(cn_model *model, cn_kv_state *st, const int32_t *ids, int64_t depth, cn_error *err) {
    cn_kv_state_reset(st);
    for (int64_t done = 0; done < depth;) {
        int64_t len = depth - done < 256 ? depth - done : 256;
        cn_status s = cn_model_forward(model, st, ids + done, len, NULL, NULL, err);
        if (s) return s;
        done += len;
    }
    return CN_OK;
}

/* B sequences at `depth` (each with its own pseudo-random tokens) decoding n_decode tokens each:
 * once as B separate cn_model_forward calls per step (no batching), once as one
 * cn_model_forward_batch call per step, alternately in every repetition so that both see the
 * same machine load. Fills sep/bat with aggregate tokens/s, ratio with bat/sep per repetition,
 * and sep_cpu/bat_cpu with the process's CPU seconds per token (all threads): on a shared machine
 * wall time depends on what else runs, CPU time much less. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cn_status bench_batch_decode(cn_model *model, const cn_kv_options *kv_opts, int64_t B, int64_t depth,
                                    int64_t n_decode, int64_t repeats, double *sep, double *bat, double *ratio,
                                    double *sep_cpu, double *bat_cpu, cn_error *err) {
    const int64_t V = model->cfg->vocab_size, len = depth + n_decode;
    cn_kv_state *states = calloc((size_t)B, sizeof *states);
    int32_t *ids = malloc((size_t)(B * len) * sizeof *ids);
    float *logits = malloc((size_t)(B * V) * sizeof *logits);
    cn_forward_item *items = malloc((size_t)B * sizeof *items);
    cn_status s = !states || !ids || !logits || !items ? cn_fail(err, CN_ERR_NOMEM, "out of memory") : CN_OK;
    int64_t ready = 0;
    for (; ready < B && !s; ready++) {
        fill_tokens(ids + ready * len, len, V, 777 + (uint64_t)ready);
        s = cn_model_state_init_opts(model, &states[ready], kv_opts, err);
        if (s) break;
    }
    for (int64_t r = 0; r < repeats && !s; r++)
        for (int batched = 0; batched < 2 && !s; batched++) {
            for (int64_t b = 0; b < B && !s; b++) s = fill_context(model, &states[b], ids + b * len, depth, err);
            double t0 = bench_now_seconds(), c0 = cpu_seconds();
            for (int64_t i = 0; i < n_decode && !s; i++) {
                for (int64_t b = 0; b < B; b++) {
                    cn_forward_item it = {&states[b], ids + b * len + depth + i, 1, logits + b * V};
                    items[b] = it;
                    if (!batched && !s) s = cn_model_forward(model, &states[b], it.tokens, 1, it.last_logits, NULL, err);
                }
                if (batched && !s) s = cn_model_forward_batch(model, items, (int)B, err);
            }
            (batched ? bat : sep)[r] = (double)(B * n_decode) / (bench_now_seconds() - t0);
            (batched ? bat_cpu : sep_cpu)[r] = (cpu_seconds() - c0) / (double)(B * n_decode);
        }
    for (int64_t r = 0; r < repeats && !s; r++) ratio[r] = bat[r] / sep[r];
    for (int64_t b = 0; b < ready; b++) cn_kv_state_free(&states[b]);
    free(states);
    free(ids);
    free(logits);
    free(items);
    return s;
}

/* The --batch table: batched against separate decoding of the same sequences. */
static cn_status report_batch_decode(cn_model *model, const cn_kv_options *kv_opts, const int64_t *batches, int n_batches,
                                     const int64_t *depths, int n_depths, int64_t n_decode, int64_t repeats,
                                     double ceiling, cJSON *results, cn_error *err) {
    double *sep = malloc((size_t)(5 * repeats) * sizeof *sep), *bat = sep + repeats, *ratio = bat + repeats;
    double *sep_cpu = ratio + repeats, *bat_cpu = sep_cpu + repeats;
    if (!sep) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    printf("\nBatched decode (cn_model_forward_batch, one token per sequence per step) against the same sequences\n"
           "decoded one cn_model_forward call at a time, alternating in every repetition; aggregate tokens/s:\n\n"
           "| test | batched (median) | per seq | min | max | separate (median) | speedup (median of ratios) | batched of 1-seq ceiling "
           "| CPU ms/token batched | separate |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    cn_status s = CN_OK;
    for (int d = 0; d < n_depths && !s; d++)
        for (int b = 0; b < n_batches && !s; b++) {
            s = bench_batch_decode(model, kv_opts, batches[b], depths[d], n_decode, repeats, sep, bat, ratio, sep_cpu, bat_cpu,
                                   err);
            if (s) break;
            spread bs = summarise(bat, (int)repeats), ss = summarise(sep, (int)repeats), rs = summarise(ratio, (int)repeats);
            spread bc = summarise(bat_cpu, (int)repeats), sc = summarise(sep_cpu, (int)repeats);
            printf("| tg%lld x %lld seqs @ depth %lld | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.1f%% | %.1f | %.1f |\n",
                   (long long)n_decode, (long long)batches[b], (long long)depths[d], bs.median, bs.median / (double)batches[b],
                   bs.min, bs.max, ss.median, rs.median, 100.0 * bs.median / ceiling, 1e3 * bc.median, 1e3 * sc.median);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "test", "batch_decode");
            cJSON_AddNumberToObject(row, "sequences", (double)batches[b]);
            cJSON_AddNumberToObject(row, "tokens", (double)n_decode);
            cJSON_AddNumberToObject(row, "depth", (double)depths[d]);
            cJSON_AddNumberToObject(row, "tok_s_median", bs.median);
            cJSON_AddNumberToObject(row, "tok_s_min", bs.min);
            cJSON_AddNumberToObject(row, "tok_s_max", bs.max);
            cJSON_AddNumberToObject(row, "tok_s_per_sequence", bs.median / (double)batches[b]);
            cJSON_AddNumberToObject(row, "separate_tok_s_median", ss.median);
            cJSON_AddNumberToObject(row, "speedup_median", rs.median);
            cJSON_AddNumberToObject(row, "of_ceiling", bs.median / ceiling);
            cJSON_AddNumberToObject(row, "cpu_s_per_token", bc.median);
            cJSON_AddNumberToObject(row, "separate_cpu_s_per_token", sc.median);
            cJSON_AddItemToArray(results, row);
        }
    free(sep);
    return s;
}

int cn_cmd_bench(int argc, char **argv) {
    if (bench_server_wanted(argc, argv)) return bench_server_main(argc, argv);
    if (bench_kernels_wanted(argc, argv)) return bench_kernels_main(argc, argv);
    const char *model_path = NULL, *json_path = NULL;
    int64_t n_prompt = 512, n_decode = 16, repeats = 3, threads = 0, depths[MAX_DEPTHS] = {0}, batches[MAX_DEPTHS];
    int n_depths = 1, n_batches = 0;
    prompt_kv kv = {0};
    prompt_act act = PROMPT_ACT_Q8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        const int shared = prompt_args_parse_act("bench", argc, argv, &i, &act);
        const int kv_option = shared ? 0 : prompt_args_parse_kv("bench", argc, argv, &i, &kv);
        if (shared < 0 || kv_option < 0) return 2;
        if (shared || kv_option) continue;
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
        } else if (!strcmp(a, "--depths")) {
            if (!parse_list(a, v, 0, 1 << 20, depths, &n_depths)) return 2;
        } else if (!strcmp(a, "--batch")) {
            if (!parse_list(a, v, 1, MAX_BATCH, batches, &n_batches)) return 2;
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
    prompt_args_apply_act(model, act);
    const cn_model_config *c = model->cfg;
    const int64_t V = c->vocab_size;
    int64_t max_depth = 0;
    for (int d = 0; d < n_depths; d++) max_depth = depths[d] > max_depth ? depths[d] : max_depth;
    int64_t n_ids = (n_prompt > max_depth ? n_prompt : max_depth) + n_decode;
    int32_t *ids = malloc((size_t)n_ids * sizeof *ids);
    float *logits = malloc((size_t)V * sizeof(float));
    double *samples = malloc((size_t)repeats * sizeof(double)), *cpu = malloc((size_t)repeats * sizeof(double));
    if (!ids || !logits || !samples || !cpu) {
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
    printf("model: %s (%d layers, %lld threads, activations %s: int8 dots on %.1f %% of the weight bytes per token)\n",
           model_path, c->n_layers, (long long)cn_threadpool_size(model->pool), prompt_act_name(act),
           100.0 * traffic.int8_dot / traffic.per_token);
    printf("machine: read bandwidth %.2f GB/s, f32 FMA peak %.1f GFLOP/s\n", bandwidth / 1e9, peak / 1e9);
    printf("weights read per token: %.1f MB (dense %.1f, routed %.1f, head+embedding %.1f) -> decode ceiling %.2f tok/s\n\n",
           traffic.per_token / 1e6, traffic.dense / 1e6, traffic.routed / 1e6, traffic.head / 1e6, ceiling);
    /* CPU ms/token: the process's CPU time (all threads) per token, median; on a shared machine it
     * moves much less with the load than tokens/s. */
    printf("| test | tokens/s (median) | min | max | of ceiling | CPU ms/token |\n|---|---:|---:|---:|---:|---:|\n");
    int status = 0;
    cn_kv_state st;
    const cn_kv_options kv_opts = prompt_kv_options(&kv);
    if (cn_model_state_init_opts(model, &st, &kv_opts, &err)) goto fail;
    const size_t kv_fixed = cn_kv_state_bytes(&st); /* window rings and compressor buffers */
    size_t kv_deepest = kv_fixed;

    if (n_prompt > 0) {
        /* The prompt's last row's logits only, as a server or `clawnet run` needs them (and as
         * llama-bench's pp test asks for them): the LM head runs for one row, not n_prompt. */
        float *last = malloc((size_t)V * sizeof(float));
        for (int r = 0; r < repeats && last; r++) {
            cn_kv_state_reset(&st);
            const cn_forward_item prompt = {&st, ids, n_prompt, last};
            double t0 = bench_now_seconds(), c0 = cpu_seconds();
            if (cn_model_forward_batch(model, &prompt, 1, &err)) goto fail;
            samples[r] = (double)n_prompt / (bench_now_seconds() - t0);
            cpu[r] = (cpu_seconds() - c0) / (double)n_prompt;
        }
        free(last);
        spread s = summarise(samples, (int)repeats);
        /* 2 FLOPs per weight element multiplied (dense + routed for every row, the head for the
         * last); attention scores are left out, which understates the work at long prompts. */
        const double prompt_params = (traffic.active_params - traffic.head_params) + traffic.head_params / (double)n_prompt;
        const double gflops = s.median * 2.0 * prompt_params / 1e9;
        const spread cs = summarise(cpu, (int)repeats);
        printf("| pp%lld | %.2f | %.2f | %.2f | %.1f%% of FMA peak (%.1f GFLOP/s) | %.1f |\n", (long long)n_prompt, s.median, s.min,
               s.max, 100.0 * gflops * 1e9 / peak, gflops, 1e3 * cs.median);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "test", "prefill");
        cJSON_AddNumberToObject(row, "tokens", (double)n_prompt);
        cJSON_AddNumberToObject(row, "tok_s_median", s.median);
        cJSON_AddNumberToObject(row, "tok_s_min", s.min);
        cJSON_AddNumberToObject(row, "tok_s_max", s.max);
        cJSON_AddNumberToObject(row, "gflop_s", gflops);
        cJSON_AddNumberToObject(row, "of_fma_peak", gflops * 1e9 / peak);
        cJSON_AddNumberToObject(row, "cpu_s_per_token", cs.median);
        cJSON_AddItemToArray(results, row);
    }
    for (int d = 0; d < n_depths; d++) {
        size_t kv_bytes = 0;
        for (int r = 0; r < repeats; r++) {
            if (fill_context(model, &st, ids, depths[d], &err)) goto fail;
            kv_bytes = cn_kv_state_bytes(&st);
            if (depths[d] == max_depth) kv_deepest = kv_bytes;
            double t0 = bench_now_seconds(), c0 = cpu_seconds();
            for (int64_t i = 0; i < n_decode; i++)
                if (cn_model_forward(model, &st, ids + depths[d] + i, 1, logits, NULL, &err)) goto fail;
            samples[r] = (double)n_decode / (bench_now_seconds() - t0);
            cpu[r] = (cpu_seconds() - c0) / (double)n_decode;
        }
        spread s = summarise(samples, (int)repeats);
        const spread cs = summarise(cpu, (int)repeats);
        printf("| tg%lld @ depth %lld | %.2f | %.2f | %.2f | %.1f%% | %.1f |\n", (long long)n_decode, (long long)depths[d], s.median,
               s.min, s.max, 100.0 * s.median / ceiling, 1e3 * cs.median);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "test", "decode");
        cJSON_AddNumberToObject(row, "tokens", (double)n_decode);
        cJSON_AddNumberToObject(row, "depth", (double)depths[d]);
        cJSON_AddNumberToObject(row, "tok_s_median", s.median);
        cJSON_AddNumberToObject(row, "tok_s_min", s.min);
        cJSON_AddNumberToObject(row, "tok_s_max", s.max);
        cJSON_AddNumberToObject(row, "of_ceiling", s.median / ceiling);
        cJSON_AddNumberToObject(row, "kv_bytes", (double)kv_bytes);
        cJSON_AddNumberToObject(row, "cpu_s_per_token", cs.median);
        cJSON_AddItemToArray(results, row);
    }
    if (n_batches > 0 &&
        report_batch_decode(model, &kv_opts, batches, n_batches, depths, n_depths, n_decode, repeats, ceiling, results, &err))
        goto fail;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak resident memory: %.1f MB (weights are memory-mapped: resident pages count)\n", (double)ru.ru_maxrss / 1024.0);
    printf("KV state: %.1f KB fixed (windows, compressor buffers)", (double)kv_fixed / 1024.0);
    if (max_depth > 0)
        printf(", %.1f bytes/token of growth (%s rows, %s indexer keys)", (double)(kv_deepest - kv_fixed) / (double)max_depth,
               cn_kv_type_name(kv_opts.rows), cn_kv_type_name(kv_opts.index));
    putchar('\n');
    cJSON_AddStringToObject(json, "kv_type", cn_kv_type_name(kv_opts.rows));
    cJSON_AddStringToObject(json, "kv_index_type", cn_kv_type_name(kv_opts.index));
    cJSON_AddStringToObject(json, "activations", prompt_act_name(act));
    cJSON_AddBoolToObject(json, "act_q8", act == PROMPT_ACT_Q8); /* the older spelling of "activations" */
    cJSON_AddNumberToObject(json, "int8_dot_bytes_per_token", traffic.int8_dot);
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
    free(cpu);
    cn_model_close(model);
    return status;
}
