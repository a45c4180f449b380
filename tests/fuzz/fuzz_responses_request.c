/* libFuzzer target for the OpenAI Responses request parser (serve/responses.h): any bytes as a request body.
 * Every input must be either accepted, with a request the chat encoder then renders or refuses
 * with a message, or refused with a 400 naming the field; never a crash or a leak (LeakSanitizer).
 *
 * Manual run (clang): cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCLAWNET_FUZZ=ON &&
 *   cmake --build build-fuzz --target fuzz_responses_request &&
 *   build-fuzz/tests/fuzz/fuzz_responses_request tests/fixtures/responses_requests -max_total_time=120
 * (copy the seeds to a scratch directory first if new finds should not land beside them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/responses.h"
#include "text/chat_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size + 1);
    if (!body) return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    serve_chat_request chat;
    cJSON *echo = NULL;
    serve_openai_fault fault;
    if (serve_responses_parse(body, size, &chat, &echo, &fault) == CN_OK) {
        cn_chat_options options = {.thinking = chat.thinking, .reasoning_effort = chat.effort, .tools = chat.tools};
        cn_chat_prompt prompt;
        cn_error encode_err = {0};
        if (cn_chat_encode(chat.messages, &options, &prompt, &encode_err) != CN_OK && !encode_err.msg[0]) abort();
        cn_chat_prompt_free(&prompt);
    } else if (fault.status != 400 || !fault.error.msg[0]) {
        abort();
    }
    serve_chat_request_free(&chat);
    cJSON_Delete(echo);
    free(body);
    return 0;
}
