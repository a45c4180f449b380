/* What this CPU, and the OS for the register state it saves, offers the kernels: read once per
 * process and shared by every kernel family that chooses at run time (row_dot_avx2.c,
 * e4m3_rows_x86.c, q8_dot_avx512_vnni.c, q8_dot_neon.c). A portable build (CLAWNET_NO_SIMD)
 * reports nothing, as it has no kernels to choose. */
#ifndef CN_BASE_CPU_FEATURES_H
#define CN_BASE_CPU_FEATURES_H

#include <stdbool.h>

typedef struct {
    bool avx2_fma_f16c; /* x86: AVX2, FMA and F16C, with the XMM and YMM state saved */
    bool avx512bw;      /* and AVX-512 F + BW, with the opmask and both ZMM halves saved */
    bool avx512vnni;    /* and AVX-512 VL + VNNI */
    bool avx512vbmi;    /* and AVX-512 VBMI (vpermb): Ice Lake, Zen 4 and later */
    bool arm_dotprod;   /* aarch64: the Armv8.2 SDOT/UDOT instructions (HWCAP_ASIMDDP) */
} cn_cpu_features;

/* The features, read on the first call (thread-safe). */
const cn_cpu_features *cn_cpu_features_get(void);

#endif
