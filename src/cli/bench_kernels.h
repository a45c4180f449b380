/* clawnet bench --kernels: the matrix-vector kernels of every weight format alone, as GB/s of
 * weight bytes streamed from memory against this machine's read bandwidth measured by the same
 * run with the same threads. No model needed. */
#ifndef CN_CLI_BENCH_KERNELS_H
#define CN_CLI_BENCH_KERNELS_H

/* argv is the whole `bench` command line (argv[0] = "bench"). Returns the process exit status:
 * 0 done, 1 out of memory, 2 bad usage. */
int bench_kernels_main(int argc, char **argv);

/* Whether argv asks for the kernel benchmark (has --kernels). */
int bench_kernels_wanted(int argc, char **argv);

#endif
