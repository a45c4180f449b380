/* The thread pool's contract (base/threadpool.h): every cn_parallel_for call runs each index of
 * [0, n) exactly once, in contiguous ranges that depend only on n and the pool size, and returns
 * only when all of them are done. Exercised back to back (the workers find the next loop while
 * they poll) and after pauses longer than the polling budget (the workers have gone to sleep
 * and must be woken), with more threads than CPUs, and with loops smaller than the pool. */
#include "base/threadpool.h"
#include "harness.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    _Atomic int *hits;    /* per index: how many times it ran in this call */
    _Atomic int calls;    /* fn invocations (ranges) in this call */
    int64_t n;
    int threads;
    _Atomic int bad_range; /* a range that is not the documented split */
} loop_state;

static void count_range(void *p, int64_t begin, int64_t end) {
    loop_state *s = p;
    /* the split is n*i/T .. n*(i+1)/T for some thread i */
    int ok = 0;
    for (int i = 0; i < s->threads; i++)
        if (begin == s->n * i / s->threads && end == s->n * (i + 1) / s->threads) ok = 1;
    if (!ok) atomic_store(&s->bad_range, 1);
    for (int64_t k = begin; k < end; k++) atomic_fetch_add(&s->hits[k], 1);
    atomic_fetch_add(&s->calls, 1);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs `loops` calls of sizes cycling through 1..max_n on a pool of `threads`, pausing
 * pause_ms between calls; checks each call's coverage as soon as it returns. */
static void run_loops(int threads, int loops, int64_t max_n, int pause_ms) {
    cn_threadpool *pool = cn_threadpool_create(threads);
    CHECK(pool != NULL);
    if (!pool) return;
    CHECK(cn_threadpool_size(pool) == threads);
    _Atomic int *hits = calloc((size_t)max_n, sizeof *hits);
    int failures_before = cn_test_failures;
    for (int l = 0; l < loops && cn_test_failures == failures_before; l++) {
        int64_t n = 1 + l % max_n;
        loop_state s = {hits, 0, n, threads, 0};
        for (int64_t k = 0; k < n; k++) atomic_store(&hits[k], 0);
        cn_parallel_for(pool, n, count_range, &s);
        int64_t wrong = -1;
        for (int64_t k = 0; k < n && wrong < 0; k++)
            if (atomic_load(&hits[k]) != 1) wrong = k;
        CHECKF(wrong < 0, "threads %d, loop %d, n %lld: index %lld ran %d times", threads, l, (long long)n,
               (long long)wrong, wrong < 0 ? 1 : atomic_load(&hits[wrong]));
        CHECKF(!atomic_load(&s.bad_range), "threads %d, n %lld: a range outside the documented split", threads,
               (long long)n);
        int64_t expected_calls = 0; /* one call per non-empty share, or one inline call */
        for (int i = 0; i < threads; i++) expected_calls += s.n * i / threads < s.n * (i + 1) / threads;
        if (threads == 1 || n == 1) expected_calls = 1;
        CHECKF(atomic_load(&s.calls) == expected_calls, "threads %d, n %lld: %d ranges, expected %lld", threads,
               (long long)n, atomic_load(&s.calls), (long long)expected_calls);
        if (pause_ms) sleep_ms(pause_ms);
    }
    free(hits);
    cn_threadpool_destroy(pool);
}

int main(void) {
    static const int thread_counts[] = {1, 2, 3, 8};
    for (size_t i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
        int t = thread_counts[i];
        run_loops(t, 5000, 37, 0);  /* back to back: workers poll and find the next loop */
        run_loops(t, 12, 11, 2);    /* 2 ms pauses: past the 0.2 ms polling budget, workers sleep */
    }
    /* A pool destroyed while its workers still poll, and one destroyed while they sleep. */
    cn_threadpool *pool = cn_threadpool_create(4);
    CHECK(pool != NULL);
    cn_threadpool_destroy(pool);
    pool = cn_threadpool_create(4);
    CHECK(pool != NULL);
    sleep_ms(5);
    cn_threadpool_destroy(pool);
    cn_parallel_for(NULL, 0, count_range, NULL); /* n <= 0 runs nothing, even without a pool */
    return cn_test_finish("threadpool");
}
