/* libFuzzer target for the Anthropic Messages request parser (serve/anthropic.h): any bytes as a
 * Messages body and as a count_tokens body.
 * Every input must be either accepted, with a request the chat encoder then renders or refuses
 * with a message, or refused with a message (a 400); never a crash or a leak (LeakSanitizer).
 *
 * Manual run (clang): cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCLAWNET_FUZZ=ON &&
 *   cmake --build build-fuzz --target fuzz_anthropic_request &&
 *   build-fuzz/tests/fuzz/fuzz_anthropic_request tests/fixtures/anthropic_requests -max_total_time=120
 * (copy the seeds to a scratch directory first if new finds should not land beside them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/anthropic.h"
#include "text/chat_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size + 1);
    if (!body) return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    serve_chat_request chat;
    cn_error err = {0};
    if (serve_anthropic_parse(body, size, false, &chat, &err) == CN_OK) {
        cn_chat_options options = {.thinking = chat.thinking, .reasoning_effort = chat.effort, .tools = chat.tools};
        cn_chat_prompt prompt;
        cn_error encode_err = {0};
        if (cn_chat_encode(chat.messages, &options, &prompt, &encode_err) != CN_OK && !encode_err.msg[0]) abort();
        cn_chat_prompt_free(&prompt);
    } else if ((err.code != CN_ERR_ARG && err.code != CN_ERR_UNSUPPORTED) || !err.msg[0]) {
        abort();
    }
    serve_chat_request_free(&chat);
    /* The count_tokens body: the same parser without max_tokens required. */
    if (serve_anthropic_parse(body, size, true, &chat, &err) != CN_OK &&
        ((err.code != CN_ERR_ARG && err.code != CN_ERR_UNSUPPORTED) || !err.msg[0]))
        abort();
    serve_chat_request_free(&chat);
    free(body);
    return 0;
}
