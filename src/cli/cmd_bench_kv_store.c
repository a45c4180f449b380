/* clawnet bench-kv-store: what the persistent prefix store (kv/store.h) costs on this machine for
 * a state of DeepSeek-V4-Flash geometry (43 layers: 2 sliding-window, 21 CSA with indexer keys
 * at ratio 4, 20 HCA at ratio 128; head dim 512, window 128; by default FP8 rows and FP8 indexer keys) at
 * chosen positions. Rows are filled with seeded noise: the store copies bytes and does not care
 * what they mean. For each size: a fresh store directory, the first save (every chunk written
 * and fsynced), a follow-up save 128 positions further (the usual turn: one checkpoint, no new
 * chunk unless a span boundary was crossed), then restores of the follow-up's prompt into a
 * fresh state from a warm page cache, checked byte for byte against the saved state. Also a
 * state copy, what the serving engine pays on its own thread to resume from memory (the prefix
 * cache or a state still being saved): saves and restores run on its store thread
 * (serve/store_worker.h). docs/kv-store.md quotes the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"
#include "kv/state.h"
#include "kv/store.h"

static const char usage[] =
    "usage: clawnet bench-kv-store --dir DIR [--positions 2048,32768] [--reps 5] [--kv-type fp8|bf16|f32]\n"
    "                              [--kv-index-type fp8|fp4|bf16|f32]\n"
    "\n"
    "Times the kv store (docs/kv-store.md) on a synthetic DeepSeek-V4-Flash-shaped state: first save,\n"
    "follow-up save, restore (median and best of REPS, warm page cache) and one state copy (what a\n"
    "memory hit costs the engine). DIR is a scratch directory (a store per size is made under it and left).\n"
    "--kv-type sets the storage of the rows (default fp8), --kv-index-type that of the indexer keys\n"
    "(default: the --kv-type; fp4 is the official model's 357 bytes per token of keys).\n";

#define FLASH_LAYERS 43
#define MAX_SIZES 8

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this thread: on a shared machine it moves far less with the load than wall time. */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void flash_shapes(cn_kv_layer_shape *shapes) {
    for (int l = 0; l < FLASH_LAYERS; l++) {
        const int ratio = l < 2 ? 0 : (l % 2 == 0 ? 4 : 128);
        const int64_t coff = ratio == 4 ? 2 : 1;
        shapes[l] = (cn_kv_layer_shape){.ratio = ratio, .has_indexer = ratio == 4, .window = 128, .head_dim = 512,
                                        .rope_dim = 64};
        if (ratio > 0) {
            shapes[l].compressor_rows = coff * ratio;
            shapes[l].compressor_width = coff * 512;
        }
        if (ratio == 4) {
            shapes[l].indexer_head_dim = 128;
            shapes[l].indexer_compressor_rows = coff * ratio;
            shapes[l].indexer_compressor_width = coff * 128;
        }
    }
}

static uint64_t next_noise(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(void *p, size_t n, uint64_t *seed) {
    uint8_t *b = p;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        const uint64_t z = next_noise(seed);
        memcpy(b + i, &z, 8);
    }
    for (size_t i = n & ~(size_t)7; i < n; i++) b[i] = (uint8_t)next_noise(seed);
}

static size_t rows_bytes(const cn_kv_rows *r) { return (size_t)r->count * r->codec.row_bytes; }

/* Advances st to n positions: rows appended as noise, window and compressor buffers refilled. */
static cn_status grow_state(cn_kv_state *st, int64_t n, uint64_t *seed, cn_error *err) {
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        fill(ly->window_ring, (size_t)ly->window * ly->window_codec.row_bytes, seed);
        fill(ly->compressor.kv, sizeof(float) * (size_t)(ly->compressor.rows * ly->compressor.width), seed);
        fill(ly->compressor.score, sizeof(float) * (size_t)(ly->compressor.rows * ly->compressor.width), seed);
        fill(ly->indexer_compressor.kv, sizeof(float) * (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width), seed);
        fill(ly->indexer_compressor.score,
             sizeof(float) * (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width), seed);
        if (ly->ratio == 0) continue;
        const int64_t rows = n / ly->ratio;
        cn_kv_rows *sets[2] = {&ly->compressed, ly->has_indexer ? &ly->indexer_keys : NULL};
        for (int k = 0; k < 2; k++) {
            cn_kv_rows *r = sets[k];
            if (!r || rows <= r->count) continue;
            cn_status s = cn_kv_rows_reserve(r, rows, err);
            if (s != CN_OK) return s;
            fill(r->data + rows_bytes(r), (size_t)(rows - r->count) * r->codec.row_bytes, seed);
            r->count = rows;
        }
    }
    st->n_tokens = n;
    return CN_OK;
}

static bool same_rows(const cn_kv_state *a, const cn_kv_state *b) {
    if (a->n_tokens != b->n_tokens) return false;
    for (int l = 0; l < a->n_layers; l++) {
        const cn_kv_layer *x = &a->layers[l], *y = &b->layers[l];
        if (x->compressed.count != y->compressed.count || x->indexer_keys.count != y->indexer_keys.count ||
            memcmp(x->compressed.data, y->compressed.data, rows_bytes(&x->compressed)) != 0 ||
            memcmp(x->indexer_keys.data, y->indexer_keys.data, rows_bytes(&x->indexer_keys)) != 0 ||
            memcmp(x->window_ring, y->window_ring, (size_t)x->window * x->window_codec.row_bytes) != 0)
            return false;
    }
    return true;
}

