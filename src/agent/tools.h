/* The runtime's built-in tools, confined to the workspace (workspace.h), each with a JSON schema
 * in the OpenAI "function" shape (specs/protocols.md section 3.6) and an idempotency class that
 * decides what resume does with a call cut off by a crash (docs/agent.md, crash semantics). */
#ifndef CN_AGENT_TOOLS_H
#define CN_AGENT_TOOLS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#include "agent/workspace.h"
#include "base/error.h"

typedef enum {
    CN_TOOL_READ_ONLY,   /* no side effect: re-run on resume */
    CN_TOOL_IDEMPOTENT,  /* running twice equals running once: re-run on resume */
    CN_TOOL_SIDE_EFFECT, /* neither: "outcome unknown" on resume, shown to the model */
} cn_tool_class;

typedef struct {
    char *content;  /* text for the model (malloc'd) */
    bool is_error;  /* a tool-level failure the model should see, not a runtime failure */
    /* A file the call created or changed, with its new content hash: the loop guard's progress. */
    char changed_path[4096];
    unsigned char changed_hash[crypto_hash_sha256_BYTES];
    bool changed;
} cn_tool_result;

typedef struct cn_tool cn_tool;

/* What a tool call may use besides its arguments. */
typedef struct {
    const cn_workspace *ws;
    double call_deadline; /* absolute CLOCK_REALTIME seconds the call must end by; 0 = none */
} cn_tool_env;

/* Tool failures go into result (is_error); only runtime failures return an error. */
typedef cn_status (*cn_tool_run_fn)(const cn_tool *self, const cn_tool_env *env, const cJSON *args,
                                    cn_tool_result *result, cn_error *err);

struct cn_tool {
    char *name;
    char *description;
    char *parameters; /* JSON Schema text */
    cn_tool_class cls;
    cn_tool_run_fn run;
    void *impl; /* the provider's state (an MCP server, the sandbox policy); not owned by the tool */
};

typedef struct cn_toolbox cn_toolbox;

/* Adds the built-in workspace file tools (read_file, write_file, edit_file, list_dir, append_line). */
cn_status cn_tools_add_files(cn_toolbox *tb, cn_error *err);

const char *cn_tool_class_name(cn_tool_class cls);
void cn_tool_result_free(cn_tool_result *r);

#endif
