/* What `run` and `chat` share once a prompt is token ids: the tokenizer beside the model, feeding
 * new ids into a sequence state in bounded chunks, sampling until EOS or a limit, and the
 * statistics line. */
#ifndef CN_CLI_GENERATE_H
#define CN_CLI_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include <clawnet/clawnet.h>

/* Loads --tokenizer PATH (a tokenizer.json or a directory holding one) or, without it,
 * MODEL/tokenizer.json, and refuses a tokenizer with more ids than the model's vocabulary (a
 * tokenizer from another model). Prints the error under `command` and returns NULL on failure. */
cn_tokenizer *cli_tokenizer_open(const char *tokenizer_path, const char *model_path, const cn_model *model,
                                 const char *command);

typedef struct {
    int64_t prompt_tokens; /* the whole prompt */
    int64_t prefilled;     /* of which fed now (fewer when a cached prefix was reused) */
    double prefill_seconds;
    int64_t generated;
    double decode_seconds;
    bool stopped_at_eos;
} cli_generation_stats;

/* Called with each sampled id as it is produced; returning false stops generation (an error in
 * err, or CN_OK in err->code to just stop). */
typedef bool (*cli_token_fn)(void *context, int32_t id, cn_error *err);

typedef struct {
    cn_model *model;
    cn_kv_state *state;
    cn_sampler *sampler;
    int64_t max_new_tokens;
    bool stop_at_eos;
    cli_token_fn on_token;
    void *context;
} cli_generation;

/* Feeds ids[0..n) (n >= 1) at the state's current position, then samples up to max_new_tokens
 * ids, feeding each but the last back. The last sampled id (EOS or the one at the limit) is
 * never fed: the state then holds state->n_tokens = before + n + generated - 1 positions. */
cn_status cli_generate(const cli_generation *g, const int32_t *ids, int64_t n, cli_generation_stats *stats,
                       cn_error *err);

/* "prompt: N tokens (M prefilled, X tok/s); generated: K tokens (Y tok/s)" on stderr. */
void cli_print_stats(const cli_generation_stats *stats);

#endif
