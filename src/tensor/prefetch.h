/* Software prefetch of weight streams, for the kernels that decode as they read. Internal to
 * src/tensor. */
#ifndef CN_TENSOR_PREFETCH_H
#define CN_TENSOR_PREFETCH_H

/* Weight bytes are prefetched this far ahead of the decoder. A kernel that spends long on each
 * cache line (decoding, several products) leaves the memory bus idle while it computes: the
 * hardware prefetcher alone does not run far enough ahead, so fetch and compute take turns
 * (measured on this VM, 256 MB of F8_E4M3 rows: one core 12.6 GB/s from memory against 25 GB/s
 * from cache, with the prefetch 1 KB ahead 15.5, 4 KB ahead 17.0; two cores 20-24 -> 29-32 GB/s
 * of 35). It is used where it measured faster, the FP8 rows (e4m3_rows_x86.c). A plain stream with
 * a cheap decoder is slower with it (BF16, two cores: 31-33 -> 27-29 GB/s: the hardware prefetcher
 * keeps up there, and the extra requests only compete), and the 8-bit-activation kernels and the
 * f32 MXFP4 and Q8_0 chains showed no gain beyond the noise. 4 KB is one 4096-column FP8 row;
 * prefetching past the end of a matrix reads nothing the program needs but cannot fault (a
 * prefetch of an unmapped address is dropped). */
#define CN_PREFETCH_AHEAD 4096

static inline __attribute__((always_inline)) void cn_prefetch_ahead(const void *p) {
    __builtin_prefetch((const char *)p + CN_PREFETCH_AHEAD, 0, 3);
}

#endif
