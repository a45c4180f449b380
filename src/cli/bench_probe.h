/* Physical ceilings of this machine, measured rather than assumed: memory read bandwidth (what
 * bounds decode) and f32 multiply-add throughput (what bounds prefill). */
#ifndef CN_CLI_BENCH_PROBE_H
#define CN_CLI_BENCH_PROBE_H

#include <stddef.h>

#include "base/threadpool.h"

/* Best of `repeats` passes reading a buffer of `bytes` with every pool thread: bytes/second. */
double bench_read_bandwidth(cn_threadpool *pool, size_t bytes, int repeats);

/* Best of `repeats` runs of independent f32 FMAs on every pool thread: FLOP/second (2 per FMA). */
double bench_peak_flops(cn_threadpool *pool, int repeats);

double bench_now_seconds(void);

#endif
