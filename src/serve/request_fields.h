/* Reading request bodies the way every API adapter does: a JSON null counts as "not given", and an
 * integer is a finite number with no fraction (cJSON keeps only a double). */
#ifndef CN_SERVE_REQUEST_FIELDS_H
#define CN_SERVE_REQUEST_FIELDS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* object[name], or NULL when absent or null. */
const cJSON *serve_json_field(const cJSON *object, const char *name);
bool serve_json_is_integer(const cJSON *v);

#endif
