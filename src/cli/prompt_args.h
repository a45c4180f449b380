/* The options every model-running subcommand shares (-m, --ids, -t, --kv-type, --act-q8) and the opening of the
 * model and a fresh sequence state from them. */
#ifndef CN_CLI_PROMPT_ARGS_H
#define CN_CLI_PROMPT_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <clawnet/clawnet.h>


typedef struct {
    const char *model_path, *ids_text;
    int64_t threads;
    int32_t *ids; /* parsed by prompt_args_finish */
    int64_t n_ids;
    cn_kv_type kv_type; /* --kv-type: storage of the state's rows (default f32) */
    cn_kv_type kv_index_type; /* --kv-index-type: storage of the indexer keys (default: kv_type) */
    bool kv_index_set;
    bool act_q8;        /* --act-q8: 8-bit activations (cn_model_set_act_q8) */
} prompt_args;

/* Consumes argv[*i] (and its value) if it is a shared option. Returns 1 if consumed, 0 if
 * not one of ours, -1 after printing an error. */
int prompt_args_parse(prompt_args *a, int argc, char **argv, int *i);

/* Checks the required options and parses the ids; prints errors under `command`. */
bool prompt_args_finish(prompt_args *a, const char *command);

/* Opens the model (with --act-q8 applied) and an empty state; on failure prints the error and returns false. */
bool prompt_args_open(const prompt_args *a, const char *command, cn_model **model, cn_kv_state *state);

void prompt_args_free(prompt_args *a);

/* Parses a --kv-type value (f32, bf16, fp8); prints an error under `command` if unknown (fp4 is
 * refused with a pointer to --kv-index-type). */
bool prompt_args_kv_type(const char *command, const char *value, cn_kv_type *out);
/* Parses a --kv-index-type value (f32, bf16, fp8, fp4). */
bool prompt_args_kv_index_type(const char *command, const char *value, cn_kv_type *out);
/* The state encodings the options ask for: rows --kv-type, indexer keys --kv-index-type if given,
 * else --kv-type. */
cn_kv_options prompt_args_kv_options(const prompt_args *a);

#define PROMPT_ARGS_KV_TYPE_HELP \
    "  --kv-type T        storage of the KV rows: f32 (default, exact), bf16, fp8 (e4m3 in blocks of 64\n" \
    "                     with power-of-two scales, RoPE dims bf16; indexer keys fp8 per key)\n" \
    "  --kv-index-type T  storage of the indexer keys only: f32, bf16, fp8 or fp4 (e2m1 in blocks of\n" \
    "                     32 with power-of-two scales after a Hadamard rotation, the official\n" \
    "                     storage: 68 bytes per 128-key; the queries are rounded alike); default\n" \
    "                     the --kv-type\n" \
    "  --act-q8           8-bit activations against Q2_K..Q6_K, IQ2_XXS, Q8_0 and MXFP4 weights\n" \
    "                     (integer dot products: faster, slightly less exact; default off,\n" \
    "                     docs/performance.md)\n"

#endif

