/* clawnet bench --kernels: one decode-shaped matrix-vector product (cn_matmul, one token) per
 * weight format on a random matrix larger than the last-level cache, timed on each requested
 * thread count. The figure of merit is weight bytes streamed per second, next to the read
 * bandwidth bench_read_bandwidth measures with the same threads just before: decode reads every
 * weight once per token, so a kernel at 100% of it would make decode purely memory bound.
 * With --tokens N each timed call is an N-token cn_matmul (a prefill chunk's or a batch's
 * shape: the many-token paths, f32 and int8), and GFLOP/s (2 per weight and token) says how
 * much work per second that is. */
#include "cli/bench_kernels.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/bench_probe.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/matmul.h"
#include "tensor/matrix.h"
#include "tensor/q8_activations.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

#define MAX_THREAD_COUNTS 8
#define MAX_REPEATS 1000

static void kernels_usage(FILE *f) {
    fputs("usage: clawnet bench --kernels [options]\n"
          "\n"
          "Times y = W x (one token, cn_matmul) for each weight format on a random matrix of about\n"
          "--mb megabytes, and reports the weight bytes streamed per second against the read bandwidth\n"
          "measured with the same threads.\n"
          "\n"
          "  --types A,B,...      formats (default: bf16,f8_e4m3,mxfp4,mxfp4_ggml,q8_0,q6_k,q5_k,q4_k,q3_k,q2_k,\n"
          "                       iq2_xxs; also f16, f32)\n"
          "  -t, --threads A,B    thread counts to run (default 1,2)\n"
          "  --cols N             row width (default 4096; a multiple of 256)\n"
          "  --mb N               weight megabytes per matrix (default 128; keep it above the L3 size)\n"
          "  -r N                 timed repetitions (default 7; median and best are reported)\n"
          "  --tokens N           tokens per call (default 1: a decode step; more: the many-token\n"
          "                       paths of prefill and batches; GFLOP/s counts 2 per weight and token)\n"
          "For q8_0, q6_k, q5_k, q4_k, q3_k, q2_k, iq2_xxs, mxfp4 and mxfp4_ggml, a row 'Q4_K x int8' etc.\n"
          "times cn_matmul with 8-bit activations (--act q8, the default of the commands that run a\n"
          "model; q8_activations.h: the token quantised, then integer dots) on the same matrix, and gives\n"
          "its relative RMS difference from the f32 kernel's outputs. Which int8 kernels ran is printed\n"
          "(int8_kernels in the JSON): the fastest this CPU has, or the kind named by the environment\n"
          "variable CLAWNET_Q8_KERNEL (scalar, avx2, avx512-vnni, neon, neon-sdot) where it runs here;\n"
          "all give the same bits.\n"
          "  --json FILE          also write the results as JSON\n",
          f);
}

int bench_kernels_wanted(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--kernels")) return 1;
    return 0;
}

static const cn_dtype default_types[] = {CN_DTYPE_BF16, CN_DTYPE_F8_E4M3, CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML,
                                         CN_DTYPE_Q8_0, CN_DTYPE_Q6_K,    CN_DTYPE_Q5_K, CN_DTYPE_Q4_K,
                                         CN_DTYPE_Q3_K, CN_DTYPE_Q2_K,    CN_DTYPE_IQ2_XXS};
/* Also accepted by --types, not run by default: the other float formats. */
static const cn_dtype extra_types[] = {CN_DTYPE_F16, CN_DTYPE_F32};

