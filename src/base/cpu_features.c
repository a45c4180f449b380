#include "base/cpu_features.h"

#include <pthread.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <cpuid.h>

/* CPUID and XGETBV directly, because __builtin_cpu_supports has no "f16c" in clang 14.
 * Leaf 1 ECX: FMA, AVX, OSXSAVE, F16C. XCR0: bits 1-2 the XMM and YMM state, bits 5-7 the
 * opmask, the upper halves of ZMM0-15 and ZMM16-31. Leaf 7 EBX: AVX2 (5), AVX512F (16),
 * AVX512BW (30), AVX512VL (31); ECX: AVX512_VBMI (1), AVX512_VNNI (11). */
static void read_features(cn_cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const unsigned leaf1 = bit_FMA | bit_AVX | bit_OSXSAVE | bit_F16C;
    if ((c & leaf1) != leaf1) return;
    unsigned xcr0, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xcr0_high) : "c"(0));
    (void)xcr0_high;
    if ((xcr0 & 0x6u) != 0x6u || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    f->avx2_fma_f16c = (b & bit_AVX2) != 0;
    const unsigned f_bw = 1u << 16 | 1u << 30;
    f->avx512bw = f->avx2_fma_f16c && (xcr0 & 0xe6u) == 0xe6u && (b & f_bw) == f_bw;
    f->avx512vnni = f->avx512bw && (b & 1u << 31) && (c & 1u << 11);
    f->avx512vbmi = f->avx512vnni && (c & 1u << 1);
}

#elif defined(__aarch64__) && defined(__linux__) && !defined(CLAWNET_NO_SIMD)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20) /* Linux arch/arm64/include/uapi/asm/hwcap.h */
#endif

/* getauxval reads what the kernel told the process at exec: no system call. */
static void read_features(cn_cpu_features *f) { f->arm_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }

#else
static void read_features(cn_cpu_features *f) { (void)f; }
#endif

/* Read once per process: a CPUID traps to the hypervisor in a VM (about 8 us each on the
 * development machine) and cn_matmul asks on every call. A fact about the CPU that never changes
 * once set, not state any caller can alter. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static cn_cpu_features features;
static void read_once(void) { read_features(&features); }

const cn_cpu_features *cn_cpu_features_get(void) {
    pthread_once(&once, read_once);
    return &features;
}
