#include "base/threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct cn_threadpool {
    int n_threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t work_ready, work_done;
    /* The current loop; generation increases once per cn_parallel_for call. */
    uint64_t generation;
    cn_range_fn fn;
    void *ctx;
    int64_t n;
    int pending;
    int shutting_down;
};

typedef struct {
    cn_threadpool *pool;
    int index;
} worker_arg;

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
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->shutting_down && pool->generation == seen) pthread_cond_wait(&pool->work_ready, &pool->lock);
        if (pool->shutting_down) break;
        seen = pool->generation;
        cn_range_fn fn = pool->fn;
        void *ctx = pool->ctx;
        int64_t n = pool->n;
        pthread_mutex_unlock(&pool->lock);
        run_share(pool, index, fn, ctx, n);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) pthread_cond_signal(&pool->work_done);
    }
    pthread_mutex_unlock(&pool->lock);
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
    pool->shutting_down = 1;
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
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);

    run_share(pool, 0, fn, ctx, n);

    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) pthread_cond_wait(&pool->work_done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
