/* clawnet bench --server URL: throughput and time to first token of a running OpenAI-compatible
 * server (clawnet serve or any other), measured from the client side over HTTP. */
#ifndef CN_CLI_BENCH_SERVER_H
#define CN_CLI_BENCH_SERVER_H

/* Runs the server benchmark; argv is the whole `bench` command line (argv[0] = "bench").
 * Returns the process exit status: 0 done, 1 the server failed, 2 bad usage. */
int bench_server_main(int argc, char **argv);

/* Whether argv asks for the server benchmark (has --server). */
int bench_server_wanted(int argc, char **argv);

#endif
