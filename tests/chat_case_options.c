#include "chat_case_options.h"

#include <string.h>

bool cn_test_chat_options(const cJSON *json, cn_chat_options *o) {
    memset(o, 0, sizeof *o);
    const cJSON *v;
    o->thinking = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "thinking"));
    o->tools = cJSON_GetObjectItemCaseSensitive(json, "tools");
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "drop_thinking")) && cJSON_IsFalse(v)) o->keep_reasoning = true;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "add_bos")) && cJSON_IsFalse(v)) o->omit_bos = true;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "add_generation_prompt")) && cJSON_IsFalse(v))
        o->omit_generation_prompt = true;
    v = cJSON_GetObjectItemCaseSensitive(json, "reasoning_effort");
    if (cJSON_IsString(v)) return cn_chat_effort_parse(v->valuestring, &o->reasoning_effort, NULL) == CN_OK;
    return true;
}
