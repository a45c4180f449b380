/* Validation of tool arguments against the JSON Schema subset that the runtime's own tools and
 * typical MCP tool schemas (pydantic / zod output) use (JSON Schema 2020-12 validation keywords):
 *   type (a name or a list of names; "integer" = a number without fraction), enum, const,
 *   object: properties, required, additionalProperties (false or a schema), min/maxProperties;
 *   array: items (one schema for every element), prefixItems, minItems, maxItems, uniqueItems;
 *   number: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers), multipleOf;
 *   string: minLength, maxLength (in Unicode code points);
 *   anyOf, oneOf, allOf, not; $ref to "#", "#/$defs/NAME" or "#/definitions/NAME" (nesting bounded);
 *   boolean schemas (true accepts anything, false nothing).
 * Every other keyword is ignored, and so constrains nothing: pattern and format (no ECMA-262
 * regex engine here), dependentRequired/dependentSchemas, if/then/else, patternProperties,
 * contains, remote $ref, draft-4 boolean exclusiveMinimum/Maximum. The server checks its own
 * arguments again; this check exists so a bad call becomes a structured error for the model
 * without a round trip or a side effect. */
#ifndef CN_AGENT_TOOL_SCHEMA_H
#define CN_AGENT_TOOL_SCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns true when args (a JSON object) satisfy schema; otherwise writes a message naming the
 * first failing argument by its path ("argument \"points[1].x\" must be of type number"). */
bool cn_tool_schema_validate(const cJSON *schema, const cJSON *args, char *msg, size_t msg_size);

#endif
