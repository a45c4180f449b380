/* libFuzzer target for the OpenAI request parsers (serve/openai.h): any bytes as a Chat
 * Completions body and as a Completions body. Every input must be either accepted, with a request
 * the chat encoder then renders or refuses with a message, or refused with a 400 that names a
 * message; never a crash or a leak (LeakSanitizer).
 *
 * Manual run (clang): cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCLAWNET_FUZZ=ON &&
 *   cmake --build build-fuzz --target fuzz_openai_request &&
 *   build-fuzz/tests/fuzz/fuzz_openai_request tests/fixtures/openai_requests -max_total_time=120
 * (copy the seeds to a scratch directory first if new finds should not land beside them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/openai.h"
#include "text/chat_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size + 1);
    if (!body) return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    serve_chat_request chat;
    serve_openai_fault fault;
    if (serve_openai_parse_chat(body, size, &chat, &fault) == CN_OK) {
        cn_chat_options options = {.thinking = chat.thinking, .reasoning_effort = chat.effort, .tools = chat.tools};
        cn_chat_prompt prompt;
        cn_error err = {0};
        if (cn_chat_encode(chat.messages, &options, &prompt, &err) != CN_OK && !err.msg[0]) abort();
        cn_chat_prompt_free(&prompt);
    } else if (fault.status != 400 || !fault.error.msg[0]) {
        abort();
    }
    serve_chat_request_free(&chat);
    serve_completion_request completion;
    if (serve_openai_parse_completion(body, size, &completion, &fault) != CN_OK && (fault.status != 400 || !fault.error.msg[0]))
        abort();
    serve_completion_request_free(&completion);
    free(body);
    return 0;
}
