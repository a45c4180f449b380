#include "cli/chat_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Format 02 added the identity record; 01 files are read without it. */
static const char SESSION_MAGIC[8] = {'C', 'N', 'C', 'H', 'A', 'T', '0', '2'};
static const char SESSION_MAGIC_01[8] = {'C', 'N', 'C', 'H', 'A', 'T', '0', '1'};

static cJSON *new_conversation(const char *system) {
    cJSON *messages = cJSON_CreateArray();
    if (!messages || !system) return messages;
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", "system") || !cJSON_AddStringToObject(m, "content", system)) {
        cJSON_Delete(m);
        cJSON_Delete(messages);
        return NULL;
    }
    cJSON_AddItemToArray(messages, m);
    return messages;
}

cn_status chat_session_init(chat_session *s, const cn_model *model, const char *system,
                            const chat_session_identity *identity, cn_error *err) {
    memset(s, 0, sizeof *s);
    s->identity = *identity;
    if (!(s->messages = new_conversation(system))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    return cn_model_state_init_opts(model, &s->state, &identity->kv, err);
}

void chat_session_free(chat_session *s) {
    cJSON_Delete(s->messages);
    cn_kv_state_free(&s->state);
    free(s->ids);
    memset(s, 0, sizeof *s);
}

cn_status chat_session_reset(chat_session *s, const char *system, cn_error *err) {
    cJSON *messages = new_conversation(system);
    if (!messages) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cJSON_Delete(s->messages);
    s->messages = messages;
    cn_kv_state_reset(&s->state);
    s->n_ids = 0;
    return CN_OK;
}

cn_status chat_session_append(chat_session *s, const char *role, const char *content, const char *reasoning,
                              cn_error *err) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) || !cJSON_AddStringToObject(m, "content", content) ||
        (reasoning && !cJSON_AddStringToObject(m, "reasoning", reasoning))) {
        cJSON_Delete(m);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToArray(s->messages, m);
    return CN_OK;
}

void chat_session_pop(chat_session *s) {
    int n = cJSON_GetArraySize(s->messages);
    if (n > 0) cJSON_DeleteItemFromArray(s->messages, n - 1);
}

size_t chat_session_reuse(chat_session *s, const int32_t *prompt, size_t n) {
    if (s->n_ids > 0 && s->n_ids < n && (int64_t)s->n_ids == s->state.n_tokens &&
        !memcmp(s->ids, prompt, s->n_ids * sizeof *prompt))
        return s->n_ids;
    cn_kv_state_reset(&s->state);
    s->n_ids = 0;
    return 0;
}

cn_status chat_session_record(chat_session *s, const int32_t *ids, size_t n, cn_error *err) {
    if (s->n_ids + n > s->ids_capacity) {
        size_t capacity = s->ids_capacity ? s->ids_capacity : 1024;
        while (capacity < s->n_ids + n) capacity *= 2;
        int32_t *grown = realloc(s->ids, capacity * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %zu ids", capacity);
        s->ids = grown;
        s->ids_capacity = capacity;
    }
    if (n) memcpy(s->ids + s->n_ids, ids, n * sizeof *ids);
    s->n_ids += n;
    return CN_OK;
}

/* FNV-1a over the file: catches truncation and damage (the state carries its own checksum too). */
static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    uint8_t *data;
    size_t size, capacity;
} byte_buffer;

static bool put(byte_buffer *b, const void *p, size_t n) {
    if (b->size + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->size + n) capacity *= 2;
        uint8_t *grown = realloc(b->data, capacity);
        if (!grown) return false;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
    return true;
}

static bool put_u64(byte_buffer *b, uint64_t v) { return put(b, &v, sizeof v); }

/* The identity record: a JSON object, so a reader can show it and later fields can be added. */
static char *identity_json(const chat_session_identity *id) {
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "model", id->model_path) &&
        cJSON_AddStringToObject(o, "act", prompt_act_name(id->act)) &&
        cJSON_AddStringToObject(o, "kv_type", cn_kv_type_name(id->kv.rows)) &&
        cJSON_AddStringToObject(o, "kv_index_type", cn_kv_type_name(id->kv.index)))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static const char *string_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The saved record as strings (pointing into *o), each field present and a known value. */
typedef struct {
    const char *model, *act, *kv_type, *kv_index_type;
} saved_identity;

