#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* How long a thread polls for the next loop (a worker) or for the workers' end (the caller)
 * before it sleeps on a condition variable. Decode runs tens of loops per layer with a few
 * microseconds of single-threaded work between them; a futex wake-up costs about as much as a
 * small loop, and perf showed wake-ups taking 4-6 % of a decode step when every wait slept.
 * Past this budget the pool sleeps, so an idle server or an oversubscribed machine pays at most
 * this much CPU per loop. */
#define SPIN_NS 200000L

struct cn_threadpool {
    int n_threads;
    pthread_t *workers;
    /* The current loop, published by a release increment of generation (once per
     * cn_parallel_for call); fn, ctx and n are written before it and read after it. */
    _Atomic uint64_t generation;
    cn_range_fn fn;
    void *ctx;
    int64_t n;
    _Atomic int pending; /* workers that have not finished the current loop */
    _Atomic bool shutting_down;
    /* Sleeping: the flags below are read and written under lock, so a thread that decides
     * to sleep and the thread that must wake it agree. */
    pthread_mutex_t lock;
    pthread_cond_t work_ready, work_done;
    int workers_asleep;
    bool caller_asleep;
};

typedef struct {
    cn_threadpool *pool;
    int index;
} worker_arg;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Polls done(pool, arg) for up to SPIN_NS; true once it holds. The clock is read every 64
 * polls only: a pause is tens of cycles, a clock read about as much. After the first polls the
 * thread yields between polls: with more threads than free CPUs (an oversubscribed pool, or
 * other processes) a thread that only paused would keep the one with work off its CPU. */
static bool spin_until(bool (*done)(cn_threadpool *, uint64_t), cn_threadpool *pool, uint64_t arg) {
    long long deadline = 0;
    for (unsigned i = 1;; i++) {
        if (done(pool, arg)) return true;
        if (i < 1024) cpu_relax();
        else sched_yield();
        if (i % 64 == 0) {
            long long t = now_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) return false;
        }
    }
}

static bool loop_published(cn_threadpool *pool, uint64_t seen) {
    return atomic_load_explicit(&pool->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&pool->shutting_down, memory_order_acquire);
}

static bool workers_finished(cn_threadpool *pool, uint64_t unused) {
    (void)unused;
    return atomic_load_explicit(&pool->pending, memory_order_acquire) == 0;
}

static void run_share(cn_threadpool *pool, int index, cn_range_fn fn, void *ctx, int64_t n) {
    int64_t begin = n * index / pool->n_threads, end = n * (index + 1) / pool->n_threads;
    if (begin < end) fn(ctx, begin, end);
}

static void *worker_main(void *p) {
    worker_arg *arg = p;
    cn_threadpool *pool = arg->pool;
    int index = arg->index;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(loop_published, pool, seen)) {
            pthread_mutex_lock(&pool->lock);
            pool->workers_asleep++;
            while (!loop_published(pool, seen)) pthread_cond_wait(&pool->work_ready, &pool->lock);
            pool->workers_asleep--;
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load_explicit(&pool->shutting_down, memory_order_acquire)) break;
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        run_share(pool, index, pool->fn, pool->ctx, pool->n);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            if (pool->caller_asleep) pthread_cond_signal(&pool->work_done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

cn_threadpool *cn_threadpool_create(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    cn_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->shutting_down, false);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->work_done, NULL);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->workers) {
        cn_threadpool_destroy(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg || pthread_create(&pool->workers[i], NULL, worker_main, (arg->pool = pool, arg->index = i, arg))) {
            free(arg);
            pool->n_threads = i; /* only workers 1..i-1 exist */
            cn_threadpool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void cn_threadpool_destroy(cn_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store_explicit(&pool->shutting_down, true, memory_order_release);
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->n_threads; i++)
        if (pool->workers) pthread_join(pool->workers[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work_ready);
    pthread_cond_destroy(&pool->work_done);
    free(pool->workers);
    free(pool);
}

int cn_threadpool_size(const cn_threadpool *pool) { return pool ? pool->n_threads : 1; }

void cn_parallel_for(cn_threadpool *pool, int64_t n, cn_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!pool || pool->n_threads == 1 || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    /* Every worker finished the previous loop (pending reached 0), so none reads these now. */
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    if (pool->workers_asleep) pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);

    run_share(pool, 0, fn, ctx, n);

    if (!spin_until(workers_finished, pool, 0)) {
        pthread_mutex_lock(&pool->lock);
        pool->caller_asleep = true;
        while (!workers_finished(pool, 0)) pthread_cond_wait(&pool->work_done, &pool->lock);
        pool->caller_asleep = false;
        pthread_mutex_unlock(&pool->lock);
    }
}
