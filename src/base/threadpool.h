/* A fixed pool of worker threads running one data-parallel loop at a time.
 * The caller thread takes part, so a pool of n threads starts n-1 workers. */
#ifndef CN_BASE_THREADPOOL_H
#define CN_BASE_THREADPOOL_H

#include <stdint.h>

typedef struct cn_threadpool cn_threadpool;

/* fn processes the half-open range [begin, end) of the loop's items. */
typedef void (*cn_range_fn)(void *ctx, int64_t begin, int64_t end);

/* n_threads <= 0 means one per online CPU. Returns NULL on failure. */
cn_threadpool *cn_threadpool_create(int n_threads);
void cn_threadpool_destroy(cn_threadpool *pool);
int cn_threadpool_size(const cn_threadpool *pool);

/* Splits [0, n) into contiguous ranges, one per thread, and waits for all of them.
 * pool may be NULL (runs inline). The split depends only on n and the pool size, so results
 * never depend on scheduling. */
void cn_parallel_for(cn_threadpool *pool, int64_t n, cn_range_fn fn, void *ctx);

#endif
