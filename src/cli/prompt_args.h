/* The options every model-running subcommand shares (-m, --ids, -t, --kv-type, --act) and the opening of the
 * model and a fresh sequence state from them. */
#ifndef CN_CLI_PROMPT_ARGS_H
#define CN_CLI_PROMPT_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <clawnet/clawnet.h>

/* --act: what the matrix products against weights with an integer dot (Q8_0, Q2_K..Q6_K, IQ2_XXS,
 * both MXFP4 layouts: tensor/q8_activations.h cn_q8_layout_of) take as input. The command line's
 * default is 8-bit (the zero value), as llama.cpp always does for these formats: about twice the
 * speed for a measured KL of 3-7e-4 nats on trained weights (docs/performance.md). The library's
 * cn_model_open stays on the exact f32 path, so what a program gets does not depend on this file.
 * Other formats (F32, BF16, F16, FP8) always take f32 activations. */
typedef enum { PROMPT_ACT_Q8 = 0, PROMPT_ACT_F32 } prompt_act;

/* --kv-type and --kv-index-type as given; prompt_kv_options resolves what was not. The command
 * line's default is FP8 rows (e4m3 non-RoPE dims in blocks of 64, RoPE dims bf16), the official
 * model's storage: 3.6x fewer bytes per token of context than f32 for a KL of 2e-4 to 1.2e-3 nats
 * on trained weights (docs/engine.md, Precision). The library's cn_model_state_init stays F32. */
typedef struct {
    cn_kv_type rows, index;
    bool rows_set, index_set;
} prompt_kv;

#define PROMPT_KV_DEFAULT_ROWS CN_KV_FP8

typedef struct {
    const char *command;  /* the subcommand, for error messages about the options ("" or NULL: none) */
    const char *model_path, *ids_text;
    int64_t threads;
    int32_t *ids; /* parsed by prompt_args_finish */
    int64_t n_ids;
    prompt_kv kv;       /* --kv-type, --kv-index-type */
    prompt_act act;     /* --act q8|f32 (default q8), or --act-q8 / --act-f32 */
} prompt_args;

/* Consumes argv[*i] (and its value) if it is a shared option. Returns 1 if consumed, 0 if
 * not one of ours, -1 after printing an error. */
int prompt_args_parse(prompt_args *a, int argc, char **argv, int *i);

/* Checks the required options and parses the ids; prints errors under `command`. */
bool prompt_args_finish(prompt_args *a, const char *command);

/* Opens the model (with --act applied) and an empty state; on failure prints the error and returns false. */
bool prompt_args_open(const prompt_args *a, const char *command, cn_model **model, cn_kv_state *state);

void prompt_args_free(prompt_args *a);

/* Consumes --act VALUE, --act-q8 or --act-f32 at argv[*i] (the last one given wins): 1 if
 * consumed, 0 if argv[*i] is none of them, -1 after printing an error under `command` (a value
 * other than q8 or f32). */
int prompt_args_parse_act(const char *command, int argc, char **argv, int *i, prompt_act *out);
/* "q8" or "f32": the spelling of --act, the bench and eval JSON's "activations". */
const char *prompt_act_name(prompt_act act);
/* Sets a just opened model's activations (cn_model_set_act_q8). */
void prompt_args_apply_act(cn_model *model, prompt_act act);

/* The name of the weights and activations a sequence state was computed with, beyond the shapes
 * and row encodings the state records itself: the model path as given to -m, then
 * " (activations q8)" under 8-bit activations, which compute other states than the exact path
 * (f32 keeps the bare path: the name of --kv-dir stores written before --act existed). The
 * --kv-dir store's fingerprint hashes it (serve); chat's session files record the same two parts,
 * -m and --act, as separate fields so a mismatch can name the flag to pass (cli/chat_session.h).
 * malloc'd; NULL when out of memory. */
char *prompt_model_identity(const char *model_path, prompt_act act);

/* Consumes --kv-type T (f32, bf16, fp8: fp4 is refused with a pointer to --kv-index-type) or
 * --kv-index-type T (f32, bf16, fp8, fp4) at argv[*i]: 1 if consumed, 0 if neither, -1 after
 * printing an error under `command`. */
int prompt_args_parse_kv(const char *command, int argc, char **argv, int *i, prompt_kv *kv);
/* The state encodings the options ask for: rows --kv-type (default PROMPT_KV_DEFAULT_ROWS),
 * indexer keys --kv-index-type if given, else the rows' type. */
cn_kv_options prompt_kv_options(const prompt_kv *kv);

#define PROMPT_ARGS_KV_TYPE_HELP \
    "  --kv-type T        storage of the KV rows: fp8 (default, the official model's: e4m3 in blocks\n" \
    "                     of 64 with power-of-two scales, RoPE dims bf16; indexer keys fp8 per key;\n" \
    "                     KL 2e-4 to 1.2e-3 nats against f32 on trained weights), bf16, or f32 (exact:\n" \
    "                     the oracle tests' path; 3.6x the bytes per token of context)\n" \
    "  --kv-index-type T  storage of the indexer keys only: f32, bf16, fp8 or fp4 (e2m1 in blocks of\n" \
    "                     32 with power-of-two scales after a Hadamard rotation, the official\n" \
    "                     storage: 68 bytes per 128-key; the queries are rounded alike); default\n" \
    "                     the --kv-type\n"

/* --act, in the 21-column layout of the commands above (bench and eval word it for themselves). */
#define PROMPT_ARGS_ACT_HELP \
    "  --act q8|f32       activations of the products with Q8_0, Q2_K..Q6_K, IQ2_XXS and MXFP4\n" \
    "                     weights. q8 (default): each token's input rounded to 8-bit integers per\n" \
    "                     block and multiplied by integer dot products, as llama.cpp does: about\n" \
    "                     2x the decode and prefill speed on such files, for a KL of 3-7e-4 nats\n" \
    "                     against f32 on trained weights (docs/performance.md). f32: float32\n" \
    "                     activations, the exact path the oracle tests check. F32, BF16, F16 and\n" \
    "                     FP8 weights always take f32. --act-q8, --act-f32: the same as --act q8/f32\n"

#endif

