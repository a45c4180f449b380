/* JSON-RPC 2.0 as MCP uses it (specs/protocols.md 3.1, 3.2): building requests, notifications and
 * replies as single-line JSON (cJSON escapes every newline inside strings, so a message never
 * contains a raw newline: the stdio framing rule), classifying what a server sends (response,
 * error response, server request, notification, or something that is not JSON-RPC at all), and
 * splitting a byte stream into lines. No batches: MCP dropped them in 2025-06-18. */
#ifndef CN_AGENT_MCP_JSONRPC_H
#define CN_AGENT_MCP_JSONRPC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum {
    CN_MCP_MSG_RESPONSE,     /* id + result */
    CN_MCP_MSG_ERROR,        /* id + error{code, message} */
    CN_MCP_MSG_REQUEST,      /* id + method: the server asks us something (ping, sampling, ...) */
    CN_MCP_MSG_NOTIFICATION, /* method, no id */
    CN_MCP_MSG_INVALID,      /* not JSON, or JSON that is none of the above (problem says why) */
} cn_mcp_msg_kind;

typedef struct {
    cn_mcp_msg_kind kind;
    cJSON *root;          /* owned; NULL when the text is not JSON */
    const cJSON *id;      /* number or string (responses and requests) */
    const char *method;   /* requests and notifications */
    const cJSON *params;  /* may be NULL */
    const cJSON *result;  /* responses */
    int error_code;       /* error responses */
    const char *error_message;
    char problem[120];    /* why a message is INVALID */
} cn_mcp_msg;

/* Classifies one message's text (len bytes, need not be NUL-terminated). */
void cn_mcp_msg_parse(const char *text, size_t len, cn_mcp_msg *out);
void cn_mcp_msg_free(cn_mcp_msg *m);
/* True when the message's id is the integer id. */
bool cn_mcp_msg_id_is(const cn_mcp_msg *m, int64_t id);

/* Message builders: malloc'd single-line JSON without a trailing newline, NULL when out of memory.
 * params / result are consumed (may be NULL: omitted / an empty object). */
char *cn_mcp_request(int64_t id, const char *method, cJSON *params);
char *cn_mcp_notification(const char *method, cJSON *params);
char *cn_mcp_result(const cJSON *id, cJSON *result);
char *cn_mcp_error_reply(const cJSON *id, int code, const char *message);

#define CN_MCP_METHOD_NOT_FOUND (-32601)

/* A byte stream cut into lines ("\n"; a "\r" before it is dropped). A line longer than limit is
 * an overflow: the stream cannot be trusted any more. */
typedef struct {
    char *buf;
    size_t len, cap, limit;
    size_t partial; /* bytes after the last newline in buf */
} cn_mcp_lines;

/* Appends bytes; CN_ERR_FORMAT when the unfinished line would exceed the limit. */
cn_status cn_mcp_lines_push(cn_mcp_lines *l, const char *data, size_t n, cn_error *err);
/* Takes the next complete line (malloc'd, NUL-terminated, without its end); false when none. */
bool cn_mcp_lines_take(cn_mcp_lines *l, char **line, size_t *len);
/* The unfinished rest (at end of stream); false when empty. */
bool cn_mcp_lines_take_rest(cn_mcp_lines *l, char **line, size_t *len);
void cn_mcp_lines_free(cn_mcp_lines *l);

#endif