static bool parse_identity(const uint8_t *text, size_t len, cJSON **o, saved_identity *id) {
    cn_error ignored = {0};
    cn_kv_type t;
    if (cn_chat_json_parse((const char *)text, len, o, &ignored) != CN_OK || !cJSON_IsObject(*o)) return false;
    id->model = string_field(*o, "model");
    id->act = string_field(*o, "act");
    id->kv_type = string_field(*o, "kv_type");
    id->kv_index_type = string_field(*o, "kv_index_type");
    return id->model && id->act && id->kv_type && id->kv_index_type &&
           (!strcmp(id->act, "q8") || !strcmp(id->act, "f32")) && cn_kv_type_parse(id->kv_type, &t) &&
           cn_kv_type_parse(id->kv_index_type, &t);
}

typedef struct {
    char *p;
    size_t left;
} text_out;

static void text_add(text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text_out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p, o->left, fmt, ap);
    va_end(ap);
    if (n < 0 || !o->left) return;
    size_t used = (size_t)n < o->left ? (size_t)n : o->left - 1;
    o->p += used;
    o->left -= used;
}

/* CN_OK when the saved record equals the running chat's; else an error naming, for each differing
 * field, the saved and the current value, and the flags that would make them equal. */
static cn_status check_identity(const saved_identity *saved, const chat_session_identity *now, const char *path,
                                cn_error *err) {
    const struct {
        const char *flag, *saved, *now;
    } fields[] = {
        {"-m", saved->model, now->model_path},
        {"--act", saved->act, prompt_act_name(now->act)},
        {"--kv-type", saved->kv_type, cn_kv_type_name(now->kv.rows)},
        {"--kv-index-type", saved->kv_index_type, cn_kv_type_name(now->kv.index)},
    };
    char differences[640] = "", flags[640] = "";
    text_out d = {differences, sizeof differences}, f = {flags, sizeof flags};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!strcmp(fields[i].saved, fields[i].now)) continue;
        text_add(&d, "%ssession was saved with %s %s; this chat runs %s", d.p == differences ? "" : "; ",
                 fields[i].flag, fields[i].saved, fields[i].now);
        text_add(&f, " %s %s", fields[i].flag, fields[i].saved);
    }
    if (d.p == differences) return CN_OK;
    return cn_fail(err, CN_ERR_ARG, "%s was saved under other settings (nothing loaded): %s: restart chat with%s to load it",
                   path, differences, flags);
}

cn_status chat_session_save(const chat_session *s, uint64_t rng_state, const char *path, cn_error *err) {
    char *json = cJSON_PrintUnformatted(s->messages), *identity = identity_json(&s->identity);
    uint8_t *kv = NULL;
    size_t kv_size = 0;
    byte_buffer b = {0};
    cn_status st = CN_OK;
    if (!json || !identity) {
        st = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = cn_kv_state_serialize(&s->state, &kv, &kv_size, err))) goto done;
    size_t json_len = strlen(json), identity_len = strlen(identity);
    if (!put(&b, SESSION_MAGIC, sizeof SESSION_MAGIC) || !put_u64(&b, identity_len) ||
        !put(&b, identity, identity_len) || !put_u64(&b, json_len) || !put(&b, json, json_len) ||
        !put_u64(&b, s->n_ids) || !put(&b, s->ids, s->n_ids * sizeof *s->ids) || !put_u64(&b, rng_state) ||
        !put_u64(&b, kv_size) || !put(&b, kv, kv_size) || !put_u64(&b, fnv1a(b.data, b.size))) {
        st = cn_fail(err, CN_ERR_NOMEM, "out of memory for the session file");
        goto done;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = cn_fail(err, CN_ERR_IO, "cannot write %s", path);
        goto done;
    }
    bool ok = fwrite(b.data, 1, b.size, f) == b.size;
    if (fclose(f) != 0) ok = false;
    if (!ok) st = cn_fail(err, CN_ERR_IO, "writing %s failed", path);
done:
    free(json);
    free(identity);
    free(kv);
    free(b.data);
    return st;
}

typedef struct {
    const uint8_t *data;
    size_t size, at;
} byte_reader;

static const uint8_t *take(byte_reader *r, uint64_t n) {
    if (n > r->size - r->at) return NULL;
    const uint8_t *p = r->data + r->at;
    r->at += (size_t)n;
    return p;
}

static bool take_u64(byte_reader *r, uint64_t *v) {
    const uint8_t *p = take(r, sizeof *v);
    if (p) memcpy(v, p, sizeof *v);
    return p != NULL;
}

static cn_status read_whole_file(const char *path, uint8_t **out, size_t *size, cn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return cn_fail(err, CN_ERR_IO, "cannot open %s", path);
    byte_buffer b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (!put(&b, chunk, n)) {
            fclose(f);
            free(b.data);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory reading %s", path);
        }
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(b.data);
        return cn_fail(err, CN_ERR_IO, "reading %s failed", path);
    }
    *out = b.data;
    *size = b.size;
    return CN_OK;
}

