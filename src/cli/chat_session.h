/* One `clawnet chat` conversation: the messages (cJSON, as the chat encoder takes them), the
 * sequence state and the ids it holds (for prefix reuse), and the session file that /save writes
 * and /load reads back. */
#ifndef CN_CLI_CHAT_SESSION_H
#define CN_CLI_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clawnet/clawnet.h>

#include "cli/prompt_args.h"

/* What produced a session's state besides its shapes: the weights and activations (-m and --act,
 * the two parts of prompt_model_identity, the --kv-dir store's name for them) and the row
 * encodings (--kv-type, --kv-index-type). /save records it; /load refuses a file whose record
 * differs from the running chat's, naming each field. */
typedef struct {
    const char *model_path; /* as given to -m; not copied */
    prompt_act act;
    cn_kv_options kv;
} chat_session_identity;

typedef struct {
    cJSON *messages;   /* array of {"role", "content", ...} */
    cn_kv_state state; /* positions 0..state.n_tokens-1 hold ids[0..n_ids); rows stored as identity.kv */
    int32_t *ids;
    size_t n_ids, ids_capacity;
    chat_session_identity identity;
} chat_session;

/* An empty conversation (with a system message when system is not NULL) and an empty state whose
 * rows are stored as identity->kv says. /load keeps the identity. */
cn_status chat_session_init(chat_session *s, const cn_model *model, const char *system,
                            const chat_session_identity *identity, cn_error *err);
void chat_session_free(chat_session *s);

/* Back to an empty conversation (keeping the system message, if given) and an empty state. */
cn_status chat_session_reset(chat_session *s, const char *system, cn_error *err);

/* Appends {"role": role, "content": content} (and "reasoning" when not NULL). */
cn_status chat_session_append(chat_session *s, const char *role, const char *content, const char *reasoning,
                              cn_error *err);
/* Removes the last message (a turn that failed). */
void chat_session_pop(chat_session *s);

/* How many leading ids of the new prompt are already in the state: all of the state's ids when
 * they are a proper prefix of the prompt, else 0 (and the state is reset: it cannot be cut back). */
size_t chat_session_reuse(chat_session *s, const int32_t *prompt, size_t n);

/* Records ids as fed into the state after the reused prefix. */
cn_status chat_session_record(chat_session *s, const int32_t *ids, size_t n, cn_error *err);

/* The session file (docs/engine.md, Chat sessions), all integers u64 in host byte order:
 *   "CNCHAT02" | identity length | identity JSON {"model", "act", "kv_type", "kv_index_type"} |
 *   conversation length | conversation JSON | id count | ids (i32) | sampler random state |
 *   state length | serialised sequence state (kv/state.h) | FNV-1a 64 of everything before.
 * Every part is validated on load: the identity against the running chat's (a mismatch names each
 * differing field, its saved and current value and the flag to restart with), the state's shapes
 * against this model, the ids against its vocabulary and the state's length. On any error the
 * session is unchanged. Format 01 files (no identity record) are loaded when their state fits, as
 * *format 1: the caller says that their model and --act could not be checked. */
cn_status chat_session_save(const chat_session *s, uint64_t rng_state, const char *path, cn_error *err);
cn_status chat_session_load(chat_session *s, const cn_model *model, uint64_t *rng_state, int *format,
                            const char *path, cn_error *err);

#endif