static bool parse_types(const char *text, cn_dtype *types, int *n) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = -1;
        cn_dtype t = CN_DTYPE_F32;
        for (size_t k = 0; k < sizeof default_types / sizeof *default_types; k++)
            if (!strcasecmp(tok, cn_dtype_name(default_types[k]))) found = (int)k, t = default_types[k];
        for (size_t k = 0; k < sizeof extra_types / sizeof *extra_types; k++)
            if (!strcasecmp(tok, cn_dtype_name(extra_types[k]))) found = (int)k, t = extra_types[k];
        if (found < 0 || *n >= (int)(sizeof default_types / sizeof *default_types)) {
            fprintf(stderr, "clawnet bench: --types: unknown format '%s' (see clawnet bench --kernels --help)\n", tok);
            return false;
        }
        types[(*n)++] = t;
    }
    if (*n == 0) fputs("clawnet bench: --types is empty\n", stderr);
    return *n > 0;
}

/* Where a block format keeps its f16 scales (they must be finite for a meaningful timing). */
static int f16_scale_offsets(cn_dtype t, int off[2]) {
    off[0] = off[1] = -1;
    switch (t) {
    case CN_DTYPE_Q8_0: case CN_DTYPE_IQ2_XXS: off[0] = 0; return 1;
    case CN_DTYPE_Q4_K: case CN_DTYPE_Q5_K: off[0] = 0, off[1] = 2; return 2;
    case CN_DTYPE_Q6_K: off[0] = 208; return 1;
    case CN_DTYPE_Q3_K: off[0] = 108; return 1;
    case CN_DTYPE_Q2_K: off[0] = 80, off[1] = 82; return 2;
    default: return 0;
    }
}

typedef struct {
    cn_matrix m;
    uint8_t *data, *scales;
} bench_matrix;

static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Random bytes (any bit pattern decodes to something finite once the scales are set), small
 * finite f16 block scales and E8M0 scales near 1. */
static bool make_matrix(cn_dtype t, int64_t rows, int64_t cols, bench_matrix *out) {
    memset(out, 0, sizeof *out);
    const size_t row_bytes = cn_dtype_row_bytes(t, cols), n = row_bytes * (size_t)rows;
    out->data = malloc(n + 8);
    if (!out->data) return false;
    uint64_t s = 0x2545f4914f6cdd1dull ^ (uint64_t)t;
    for (size_t i = 0; i < n; i += 8) {
        const uint64_t v = next_random(&s);
        memcpy(out->data + i, &v, 8);
    }
    if (t == CN_DTYPE_F32) /* exponent 126 or 127: values in [0.5, 2) with either sign */
        for (size_t i = 0; i < n; i += 4) out->data[i + 3] = 0x3f | (out->data[i + 3] & 0x80);
    if (t == CN_DTYPE_BF16 || t == CN_DTYPE_F16) /* BF16 in [2^-7, 2^-5), F16 in [1, 2): finite */
        for (size_t i = 0; i < n; i += 2) out->data[i + 1] = (uint8_t)(0x3c + (out->data[i + 1] & 1)) | (out->data[i + 1] & 0x80);
    if (t == CN_DTYPE_F8_E4M3)
        for (size_t i = 0; i < n; i++) out->data[i] &= 0xbf; /* no NaN codes */
    int off[2];
    const int n_off = f16_scale_offsets(t, off), bb = cn_dtype_block_bytes(t);
    if (n_off)
        for (size_t b = 0; b < n / (size_t)bb; b++)
            for (int k = 0; k < n_off; k++) {
                const uint16_t d = cn_f32_to_f16((float)(next_random(&s) % 1000) * 1e-5f);
                memcpy(out->data + b * (size_t)bb + off[k], &d, 2);
            }
    if (t == CN_DTYPE_MXFP4_GGML) /* its E8M0 byte: near 1, as the separate scales below */
        for (size_t b = 0; b < n / (size_t)bb; b++) out->data[b * (size_t)bb] = (uint8_t)(120 + next_random(&s) % 8);
    out->m = (cn_matrix){t, rows, cols, out->data, row_bytes, NULL, 0, 0, false};
    if (t == CN_DTYPE_F8_E4M3 || t == CN_DTYPE_MXFP4) {
        out->m.scale_cols = t == CN_DTYPE_MXFP4 ? cols / 32 : (cols + 127) / 128;
        const size_t ns = (size_t)(t == CN_DTYPE_MXFP4 ? rows : (rows + 127) / 128) * (size_t)out->m.scale_cols;
        out->scales = malloc(ns);
        if (!out->scales) return false;
        for (size_t i = 0; i < ns; i++) out->scales[i] = (uint8_t)(120 + next_random(&s) % 8);
        out->m.scales = out->scales;
    }
    return true;
}

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bytes the product reads: the stored rows and their separate scales. */
static double weight_bytes(const bench_matrix *bm) {
    const cn_matrix *m = &bm->m;
    double b = (double)m->row_bytes * (double)m->rows;
    if (m->dtype == CN_DTYPE_F8_E4M3) b += (double)((m->rows + 127) / 128 * m->scale_cols);
    if (m->dtype == CN_DTYPE_MXFP4) b += (double)(m->rows * m->scale_cols);
    return b;
}

