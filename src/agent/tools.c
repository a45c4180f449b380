/* Built-in workspace file tools (tools.h). */
#include "agent/tools.h"

#include "agent/tool_text.h"
#include "agent/toolbox.h"
#include "text/unicode_utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_LIMIT (1u << 20)

static cn_status set_text(cn_tool_result *r, bool is_error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cn_status set_text(cn_tool_result *r, bool is_error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    r->content = malloc((size_t)n + 1);
    if (!r->content) return CN_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(r->content, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->is_error = is_error;
    return CN_OK;
}

static const char *arg_string(const cJSON *args, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void note_change(cn_tool_result *r, const char *path, const char *data, size_t len) {
    r->changed = true;
    snprintf(r->changed_path, sizeof r->changed_path, "%s", path);
    crypto_hash_sha256(r->changed_hash, (const unsigned char *)data, len);
}

/* The first byte that keeps data[0..len) from being UTF-8 text (a NUL or the start of an
 * ill-formed sequence, a character cut off by the end included); len if none. */
static size_t first_non_text(const char *data, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t n = 1;
        uint32_t cp = 0;
        if (cn_utf8_next((const uint8_t *)data + i, len - i, &n, &cp) != CN_UTF8_CHAR || cp == 0) return i;
        i += n;
    }
    return len;
}

/* len without a character cut off at the very end (a read that stopped at the limit). */
static size_t whole_characters(const char *data, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t n = 1;
        uint32_t cp = 0;
        if (cn_utf8_next((const uint8_t *)data + i, len - i, &n, &cp) == CN_UTF8_INCOMPLETE) break;
        i += n ? n : 1;
    }
    return i;
}

/* A UTF-8 text file read whole comes back as its text. Anything else comes back as a JSON object
 * (docs/agent.md, "Tools"), so the journal and the model's messages only ever hold valid UTF-8:
 *   {"path", "bytes": file size, "sha256" (of the whole file, when it was read whole),
 *    "binary": "a NUL byte at offset K: contents not shown"                 (no "content"), or
 *    "invalid_utf8": "ill-formed UTF-8 at offset K, shown as U+FFFD",      with "content", and/or
 *    "truncated": "the first N of M bytes (read_file reads at most L)",    with "content",
 *    "content": the text; a character cut by the limit is left out, ill-formed bytes are U+FFFD}. */
static cn_status tool_read_file(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r, cn_error *err) {
    (void)self;
    const cn_workspace *ws = env->ws;
    const char *path = arg_string(args, "path");
    char *data;
    size_t len;
    uint64_t size;
    cn_error e = {0};
    if (cn_workspace_read_prefix(ws, path, READ_LIMIT, &data, &len, &size, &e) != CN_OK)
        return set_text(r, true, "%s", e.msg);
    bool truncated = size > len;
    /* At the limit, a character cut in two is the read's doing, not the file's. */
    size_t shown = truncated ? whole_characters(data, len) : len;
    size_t bad = first_non_text(data, shown);
    /* Text has no NUL bytes; a file with one is binary wherever it is. */
    const char *nul = memchr(data, 0, len);
    if (!truncated && bad == len) {
        r->content = data;
        return CN_OK;
    }
    cJSON *o = cJSON_CreateObject();
    char note[200];
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "bytes", (double)size);
    if (!truncated) {
        unsigned char h[crypto_hash_sha256_BYTES];
        char hex[2 * sizeof h + 1];
        crypto_hash_sha256(h, (const unsigned char *)data, len);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        cJSON_AddStringToObject(o, "sha256", hex);
    }
    if (nul) {
        snprintf(note, sizeof note, "a NUL byte at offset %zu: binary file, contents not shown", (size_t)(nul - data));
        cJSON_AddStringToObject(o, "binary", note);
    } else {
        if (bad < shown) {
            snprintf(note, sizeof note, "ill-formed UTF-8 at offset %zu; such bytes are shown as U+FFFD", bad);
            cJSON_AddStringToObject(o, "invalid_utf8", note);
        }
        if (truncated) {
            snprintf(note, sizeof note, "the first %zu of %llu bytes (read_file reads at most %u)", shown,
                     (unsigned long long)size, READ_LIMIT);
            cJSON_AddStringToObject(o, "truncated", note);
        }
        char *text = cn_tool_text_lossy(data, shown);
        if (!text) {
            free(data);
            cJSON_Delete(o);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        }
        cJSON_AddStringToObject(o, "content", text);
        free(text);
    }
    free(data);
    r->content = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return r->content ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

static cn_status tool_write_file(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r, cn_error *err) {
    (void)self;
    const cn_workspace *ws = env->ws;
    const char *path = arg_string(args, "path"), *content = arg_string(args, "content");
    size_t len = strlen(content);
    cn_error e = {0};
    if (cn_workspace_write(ws, path, content, len, &e) != CN_OK) return set_text(r, true, "%s", e.msg);
    note_change(r, path, content, len);
    return set_text(r, false, "wrote %zu bytes to %s", len, path);
}

static cn_status tool_edit_file(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r, cn_error *err) {
    (void)self;
    const cn_workspace *ws = env->ws;
    const char *path = arg_string(args, "path"), *old = arg_string(args, "old_string"),
               *new = arg_string(args, "new_string");
    if (!old[0]) return set_text(r, true, "old_string must not be empty");
    char *data;
    size_t len;
    cn_error e = {0};
    if (cn_workspace_read(ws, path, READ_LIMIT, &data, &len, &e) != CN_OK) return set_text(r, true, "%s", e.msg);
    size_t old_len = strlen(old), new_len = strlen(new), count = 0;
    const char *at = NULL;
    for (const char *p = strstr(data, old); p; p = strstr(p + 1, old)) {
        if (!count) at = p;
        count++;
    }
    if (count != 1) {
        free(data);
        return set_text(r, true, "old_string occurs %zu times in %s; it must occur exactly once", count, path);
    }
    size_t prefix = (size_t)(at - data), out_len = len - old_len + new_len;
    char *out = malloc(out_len + 1);
    if (!out) {
        free(data);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    memcpy(out, data, prefix);
    memcpy(out + prefix, new, new_len);
    memcpy(out + prefix + new_len, at + old_len, len - prefix - old_len);
    out[out_len] = 0;
    free(data);
    cn_status s = cn_workspace_write(ws, path, out, out_len, &e);
    if (s == CN_OK) note_change(r, path, out, out_len);
    free(out);
    if (s != CN_OK) return set_text(r, true, "%s", e.msg);
    return set_text(r, false, "replaced 1 occurrence in %s", path);
}

static cn_status tool_list_dir(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r, cn_error *err) {
    (void)self;
    const cn_workspace *ws = env->ws;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(args, "path");
    char *listing;
    cn_error e = {0};
    if (cn_workspace_list(ws, cJSON_IsString(p) ? p->valuestring : ".", &listing, &e) != CN_OK)
        return set_text(r, true, "%s", e.msg);
    r->content = listing;
    return CN_OK;
}

/* Appends one line and fsyncs: not idempotent (running it twice leaves two lines), so the crash
 * tests use it to count executions. The file's new content hash is its progress. */
static cn_status tool_append_line(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r, cn_error *err) {
    (void)self;
    const cn_workspace *ws = env->ws;
    const char *path = arg_string(args, "path"), *line = arg_string(args, "line");
    if (strchr(line, '\n')) return set_text(r, true, "line must not contain a newline");
    size_t len = strlen(line);
    char *buf = malloc(len + 2);
    if (!buf) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    memcpy(buf, line, len);
    buf[len] = '\n';
    cn_error e = {0};
    cn_status s = cn_workspace_append(ws, path, buf, len + 1, &e);
    free(buf);
    if (s != CN_OK) return set_text(r, true, "%s", e.msg);
    char *data;
    size_t data_len;
    if (cn_workspace_read(ws, path, 64u << 20, &data, &data_len, &e) == CN_OK) {
        note_change(r, path, data, data_len);
        free(data);
    }
    return set_text(r, false, "appended 1 line to %s", path);
}

static const struct {
    const char *name, *description, *parameters;
    cn_tool_class cls;
    cn_tool_run_fn run;
} file_tools[] = {
    {"read_file",
     "Read a UTF-8 text file in the workspace (its first 1 MiB). A file that is not UTF-8 text or is larger comes "
     "back as a JSON object: path, bytes, sha256, binary / invalid_utf8 / truncated notes, content.",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"relative to the workspace\"}},"
     "\"required\":[\"path\"],\"additionalProperties\":false}",
     CN_TOOL_READ_ONLY, tool_read_file},
    {"write_file", "Create or replace a file in the workspace with the given content (parent directories are created).",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}},"
     "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
     CN_TOOL_IDEMPOTENT, tool_write_file},
    {"edit_file", "Replace the one occurrence of old_string in a workspace file with new_string.",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"old_string\":{\"type\":\"string\"},"
     "\"new_string\":{\"type\":\"string\"}},\"required\":[\"path\",\"old_string\",\"new_string\"],"
     "\"additionalProperties\":false}",
     CN_TOOL_SIDE_EFFECT, tool_edit_file},
    {"list_dir", "List a directory of the workspace (directories end with /).",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     CN_TOOL_READ_ONLY, tool_list_dir},
    {"append_line", "Append one line of text to a file in the workspace.",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"line\":{\"type\":\"string\"}},"
     "\"required\":[\"path\",\"line\"],\"additionalProperties\":false}",
     CN_TOOL_SIDE_EFFECT, tool_append_line},
};

cn_status cn_tools_add_files(cn_toolbox *tb, cn_error *err) {
    for (size_t i = 0; i < sizeof file_tools / sizeof file_tools[0]; i++) {
        cn_status s = cn_toolbox_add(tb, file_tools[i].name, file_tools[i].description, file_tools[i].parameters,
                                     file_tools[i].cls, file_tools[i].run, NULL, err);
        if (s != CN_OK) return s;
    }
    return CN_OK;
}

const char *cn_tool_class_name(cn_tool_class cls) {
    return cls == CN_TOOL_READ_ONLY ? "read_only" : cls == CN_TOOL_IDEMPOTENT ? "idempotent" : "side_effect";
}

void cn_tool_result_free(cn_tool_result *r) {
    free(r->content);
    r->content = NULL;
}
