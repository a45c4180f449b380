/* One streaming parser for DeepSeek-V4 model output (reasoning, content and DSML tool calls),
 * shared by the CLI, the HTTP server and the agent runtime. docs/output_parser.md describes
 * the accepted language, the events and where it differs from DeepSeek's and vLLM's parsers.
 *
 * Text goes in as the detokenizer produces it, in chunks split anywhere (inside a UTF-8
 * character or a marker). Events come out through a callback, in order. Feeding the same
 * text split at any byte boundaries gives the same events once adjacent deltas of one kind
 * (and one call) are joined; only a possible marker prefix or an incomplete UTF-8 character
 * is held back between chunks. */
#ifndef CN_TEXT_OUTPUT_PARSER_H
#define CN_TEXT_OUTPUT_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef enum {
    CN_OUTPUT_START_IN_REASONING, /* the prompt ended with <think> */
    CN_OUTPUT_START_IN_CONTENT,   /* the prompt ended with </think> */
} cn_output_start;

typedef enum {
    CN_OUTPUT_REASONING_DELTA,      /* text: reasoning (inside <think>) */
    CN_OUTPUT_CONTENT_DELTA,        /* text: visible answer */
    CN_OUTPUT_TOOL_CALL_START,      /* call_index, text: the tool name */
    CN_OUTPUT_TOOL_ARGUMENTS_DELTA, /* call_index, text: a piece of the arguments JSON object */
    CN_OUTPUT_TOOL_CALL_END,        /* call_index: the arguments so far form one JSON object */
    CN_OUTPUT_ERROR,                /* call_index (or -1 for the block), text: message */
    CN_OUTPUT_END,                  /* end of message, always the last event */
} cn_output_event_kind;

typedef struct {
    cn_output_event_kind kind;
    int call_index;   /* -1 for events that belong to no call */
    const char *text; /* valid UTF-8, NUL-terminated, valid only during the callback */
    size_t len;
} cn_output_event;

typedef void (*cn_output_event_fn)(void *context, const cn_output_event *event);

typedef enum {
    CN_OUTPUT_CALL_OPEN,     /* still being read */
    CN_OUTPUT_CALL_COMPLETE, /* TOOL_CALL_END was sent: name and arguments are final */
    CN_OUTPUT_CALL_FAILED,   /* an ERROR was sent for it: never execute it */
} cn_output_call_status;

/* Everything known about one call; pointers stay valid until the next feed/finish/free. */
typedef struct {
    cn_output_call_status status;
    const char *name;      /* "" until the name has been read */
    const char *arguments; /* the argument deltas sent so far, joined */
    size_t arguments_len;
    const char *raw; /* the exact DSML bytes from "<｜DSML｜invoke" to "</｜DSML｜invoke>" (or to
                        the end of the message for a call that failed to parse) */
    size_t raw_len;
    const char *error; /* the message of the call's ERROR event, or NULL */
} cn_output_call;

typedef struct cn_output_parser cn_output_parser;

cn_status cn_output_parser_create(cn_output_start start, cn_output_event_fn on_event, void *context,
                                  cn_output_parser **out, cn_error *err);
void cn_output_parser_free(cn_output_parser *parser);

/* Feeds the next chunk. Fails only on running out of memory (the parser is then unusable)
 * or on feeding after finish; malformed model text is reported as ERROR events. */
cn_status cn_output_parser_feed(cn_output_parser *parser, const char *text, size_t len, cn_error *err);

/* End of message (EOS or a length limit): flushes what was held back, reports a message that
 * stopped inside a tool call, and sends END. */
cn_status cn_output_parser_finish(cn_output_parser *parser, cn_error *err);

size_t cn_output_parser_call_count(const cn_output_parser *parser);
/* false when index is out of range. */
bool cn_output_parser_call(const cn_output_parser *parser, size_t index, cn_output_call *call);

/* The DSML region exactly as the model wrote it: from the first "<｜DSML｜" outside reasoning
 * (the "\n\n" separator before it is not included) to the end of the message. Empty when the
 * message had no DSML. */
const char *cn_output_parser_dsml_raw(const cn_output_parser *parser, size_t *len);

/* How many ERROR events were sent. */
size_t cn_output_parser_error_count(const cn_output_parser *parser);

#endif
