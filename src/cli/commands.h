/* The `clawnet` subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit status. */
#ifndef CN_CLI_COMMANDS_H
#define CN_CLI_COMMANDS_H

/* clawnet info PATH: configuration, tensor inventory and parameter counts of a checkpoint. */
int cn_cmd_info(int argc, char **argv);

/* clawnet run -m PATH --ids "..." -n N: generate token ids. */
int cn_cmd_run(int argc, char **argv);

/* clawnet chat -m PATH: an interactive conversation in the V4 chat format. */
int cn_cmd_chat(int argc, char **argv);

/* clawnet serve -m PATH [--host H] [--port N] ...: the model over HTTP until SIGINT/SIGTERM. */
int cn_cmd_serve(int argc, char **argv);

/* clawnet logits -m PATH --ids "..." [--chunk N] -o FILE: raw f32 logits of every position. */
int cn_cmd_logits(int argc, char **argv);

/* clawnet eval -m MODEL --ref REFERENCE --tokens FILE: KL, top-1 agreement and perplexity of a
 * (quantised) model against its reference on the same tokens. */
int cn_cmd_eval(int argc, char **argv);

/* clawnet bench -m MODEL: prefill/decode speed against this machine's measured ceilings. */
int cn_cmd_bench(int argc, char **argv);

/* clawnet tokenize --tokenizer PATH: text lines to token ids (--decode: back), as HF tokenizers. */
int cn_cmd_tokenize(int argc, char **argv);

/* clawnet quantize IN OUT.gguf [--policy P] [--override PATTERN=TYPE]: requantise a checkpoint
 * into a `deepseek4` GGUF with llama.cpp's names and metadata. */
int cn_cmd_quantize(int argc, char **argv);

/* clawnet agent run|resume|status|log|stop|verify: durable agent runs (docs/agent.md). */
int cn_cmd_agent(int argc, char **argv);

/* clawnet bench-constraint --tokenizer PATH: the cost of one constrained-decoding mask. */
int cn_cmd_bench_constraint(int argc, char **argv);

/* clawnet bench-kv-store --dir DIR: save and restore times of the persistent prefix store. */
int cn_cmd_bench_kv_store(int argc, char **argv);

#endif
