/* The conversation the V4 renderer walks, after the reference encoder's preprocessing
 * (docs/chat.md): tool messages merged into user turns as tool_result blocks, consecutive user
 * messages merged, tool results sorted into the order of the calls that asked for them, and (thinking
 * mode, reasoning dropped) earlier developer turns removed and earlier reasoning forgotten.
 * Messages point into the caller's cJSON; flattened content is owned here. */
#ifndef CN_TEXT_CHAT_CONVERSATION_H
#define CN_TEXT_CHAT_CONVERSATION_H

#include "base/error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CN_CHAT_ROLE_SYSTEM,
    CN_CHAT_ROLE_USER,
    CN_CHAT_ROLE_ASSISTANT,
    CN_CHAT_ROLE_DEVELOPER,
    CN_CHAT_ROLE_LATEST_REMINDER,
    CN_CHAT_ROLE_TOOL, /* only before merging */
} cn_chat_role;

typedef enum {
    CN_CHAT_TASK_NONE = -1,
    CN_CHAT_TASK_ACTION_ID,
    CN_CHAT_TASK_QUERY_ID,
    CN_CHAT_TASK_AUTHORITY_ID,
    CN_CHAT_TASK_DOMAIN_ID,
    CN_CHAT_TASK_TITLE_ID,
    CN_CHAT_TASK_READ_URL_ID,
} cn_chat_task;

typedef struct {
    bool is_tool_result;
    const char *text;        /* tool output or user text, flattened */
    const char *tool_use_id; /* "" when none */
} cn_chat_block;

typedef struct {
    cn_chat_role role;
    size_t source_index;          /* index in the caller's array, for messages */
    const char *content;          /* flattened; NULL when absent or null */
    cn_chat_block *blocks;        /* user turns */
    size_t block_count;
    const cJSON *tools;           /* non-empty array, or NULL */
    const cJSON *response_format; /* truthy value, or NULL */
    const cJSON *tool_calls;      /* non-empty array, or NULL */
    const char *reasoning;        /* NULL when absent */
    bool wo_eos;
    cn_chat_task task;
} cn_chat_message;

typedef struct {
    cn_chat_message *messages;
    size_t count;
    char **owned;      /* flattened strings and the synthesised tools holder */
    size_t owned_count;
    size_t owned_capacity;
    bool drop_reasoning; /* the effective drop_thinking after looking for tools */
} cn_chat_conversation;

/* Validates and preprocesses; request_tools (may be NULL) attach as cn_chat_options.tools says. */
cn_status cn_chat_conversation_build(const cJSON *messages, const cJSON *request_tools, bool thinking,
                                     bool keep_reasoning, cn_chat_conversation *out, cn_error *err);

void cn_chat_conversation_free(cn_chat_conversation *c);

/* Index of the last user or developer message, or -1. */
long cn_chat_last_user_index(const cn_chat_conversation *c);

#endif
