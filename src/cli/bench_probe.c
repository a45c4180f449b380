#include "cli/bench_probe.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const uint64_t *data;
    int64_t words_per_part;
    uint64_t *sums;
} read_job;

static void read_parts(void *p, int64_t begin, int64_t end) {
    const read_job *job = p;
    for (int64_t part = begin; part < end; part++) {
        const uint64_t *w = job->data + part * job->words_per_part;
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (int64_t i = 0; i + 4 <= job->words_per_part; i += 4) a += w[i], b += w[i + 1], c += w[i + 2], d += w[i + 3];
        job->sums[part] = a + b + c + d;
    }
}

double bench_read_bandwidth(cn_threadpool *pool, size_t bytes, int repeats) {
    const int parts = cn_threadpool_size(pool);
    const int64_t words = (int64_t)(bytes / 8 / (size_t)parts / 4 * 4);
    uint64_t *data = malloc((size_t)(words * parts) * 8), sums[256] = {0};
    if (!data || parts > 256) {
        free(data);
        return 0.0;
    }
    memset(data, 1, (size_t)(words * parts) * 8); /* touch every page before timing */
    read_job job = {data, words, sums};
    double best = 0.0;
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now_seconds();
        cn_parallel_for(pool, parts, read_parts, &job);
        double dt = bench_now_seconds() - t0, rate = (double)(words * parts) * 8.0 / dt;
        if (rate > best) best = rate;
    }
    volatile uint64_t keep = sums[0];
    (void)keep;
    free(data);
    return best;
}

#define FMA_ITERS 20000000
#define FMA_CHAINS 10 /* enough independent chains to cover the FMA latency */

typedef struct {
    float *out;
} flops_job;

#if defined(__x86_64__)
#include <immintrin.h>

/* Independent 8-wide FMA chains, explicit so no compiler setting can split them into mul+add. */
__attribute__((target("avx2,fma"))) static void fma_loop(void *p, int64_t begin, int64_t end) {
    flops_job *job = p;
    for (int64_t t = begin; t < end; t++) {
        __m256 acc[FMA_CHAINS];
        const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm256_set1_ps((float)(c + 1));
        for (int i = 0; i < FMA_ITERS / FMA_CHAINS; i++)
            for (int c = 0; c < FMA_CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
        float lanes[8], s = 0.0f;
        for (int c = 0; c < FMA_CHAINS; c++) {
            _mm256_storeu_ps(lanes, acc[c]);
            for (int k = 0; k < 8; k++) s += lanes[k];
        }
        job->out[t] = s;
    }
}
#define FMA_WIDTH 8
#else
static void fma_loop(void *p, int64_t begin, int64_t end) {
    flops_job *job = p;
    for (int64_t t = begin; t < end; t++) {
        float acc[FMA_CHAINS], s = 0.0f;
        for (int c = 0; c < FMA_CHAINS; c++) acc[c] = (float)(c + 1);
        for (int i = 0; i < FMA_ITERS / FMA_CHAINS; i++)
            for (int c = 0; c < FMA_CHAINS; c++) acc[c] = fmaf(acc[c], 1.0000001f, 0.9999999f);
        for (int c = 0; c < FMA_CHAINS; c++) s += acc[c];
        job->out[t] = s;
    }
}
#define FMA_WIDTH 1
#endif

double bench_peak_flops(cn_threadpool *pool, int repeats) {
    const int n = cn_threadpool_size(pool);
    float out[256];
    if (n > 256) return 0.0;
    flops_job job = {out};
    double best = 0.0;
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now_seconds();
        cn_parallel_for(pool, n, fma_loop, &job);
        double dt = bench_now_seconds() - t0;
        double rate = (double)n * (double)(FMA_ITERS / FMA_CHAINS * FMA_CHAINS) * FMA_WIDTH * 2.0 / dt;
        if (rate > best) best = rate;
    }
    return best;
}
