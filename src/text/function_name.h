/* The rule for a function (tool) name, as the OpenAI API states it: 1 to 64 characters of a-z, A-Z,
 * 0-9, '_' and '-' (Anthropic's Messages API states the same, ^[a-zA-Z0-9_-]{1,64}$). The server
 * checks names in requests with it (chat completions, Responses, Messages), and the agent checks the tools it
 * offers (its own, policy-granted and MCP ones) before a model ever sees them. */
#ifndef CN_TEXT_FUNCTION_NAME_H
#define CN_TEXT_FUNCTION_NAME_H

#include <stdbool.h>

/* One character the rule allows. */
static inline bool cn_function_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool cn_function_name_valid(const char *name);

#endif
