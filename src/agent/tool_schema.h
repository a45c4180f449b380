/* Validation of tool arguments against the JSON Schema subset the runtime's tools declare:
 * type object with properties of type string / integer / number / boolean / object / array,
 * "required", "additionalProperties": false, integer "minimum"/"maximum". Anything else in a
 * schema is ignored here (MCP tool schemas will need more: docs/agent.md, "not built yet"). */
#ifndef CN_AGENT_TOOL_SCHEMA_H
#define CN_AGENT_TOOL_SCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns true when args satisfy schema; otherwise writes a message naming the field. */
bool cn_tool_schema_validate(const cJSON *schema, const cJSON *args, char *msg, size_t msg_size);

#endif