/* The 8-bit-activation product (cn_matmul with act_q8 on the same matrix): quantising the token
 * is part of every timed call, as in a real layer. Returns the median seconds, fills *best and
 * the relative RMS difference from y_f32. */
static double time_int8(cn_threadpool *pool, const cn_matrix *m, const float *x, int64_t tokens, int repeats,
                        const float *y_f32, double *best, double *rel_rms) {
    float *y = malloc((size_t)(m->rows * tokens) * sizeof *y);
    if (!y) return -1.0;
    cn_matrix q8 = *m;
    q8.act_q8 = true;
    double times[MAX_REPEATS];
    for (int r = -1; r < repeats; r++) { /* r = -1: warm-up */
        const double t0 = bench_now_seconds();
        cn_matmul(pool, &q8, x, m->cols, tokens, y, m->rows);
        if (r >= 0) times[r] = bench_now_seconds() - t0;
    }
    qsort(times, (size_t)repeats, sizeof *times, compare_double);
    double diff = 0.0, norm = 0.0;
    for (int64_t r = 0; r < m->rows * tokens; r++) {
        const double e = (double)y[r] - (double)y_f32[r];
        diff += e * e, norm += (double)y_f32[r] * y_f32[r];
    }
    *rel_rms = norm > 0.0 ? sqrt(diff / norm) : 0.0;
    *best = times[0];
    free(y);
    return repeats % 2 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);
}