static int bench_size(const char *dir, int64_t n, int reps, const cn_kv_options *kvo) {
    cn_kv_layer_shape shapes[FLASH_LAYERS];
    flash_shapes(shapes);
    cn_error err = {0};
    cn_kv_state st = {0}, empty = {0}, copy = {0}, restored = {0};
    cn_kv_store *store = NULL;
    const int64_t n2 = n + 128;
    int32_t *ids = malloc((size_t)n2 * sizeof *ids);
    double *times = calloc((size_t)reps, sizeof *times), *cpu = calloc((size_t)reps, sizeof *cpu);
    uint64_t seed = 0x5eed0000u + (uint64_t)n;
    int rc = 1;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%lld", dir, (long long)n);
    if (!ids || !times || !cpu) goto out;
    for (int64_t i = 0; i < n2; i++) ids[i] = (int32_t)(next_noise(&seed) % 129280);
    if (cn_kv_state_init_opts(&st, FLASH_LAYERS, shapes, kvo, &err) ||
        cn_kv_state_init_opts(&empty, FLASH_LAYERS, shapes, kvo, &err) ||
        cn_kv_state_init_opts(&restored, FLASH_LAYERS, shapes, kvo, &err) || grow_state(&st, n, &seed, &err))
        goto out;
    if (cn_kv_store_open(sub, "bench-kv-store", &empty, (size_t)64 << 30, &store, &err)) goto out;
    double t0 = now_s();
    if (cn_kv_store_save(store, ids, (size_t)n, &st, &err)) goto out;
    const double first_save = now_s() - t0;
    if (grow_state(&st, n2, &seed, &err)) goto out;
    t0 = now_s();
    if (cn_kv_store_save(store, ids, (size_t)n2, &st, &err)) goto out;
    const double next_save = now_s() - t0;
    t0 = now_s();
    if (cn_kv_state_copy(&copy, &st, &err)) goto out;
    const double copy_s = now_s() - t0;
    for (int r = 0; r < reps; r++) {
        size_t matched = 0;
        cn_kv_state_free(&restored);
        if (cn_kv_state_init_opts(&restored, FLASH_LAYERS, shapes, kvo, &err)) goto out;
        t0 = now_s();
        const double c0 = cpu_s();
        if (cn_kv_store_restore_longest(store, ids, (size_t)n2, &restored, &matched, &err)) goto out;
        times[r] = now_s() - t0;
        cpu[r] = cpu_s() - c0;
        if (matched != (size_t)n2 || !same_rows(&restored, &st)) {
            fprintf(stderr, "clawnet bench-kv-store: restore %d of %lld positions gave %zu positions or other bytes\n", r,
                    (long long)n2, matched);
            goto out;
        }
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_double);
    cn_kv_store_stats stats;
    cn_kv_store_stats_get(store, &stats);
    printf("%10lld | %8.1f MB | %8.1f MB | %9.1f ms | %9.1f ms | %9.1f ms | %9.1f ms | %9.1f ms | %7.1f ms\n",
           (long long)n2, (double)stats.bytes / 1e6, (double)cn_kv_state_bytes(&st) / 1e6, 1e3 * first_save,
           1e3 * next_save, 1e3 * times[reps / 2], 1e3 * times[0], 1e3 * cpu[reps / 2], 1e3 * copy_s);
    rc = 0;
out:
    if (rc && err.msg[0]) fprintf(stderr, "clawnet bench-kv-store: %s\n", err.msg);
    cn_kv_store_close(store);
    cn_kv_state_free(&st);
    cn_kv_state_free(&empty);
    cn_kv_state_free(&copy);
    cn_kv_state_free(&restored);
    free(ids);
    free(times);
    free(cpu);
    return rc;
}

int cn_cmd_bench_kv_store(int argc, char **argv) {
    const char *dir = NULL;
    int64_t sizes[MAX_SIZES] = {2048, 32768}, reps = 5;
    int n_sizes = 2;
    prompt_kv kv = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        const int kv_option = prompt_args_parse_kv("bench-kv-store", argc, argv, &i, &kv);
        if (kv_option < 0) return 2;
        if (kv_option) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "--dir")) {
            dir = v;
        } else if (!strcmp(a, "--reps")) {
            if (!cn_parse_int(a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "--positions")) {
            n_sizes = 0;
            for (const char *p = v; *p && n_sizes < MAX_SIZES;) {
                char *end;
                long long x = strtoll(p, &end, 10);
                if (end == p || x < 128 || x > (1 << 22) || x % 128 != 0) {
                    fprintf(stderr, "clawnet bench-kv-store: --positions wants multiples of 128 in [128, 4194304]: %s\n", v);
                    return 2;
                }
                sizes[n_sizes++] = x;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') {
                    fprintf(stderr, "clawnet bench-kv-store: --positions is a comma-separated list: %s\n", v);
                    return 2;
                }
            }
        } else {
            fprintf(stderr, "clawnet bench-kv-store: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    const cn_kv_options kvo = prompt_kv_options(&kv); /* fp8 rows unless told: the default state */
    if (!dir) {
        fputs("clawnet bench-kv-store: --dir DIR is required (see --help)\n", stderr);
        return 2;
    }
    printf("V4-Flash geometry (43 layers), chunks of 2048 positions, restore: wall median and best, thread CPU median,\n"
           "of %lld, warm page cache\n", (long long)reps);
    printf("%10s | %11s | %11s | %12s | %12s | %12s | %12s | %12s | %10s\n", "positions", "on disk", "state",
           "first save", "next save", "restore med", "restore best", "restore cpu", "copy");
    for (int i = 0; i < n_sizes; i++)
        if (bench_size(dir, sizes[i], (int)reps, &kvo)) return 1;
    return 0;
}
