/* The exact tool-call round trip (issue 5, item 5): the server keeps, by call id, the DSML bytes
 * the model wrote for each tool call it returned. When a later request re-sends that call in an
 * assistant message (same id, same name, same arguments), the call is rendered from those bytes
 * rather than re-rendered from its JSON arguments, so the prompt spells the model's bytes; the
 * reply registry (serve/reply_registry.h) then renders them as the ids the model sampled, so the
 * prompt's tokens extend the ones the model generated and the engine's prefix cache hits
 * (specs/protocols.md 3.6 and 4.5).
 *
 * Bounded: at most `capacity` calls and `max_bytes` of stored text, least recently used dropped
 * first. Thread safe (one registry serves every connection). */
#ifndef CN_SERVE_TOOL_CALL_REGISTRY_H
#define CN_SERVE_TOOL_CALL_REGISTRY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/error.h"

typedef struct serve_tool_calls serve_tool_calls;

#define SERVE_TOOL_CALL_ID_MAX 64

cn_status serve_tool_calls_create(size_t capacity, size_t max_bytes, serve_tool_calls **out, cn_error *err);
void serve_tool_calls_free(serve_tool_calls *registry);

/* Writes a fresh call id ("call_" + 24 random base-62 characters) into id (SERVE_TOOL_CALL_ID_MAX). */
cn_status serve_tool_call_new_id(char id[SERVE_TOOL_CALL_ID_MAX], cn_error *err);

/* Remembers one call: its id, name, arguments (the JSON text returned to the client) and raw
 * DSML (cn_output_call.raw). Replaces an entry with the same id. Raw text holding a NUL byte
 * cannot be rendered back and is refused (CN_ERR_ARG); so is an entry larger than max_bytes. */
cn_status serve_tool_calls_put(serve_tool_calls *registry, const char *id, const char *name, const char *arguments,
                               size_t arguments_len, const char *raw, size_t raw_len, cn_error *err);

/* For each assistant message's tool call in messages (the chat encoder's form) whose id is known
 * and whose name and arguments equal the remembered ones (arguments compared as JSON values),
 * adds "dsml": the remembered bytes (chat_encode.h renders them verbatim). A call the client
 * changed keeps its JSON rendering. *annotated (may be NULL) counts the calls annotated. */
cn_status serve_tool_calls_annotate(serve_tool_calls *registry, cJSON *messages, size_t *annotated, cn_error *err);

size_t serve_tool_calls_count(serve_tool_calls *registry);

#endif
