/* tool_choice "required" (or a named function) as a token constraint (sample/constraint.h): the
 * output is exactly the DeepSeek-V4 DSML tool-call block that the output parser
 * (text/output_parser.h) reads as complete calls, written as the chat encoder renders calls
 * (text/chat_encode.c), then a stop id:
 *
 *   [reasoning "</think>"]                                   (thinking mode: free text first)
 *   "\n\n<｜DSML｜tool_calls>\n"
 *   "<｜DSML｜invoke name=\"" NAME "\">\n"
 *     ( "<｜DSML｜parameter name=\"" P "\" string=\"true\">" TEXT "</｜DSML｜parameter>\n"
 *     | "<｜DSML｜parameter name=\"" P "\" string=\"false\">" JSON "</｜DSML｜parameter>\n" )*
 *   "</｜DSML｜invoke>"           ("\n</｜DSML｜invoke>" for a call without parameters)
 *   ( "\n" next invoke )*  "\n</｜DSML｜tool_calls>"  STOP
 *
 * NAME is one of the tools (or the named one); parameters come from the tool's JSON schema
 * ("parameters", the subset of json_schema.h), each at most once, every required one present;
 * a string parameter gets string="true" and free text (valid UTF-8, never the bytes
 * "｜DSML｜"), any other a JSON value the parameter's schema accepts (json_automaton.h). Every
 * ｜DSML｜ of the block is the single control token (id 128825 in V4), never the same bytes
 * spelled with ordinary tokens; reasoning is free text in which "</think>" may only come as its
 * control token. */
#ifndef CN_SAMPLE_TOOL_CALL_CONSTRAINT_H
#define CN_SAMPLE_TOOL_CALL_CONSTRAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample/constraint.h"
#include "sample/constraint_vocab.h"

struct cJSON;

#define CN_TOOL_CALL_MAX_TOOLS 64

typedef struct {
    const struct cJSON *tools;  /* the request's "tools": [{"type":"function","function":{"name",
                                   "parameters"}}] (or bare {"name","parameters"} entries) */
    const char *function_name;  /* tool_choice {"function":{"name"}}: only this tool; NULL: any */
    bool thinking;              /* the prompt ended with <think>: reasoning comes first */
    size_t max_calls;           /* invokes in the block; 0: no limit (parallel_tool_calls) */
    const int32_t *stop_ids;    /* ids that end the output (EOS); copied */
    size_t n_stop;
    uint16_t max_whitespace;    /* inside JSON values; 0: CN_JSON_DEFAULT_MAX_WHITESPACE */
} cn_tool_call_constraint_options;

/* vocab must outlive the constraint and hold the ｜DSML｜ control token (and </think> in thinking
 * mode). Refuses, naming the tool and keyword, schemas outside the subset, names the parser would
 * reject (empty, over 256 bytes, holding '"', '<', '>' or a control character) and duplicates. */
cn_status cn_tool_call_constraint_create(const cn_constraint_vocab *vocab, const cn_tool_call_constraint_options *options,
                                         cn_token_constraint *out, cn_error *err);

/* Whether c would accept token next, decided by running the token's bytes (or the control token)
 * through a copy of the state, without the trie: the brute-force reference the mask is tested
 * against. c must be a tool-call constraint. */
bool cn_tool_call_constraint_allows(cn_token_constraint *c, int32_t token);

#endif
