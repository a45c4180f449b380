#include "serve/chat_request.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

cn_status serve_chat_request_init(serve_chat_request *r, cn_error *err) {
    memset(r, 0, sizeof *r);
    r->sampling.temperature = 1.0f;
    r->sampling.top_p = 1.0f;
    /* OpenAI's requests without a seed are not reproducible; a fixed default would make them so. */
    if (getrandom(&r->sampling.seed, sizeof r->sampling.seed, 0) != (ssize_t)sizeof r->sampling.seed)
        return cn_fail(err, CN_ERR_IO, "getrandom failed while choosing a seed");
    return CN_OK;
}

void serve_chat_request_free(serve_chat_request *r) {
    if (!r) return;
    cJSON_Delete(r->messages);
    cJSON_Delete(r->tools);
    cJSON_Delete(r->response_schema);
    free(r->tool_choice_name);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

cn_status serve_chat_request_add_stop(serve_chat_request *r, const char *stop, cn_error *err) {
    size_t n = strlen(stop);
    if (n == 0) return cn_fail(err, CN_ERR_ARG, "a stop string must not be empty");
    if (n > SERVE_CHAT_MAX_STOP_BYTES)
        return cn_fail(err, CN_ERR_ARG, "a stop string may have at most %d bytes (got %zu)", SERVE_CHAT_MAX_STOP_BYTES, n);
    if (r->n_stop == SERVE_CHAT_MAX_STOP)
        return cn_fail(err, CN_ERR_ARG, "at most %d stop strings are supported", SERVE_CHAT_MAX_STOP);
    if (!(r->stop[r->n_stop] = strdup(stop))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    r->n_stop++;
    return CN_OK;
}

cn_status serve_chat_request_set_effort(serve_chat_request *r, const char *name, cn_error *err) {
    static const struct {
        const char *name;
        bool thinking;
        cn_chat_effort effort;
    } table[] = {
        {"none", false, CN_CHAT_EFFORT_DEFAULT}, {"minimal", true, CN_CHAT_EFFORT_LOW},
        {"low", true, CN_CHAT_EFFORT_LOW},       {"medium", true, CN_CHAT_EFFORT_LOW},
        {"high", true, CN_CHAT_EFFORT_HIGH},     {"xhigh", true, CN_CHAT_EFFORT_HIGH},
        {"max", true, CN_CHAT_EFFORT_MAX},
    };
    for (size_t i = 0; name && i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0) {
            r->thinking = table[i].thinking;
            r->effort = table[i].effort;
            return CN_OK;
        }
    return cn_fail(err, CN_ERR_ARG, "reasoning_effort \"%.40s\" is not one of none, minimal, low, medium, high, xhigh, max",
                   name ? name : "(null)");
}

const cJSON *serve_chat_request_find_tool(const serve_chat_request *r, const char *name) {
    for (const cJSON *tool = r->tools ? r->tools->child : NULL; tool; tool = tool->next) {
        const cJSON *tool_name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tool, "function"), "name");
        if (cJSON_IsString(tool_name) && strcmp(tool_name->valuestring, name) == 0) return tool;
    }
    return NULL;
}
