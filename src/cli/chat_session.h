/* One `clawnet chat` conversation: the messages (cJSON, as the chat encoder takes them), the
 * sequence state and the ids it holds (for prefix reuse), and the session file that /save writes
 * and /load reads back. */
#ifndef CN_CLI_CHAT_SESSION_H
#define CN_CLI_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clawnet/clawnet.h>

typedef struct {
    cJSON *messages;   /* array of {"role", "content", ...} */
    cn_kv_state state; /* positions 0..state.n_tokens-1 hold ids[0..n_ids) */
    int32_t *ids;
    size_t n_ids, ids_capacity;
} chat_session;

/* An empty conversation (with a system message when system is not NULL) and an empty state whose
 * rows are stored as `kv` says (NULL: f32). /load keeps the session's storage type. */
cn_status chat_session_init(chat_session *s, const cn_model *model, const char *system, const cn_kv_options *kv,
                            cn_error *err);
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

/* The session file: magic, the conversation JSON, the ids, the sampler's random state and the
 * serialised sequence state, with a checksum; every part is validated on load (the state's shapes
 * against this model, the ids against its vocabulary and the state's length). */
cn_status chat_session_save(const chat_session *s, uint64_t rng_state, const char *path, cn_error *err);
cn_status chat_session_load(chat_session *s, const cn_model *model, uint64_t *rng_state, const char *path,
                            cn_error *err);

#endif