cn_status chat_session_load(chat_session *s, const cn_model *model, uint64_t *rng_state, int *format,
                            const char *path, cn_error *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    cn_status st = read_whole_file(path, &data, &size, err);
    if (st) return st;
    cJSON *messages = NULL, *identity = NULL;
    int32_t *ids = NULL;
    cn_kv_state state = {0};
    byte_reader r = {data, size, 0};
    uint64_t identity_len, json_len, n_ids, rng, kv_size;
    const uint8_t *magic, *identity_text, *json, *id_bytes, *kv;
    saved_identity saved;
#define BAD(reason)                                                                              \
    do {                                                                                         \
        st = cn_fail(err, CN_ERR_FORMAT, "%s is not a usable chat session: %s", path, reason); \
        goto done;                                                                               \
    } while (0)
    if (size < sizeof SESSION_MAGIC + 8) BAD("too short");
    uint64_t stored;
    memcpy(&stored, data + size - 8, 8);
    if (!(magic = take(&r, sizeof SESSION_MAGIC))) BAD("too short");
    const bool v1 = !memcmp(magic, SESSION_MAGIC_01, sizeof SESSION_MAGIC_01);
    if (!v1 && memcmp(magic, SESSION_MAGIC, sizeof SESSION_MAGIC)) {
        if (!memcmp(magic, SESSION_MAGIC, 6)) {
            st = cn_fail(err, CN_ERR_FORMAT, "%s is chat session format %.2s; this build reads formats 01 and 02", path,
                         (const char *)magic + 6);
            goto done;
        }
        BAD("wrong magic (not written by /save)");
    }
    if (fnv1a(data, size - 8) != stored) BAD("checksum mismatch (damaged or truncated)");
    r.size = size - 8;
    if (!v1) {
        if (!take_u64(&r, &identity_len) || !(identity_text = take(&r, identity_len))) BAD("bad section lengths");
        if (!parse_identity(identity_text, (size_t)identity_len, &identity, &saved))
            BAD("its identity record (model, --act, --kv-type, --kv-index-type) is damaged");
        if ((st = check_identity(&saved, &s->identity, path, err))) goto done;
    }
    if (!take_u64(&r, &json_len) || !(json = take(&r, json_len)) || !take_u64(&r, &n_ids) ||
        n_ids > SIZE_MAX / sizeof(int32_t) || !(id_bytes = take(&r, n_ids * sizeof(int32_t))) ||
        !take_u64(&r, &rng) || !take_u64(&r, &kv_size) || !(kv = take(&r, kv_size)) || r.at != r.size)
        BAD("bad section lengths");
    if (cn_chat_json_parse((const char *)json, (size_t)json_len, &messages, err) != CN_OK || !cJSON_IsArray(messages))
        BAD("the conversation is not a JSON array");
    if (n_ids && !(ids = malloc((size_t)n_ids * sizeof *ids))) {
        st = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (n_ids) memcpy(ids, id_bytes, (size_t)n_ids * sizeof *ids);
    for (uint64_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= model->cfg->vocab_size) BAD("a token id outside this model's vocabulary");
    if ((st = cn_model_state_init_opts(model, &state, &s->identity.kv, err))) goto done;
    if (cn_kv_state_deserialize(&state, kv, (size_t)kv_size, err) != CN_OK) {
        /* A format 01 file says nothing of its settings; the state's own error names its row types. */
        st = cn_error_prefix(err, v1 ? "%s predates identity records (format 01) and its sequence state does not fit "
                                       "this chat; restart chat with the --kv-type or --kv-index-type it names"
                                     : "%s is not a usable chat session: its sequence state does not fit this model",
                             path);
        goto done;
    }
    if ((uint64_t)state.n_tokens != n_ids) BAD("the state and the ids disagree in length");
    /* Everything checked: replace the session. */
    cJSON_Delete(s->messages);
    s->messages = messages;
    messages = NULL;
    cn_kv_state_free(&s->state);
    s->state = state;
    memset(&state, 0, sizeof state);
    free(s->ids);
    s->ids = ids;
    s->n_ids = s->ids_capacity = (size_t)n_ids;
    ids = NULL;
    *rng_state = rng;
    *format = v1 ? 1 : 2;
#undef BAD
done:
    cJSON_Delete(messages);
    cJSON_Delete(identity);
    free(ids);
    cn_kv_state_free(&state);
    free(data);
    return st;
}
