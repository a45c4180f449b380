/* OpenAI chat-completions client over libcurl (model_client.h). */
#include "agent/model_client.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
    size_t limit;
} grow_buffer;

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *ctx) {
    grow_buffer *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->limit) return 0; /* aborts the transfer: reply too large */
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

void cn_model_reply_free(cn_model_reply *r) {
    if (!r) return;
    free(r->message_json);
    free(r->content);
    free(r->reasoning);
    free(r->finish_reason);
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].arguments);
        free(r->calls[i].arguments_error);
    }
    free(r->calls);
    memset(r, 0, sizeof *r);
}

static cn_status parse_tool_call(const cJSON *tc, size_t i, cn_model_tool_call *out, cn_error *err) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(tc, "type");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    if (!cJSON_IsObject(tc)) return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu] is not an object", i);
    if (!cJSON_IsString(id) || !id->valuestring[0])
        return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu].id is missing or not a non-empty string", i);
    if (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "function")))
        return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu].type must be \"function\"", i);
    if (!cJSON_IsObject(fn)) return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu].function is missing", i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu].function.name is missing or empty", i);
    if (!cJSON_IsString(args))
        return cn_fail(err, CN_ERR_FORMAT, "tool_calls[%zu].function.arguments must be a JSON string (section 3.6)", i);
    out->id = strdup(id->valuestring);
    out->name = strdup(name->valuestring);
    out->arguments = strdup(args->valuestring);
    if (!out->id || !out->name || !out->arguments) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    /* Arguments that do not decode to an object are the model's mistake, not the transport's:
     * the run answers them with a structured error instead of executing. */
    cJSON *parsed = cJSON_Parse(args->valuestring);
    if (!parsed || !cJSON_IsObject(parsed)) {
        char msg[200];
        snprintf(msg, sizeof msg, "arguments of %s are not a JSON object string: %.80s", name->valuestring,
                 args->valuestring);
        out->arguments_error = strdup(msg);
    }
    cJSON_Delete(parsed);
    return CN_OK;
}

cn_status cn_model_reply_parse(const char *json, size_t len, cn_model_reply *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return cn_fail(err, CN_ERR_FORMAT, "model reply is not JSON: %.120s", json);
    cn_status s = CN_OK;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = choice ? cJSON_GetObjectItemCaseSensitive(choice, "message") : NULL;
    if (!cJSON_IsObject(msg)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
        s = cn_fail(err, CN_ERR_FORMAT, "model reply has no choices[0].message%s%s", cJSON_IsString(m) ? ": " : "",
                    cJSON_IsString(m) ? m->valuestring : "");
        goto done;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content");
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (content && !cJSON_IsNull(content) && !cJSON_IsString(content)) {
        s = cn_fail(err, CN_ERR_FORMAT, "model reply: message.content must be a string or null");
        goto done;
    }
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls)) {
        s = cn_fail(err, CN_ERR_FORMAT, "model reply: message.tool_calls must be an array");
        goto done;
    }
    out->content = cJSON_IsString(content) ? strdup(content->valuestring) : NULL;
    out->reasoning = cJSON_IsString(reasoning) ? strdup(reasoning->valuestring) : NULL;
    out->finish_reason = cJSON_IsString(finish) ? strdup(finish->valuestring) : NULL;
    size_t n = cJSON_IsArray(calls) ? (size_t)cJSON_GetArraySize(calls) : 0;
    if (n) {
        out->calls = calloc(n, sizeof *out->calls);
        if (!out->calls) {
            s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
            goto done;
        }
        out->n_calls = n;
        for (size_t i = 0; i < n && s == CN_OK; i++) s = parse_tool_call(cJSON_GetArrayItem(calls, (int)i), i, &out->calls[i], err);
        if (s != CN_OK) {
            cn_error_prefix(err, "model reply");
            goto done;
        }
    }
    /* The message as it goes back into the conversation: role, content, reasoning, tool calls. */
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (out->content) cJSON_AddStringToObject(m, "content", out->content);
    else cJSON_AddNullToObject(m, "content");
    if (out->reasoning) cJSON_AddStringToObject(m, "reasoning_content", out->reasoning);
    if (n) cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(calls, true));
    out->message_json = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *pt = usage ? cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens") : NULL;
    const cJSON *ct = usage ? cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens") : NULL;
    out->prompt_tokens = cJSON_IsNumber(pt) && pt->valuedouble >= 0 ? (int64_t)pt->valuedouble : 0;
    out->completion_tokens = cJSON_IsNumber(ct) && ct->valuedouble >= 0 ? (int64_t)ct->valuedouble : 0;
    out->usage_reported = cJSON_IsNumber(pt) || cJSON_IsNumber(ct);
    if (!out->message_json) s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
done:
    cJSON_Delete(root);
    if (s != CN_OK) cn_model_reply_free(out);
    return s;
}

cn_status cn_model_chat(const cn_model_client_config *cfg, const char *body, size_t body_len, cn_model_reply *out,
                        cn_error *err) {
    memset(out, 0, sizeof *out);
    CURL *curl = curl_easy_init();
    if (!curl) return cn_fail(err, CN_ERR_NOMEM, "model client: curl_easy_init failed");
    char url[2048];
    size_t base_len = strlen(cfg->base_url);
    while (base_len && cfg->base_url[base_len - 1] == '/') base_len--;
    snprintf(url, sizeof url, "%.*s/chat/completions", (int)base_len, cfg->base_url);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024];
    if (cfg->api_key && cfg->api_key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
        headers = curl_slist_append(headers, auth);
    }
    grow_buffer reply = {.limit = 64u << 20};
    char curl_msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, cfg->timeout_s > 0 ? cfg->timeout_s : 600L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_msg);
    CURLcode rc = curl_easy_perform(curl);
    long http_status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    memset(auth, 0, sizeof auth);
    cn_status s;
    if (rc != CURLE_OK) {
        s = cn_fail(err, CN_ERR_IO, "model request to %s failed: %s", url, curl_msg[0] ? curl_msg : curl_easy_strerror(rc));
    } else if (http_status < 200 || http_status > 299) {
        s = cn_fail(err, CN_ERR_IO, "model request to %s: HTTP %ld: %.300s", url, http_status,
                    reply.data ? reply.data : "(empty body)");
    } else {
        s = cn_model_reply_parse(reply.data ? reply.data : "", reply.len, out, err);
    }
    free(reply.data);
    return s;
}