int bench_kernels_main(int argc, char **argv) {
    cn_dtype types[sizeof default_types / sizeof *default_types];
    int n_types = (int)(sizeof default_types / sizeof *default_types);
    memcpy(types, default_types, sizeof default_types);
    int64_t threads[MAX_THREAD_COUNTS] = {1, 2}, cols = 4096, mb = 128, repeats = 7, tokens = 1;
    int n_threads = 2;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--kernels")) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            kernels_usage(stdout);
            return 0;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "--types")) {
            if (!parse_types(v, types, &n_types)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            int32_t *ids;
            int64_t count;
            if (!cn_parse_ids(v, &ids, &count)) return 2;
            bool ok = count >= 1 && count <= MAX_THREAD_COUNTS;
            for (int64_t k = 0; k < count && ok; k++) ok = ids[k] >= 1 && ids[k] <= 1024, threads[k] = ids[k];
            free(ids);
            if (!ok) {
                fprintf(stderr, "clawnet bench: %s takes 1 to %d thread counts from 1 to 1024\n", a, MAX_THREAD_COUNTS);
                return 2;
            }
            n_threads = (int)count;
        } else if (!strcmp(a, "--cols")) {
            if (!cn_parse_int(a, v, 256, 1 << 20, &cols)) return 2;
            if (cols % 256) {
                fputs("clawnet bench: --cols must be a multiple of 256 (the K-quant block)\n", stderr);
                return 2;
            }
        } else if (!strcmp(a, "--mb")) {
            if (!cn_parse_int(a, v, 1, 1 << 16, &mb)) return 2;
        } else if (!strcmp(a, "--tokens")) {
            if (!cn_parse_int(a, v, 1, 4096, &tokens)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!cn_parse_int(a, v, 1, MAX_REPEATS, &repeats)) return 2;
        } else if (!strcmp(a, "--json")) {
            json_path = v;
        } else {
            fprintf(stderr, "clawnet bench: unknown option %s with --kernels (see clawnet bench --kernels --help)\n", a);
            return 2;
        }
    }
    float *x = malloc((size_t)(cols * tokens) * sizeof *x);
    if (!x) return 1;
    uint64_t s = 42;
    for (int64_t i = 0; i < cols * tokens; i++) x[i] = (float)(next_random(&s) % 2001) * 1e-3f - 1.0f;

    cJSON *json = cJSON_CreateObject(), *results = cJSON_AddArrayToObject(json, "results");
    const bool avx2 = cn_cpu_has_avx2_fma(), neon = cn_cpu_has_neon();
    const char *int8_kernels = cn_q8_kernel_name(cn_q8_kernel_best());
    const char *forced = getenv("CLAWNET_Q8_KERNEL");
    if (forced && *forced && strcmp(forced, int8_kernels))
        fprintf(stderr, "clawnet bench: CLAWNET_Q8_KERNEL=%s is not a kind this CPU and build run; using %s\n", forced, int8_kernels);
    cJSON_AddStringToObject(json, "kernels", avx2 ? "avx2+fma" : neon ? "neon" : "portable");
    cJSON_AddStringToObject(json, "int8_kernels", int8_kernels);
    cJSON_AddNumberToObject(json, "cols", (double)cols);
    cJSON_AddNumberToObject(json, "tokens", (double)tokens);
    printf("kernels: %s (x int8: %s); y = W x, %lld token%s per call, %lld columns, ~%lld MB per matrix, %lld repetitions\n\n",
           avx2 ? "AVX2+FMA" : neon ? "NEON" : "portable", int8_kernels, (long long)tokens, tokens == 1 ? "" : "s", (long long)cols,
           (long long)mb, (long long)repeats);
    int status = 0;
    for (int ti = 0; ti < n_threads && !status; ti++) {
        cn_threadpool *pool = cn_threadpool_create((int)threads[ti]);
        if (!pool) {
            status = 1;
            break;
        }
        const double bandwidth = bench_read_bandwidth(pool, (size_t)1 << 29, 5);
        printf("threads %lld: read bandwidth %.1f GB/s\n\n"
               "| format | bytes/weight | ms (median) | GB/s median | GB/s best | of bandwidth | GFLOP/s median | GFLOP/s best | rel. RMS vs f32 |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
               (long long)threads[ti], bandwidth / 1e9);
        cJSON *run = cJSON_CreateObject();
        cJSON_AddNumberToObject(run, "threads", (double)threads[ti]);
        cJSON_AddNumberToObject(run, "read_bandwidth_gb_s", bandwidth / 1e9);
        cJSON *rows_json = cJSON_AddArrayToObject(run, "formats");
        cJSON_AddItemToArray(results, run);
        for (int f = 0; f < n_types; f++) {
            const cn_dtype t = types[f];
            const int64_t rows = (int64_t)((double)mb * 1e6 / (double)cn_dtype_row_bytes(t, cols)) + 1;
            bench_matrix bm;
            float *y = malloc((size_t)(rows * tokens) * sizeof *y);
            if (!y || !make_matrix(t, rows, cols, &bm)) {
                free(y), free(bm.data), free(bm.scales);
                status = 1;
                break;
            }
            cn_matmul(pool, &bm.m, x, cols, tokens, y, rows); /* warm-up: pages and code */
            double times[MAX_REPEATS];
            for (int r = 0; r < repeats; r++) {
                const double t0 = bench_now_seconds();
                cn_matmul(pool, &bm.m, x, cols, tokens, y, rows);
                times[r] = bench_now_seconds() - t0;
            }
            qsort(times, (size_t)repeats, sizeof *times, compare_double);
            const double median = repeats % 2 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);
            const double bytes = weight_bytes(&bm), gbs = bytes / median / 1e9, best = bytes / times[0] / 1e9;
            const double flops = 2.0 * (double)rows * (double)cols * (double)tokens;
            printf("| %s | %.4f | %.2f | %.2f | %.2f | %.1f%% | %.2f | %.2f | - |\n", cn_dtype_name(t), bytes / (double)(rows * cols),
                   median * 1e3, gbs, best, 100.0 * gbs * 1e9 / bandwidth, flops / median / 1e9, flops / times[0] / 1e9);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "format", cn_dtype_name(t));
            cJSON_AddNumberToObject(row, "weight_bytes", bytes);
            cJSON_AddNumberToObject(row, "ms_median", median * 1e3);
            cJSON_AddNumberToObject(row, "gb_s_median", gbs);
            cJSON_AddNumberToObject(row, "gb_s_best", best);
            cJSON_AddNumberToObject(row, "of_read_bandwidth", gbs * 1e9 / bandwidth);
            cJSON_AddNumberToObject(row, "gflop_s_median", flops / median / 1e9);
            cJSON_AddNumberToObject(row, "gflop_s_best", flops / times[0] / 1e9);
            cJSON_AddItemToArray(rows_json, row);
            if (cn_q8_layout_of(t) != CN_Q8_NONE) {
                double best8, rel_rms;
                const double med8 = time_int8(pool, &bm.m, x, tokens, (int)repeats, y, &best8, &rel_rms);
                if (med8 < 0.0) {
                    free(y), free(bm.data), free(bm.scales);
                    status = 1;
                    break;
                }
                const double gbs8 = bytes / med8 / 1e9;
                char name[32];
                snprintf(name, sizeof name, "%s x int8", cn_dtype_name(t));
                printf("| %s | %.4f | %.2f | %.2f | %.2f | %.1f%% | %.2f | %.2f | %.2e |\n", name, bytes / (double)(rows * cols), med8 * 1e3,
                       gbs8, bytes / best8 / 1e9, 100.0 * gbs8 * 1e9 / bandwidth, flops / med8 / 1e9, flops / best8 / 1e9, rel_rms);
                cJSON *row8 = cJSON_CreateObject();
                cJSON_AddStringToObject(row8, "format", name);
                cJSON_AddNumberToObject(row8, "weight_bytes", bytes);
                cJSON_AddNumberToObject(row8, "ms_median", med8 * 1e3);
                cJSON_AddNumberToObject(row8, "gb_s_median", gbs8);
                cJSON_AddNumberToObject(row8, "gb_s_best", bytes / best8 / 1e9);
                cJSON_AddNumberToObject(row8, "of_read_bandwidth", gbs8 * 1e9 / bandwidth);
                cJSON_AddNumberToObject(row8, "gflop_s_median", flops / med8 / 1e9);
                cJSON_AddNumberToObject(row8, "gflop_s_best", flops / best8 / 1e9);
                cJSON_AddNumberToObject(row8, "relative_rms_vs_f32", rel_rms);
                cJSON_AddItemToArray(rows_json, row8);
            }
            volatile float keep = y[rows * tokens - 1];
            (void)keep;
            free(y), free(bm.data), free(bm.scales);
        }
        printf("\n");
        cn_threadpool_destroy(pool);
    }
    if (status) fputs("clawnet bench: out of memory\n", stderr);
    if (!status && json_path) {
        char *text = cJSON_Print(json);
        FILE *f = fopen(json_path, "w");
        if (!f || !text || fputs(text, f) < 0) {
            fprintf(stderr, "clawnet bench: cannot write %s\n", json_path);
            status = 1;
        }
        if (f) fclose(f);
        free(text);
    }
    cJSON_Delete(json);
    free(x);
    return status;
}
