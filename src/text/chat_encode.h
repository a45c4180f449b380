/* DeepSeek-V4 chat encoding: OpenAI-style messages -> the prompt the model was trained on,
 * byte for byte what DeepSeek's reference encoder (encoding_dsv4, shipped in vLLM as
 * vllm/tokenizers/deepseek_v4_encoding.py) renders, as segments of text and control tokens.
 * docs/chat.md describes the format, the options and where this is stricter than the reference.
 *
 * Messages are a cJSON array of objects with "role" (system, user, assistant, developer, tool,
 * latest_reminder) and "content" (a string or a list of {"type":"text","text":...} parts), plus:
 *   assistant: "reasoning" (or "reasoning_content"), "tool_calls" (OpenAI format; "arguments" a
 *              JSON object or a string holding one; an optional "dsml" string beside "function" is
 *              the invoke exactly as the model wrote it, rendered verbatim instead of re-rendered
 *              from the arguments, which are still checked), "wo_eos" (true: no end-of-sentence, for prefill)
 *   tool:      "tool_call_id"
 *   system/developer: "tools" (OpenAI tools array), "response_format" (any JSON)
 *   any:       "task" (action, query, authority, domain, title, read_url)
 * Parse request bodies with cn_chat_json_parse (chat_json.h) so numbers keep their spelling. */
#ifndef CN_TEXT_CHAT_ENCODE_H
#define CN_TEXT_CHAT_ENCODE_H

#include "base/error.h"
#include "text/chat_prompt.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CN_CHAT_EFFORT_DEFAULT = 0, /* the encoder's default, "low" */
    CN_CHAT_EFFORT_LOW,
    CN_CHAT_EFFORT_HIGH,
    CN_CHAT_EFFORT_MAX,
} cn_chat_effort;

/* Zero-initialised options are the reference's defaults: chat (non-thinking) mode, earlier reasoning
 * dropped, BOS and generation prompt added. */
typedef struct {
    bool thinking;                  /* "thinking" mode: the generation prompt opens <think> */
    cn_chat_effort reasoning_effort; /* prefix before the first message, thinking mode only */
    const cJSON *tools;             /* request tools (OpenAI array); attached to the first system
                                     * message, or to a system message made up at the front */
    bool keep_reasoning;            /* drop_thinking=False: keep every turn's reasoning */
    bool omit_bos;
    bool omit_generation_prompt;    /* no <｜Assistant｜><think> after a final user/developer/system turn */
    /* Optional: called once per assistant turn, after its body (everything the turn renders before
     * its end-of-sentence token: the reasoning and </think> when kept, content, tool calls) with
     * the body's segments [first_segment, prompt->segment_count), which do not share a text
     * segment with what came before. It may swap them for the token ids the model sampled
     * (cn_chat_prompt_replace_with_ids) so a prompt that re-sends a reply extends the sequence
     * that produced it id for id (serve/reply_registry.h). */
    cn_status (*assistant_body)(void *context, cn_chat_prompt *prompt, size_t first_segment, cn_error *err);
    void *assistant_body_context;
} cn_chat_options;

/* Renders messages into *out (zeroed here; free with cn_chat_prompt_free even on error). Invalid
 * input (unknown role, missing content, a tool call without a name, arguments that are not a JSON
 * object, ...) returns CN_ERR_ARG or CN_ERR_UNSUPPORTED with a message naming the message index. */
cn_status cn_chat_encode(const cJSON *messages, const cn_chat_options *options, cn_chat_prompt *out,
                         cn_error *err);

/* The same prompt as one flat string (what the reference returns); *text is malloc'd and
 * NUL-terminated, *length excludes the terminator (the text may hold NUL bytes). */
cn_status cn_chat_render_text(const cJSON *messages, const cn_chat_options *options, char **text, size_t *length,
                              cn_error *err);

/* "low", "high", "max" (the encoder's names) -> effort; anything else is an error. */
cn_status cn_chat_effort_parse(const char *name, cn_chat_effort *out, cn_error *err);

#endif
