/* The options every model-running subcommand shares (-m, --ids, -t) and the opening of the
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
} prompt_args;

/* Consumes argv[*i] (and its value) if it is a shared option. Returns 1 if consumed, 0 if
 * not one of ours, -1 after printing an error. */
int prompt_args_parse(prompt_args *a, int argc, char **argv, int *i);

/* Checks the required options and parses the ids; prints errors under `command`. */
bool prompt_args_finish(prompt_args *a, const char *command);

/* Opens the model and an empty state; on failure prints the error and returns false. */
bool prompt_args_open(const prompt_args *a, const char *command, cn_model **model, cn_kv_state *state);

void prompt_args_free(prompt_args *a);

#endif

