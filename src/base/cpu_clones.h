/* Runtime selection by CPU features without hand-written dispatch: a function marked
 * CN_CPU_CLONES is compiled once per listed target and the loader picks the best copy for
 * the machine (GCC/clang ifunc). Only for code whose results cannot depend on the copy:
 * integer work, or float work whose operation order is fixed by the source (ISO C mode does not
 * contract a*b+c into an FMA, and no -ffast-math is used). */
#ifndef CN_BASE_CPU_CLONES_H
#define CN_BASE_CPU_CLONES_H

/* Not with clang before 16: clang 14 names the dispatcher `f.ifunc` and leaves calls from other
 * files to `f` undefined at link time; those builds get the portable copy only. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang_analyzer__) && !defined(CLAWNET_NO_SIMD) && \
    !(defined(__clang__) && __clang_major__ < 16)
#define CN_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CN_CPU_CLONES
#endif

#endif
