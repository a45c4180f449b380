/* The faults the OpenAI-shaped parsers (chat, completions, Responses) report: a 400 naming the
 * field, a 500 for memory, and the checked number fields they share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve/openai.h"
#include "serve/request_fields.h"

cn_status serve_openai_bad(serve_openai_fault *f, const char *param, const char *fmt, ...) {
    f->status = 400;
    snprintf(f->param, sizeof f->param, "%s", param);
    char message[sizeof f->error.msg]; /* the arguments may point into f->error.msg */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(f->error.msg, message, sizeof message);
    f->error.code = CN_ERR_ARG;
    return CN_ERR_ARG;
}

cn_status serve_openai_nomem(serve_openai_fault *f) {
    f->status = 500;
    f->param[0] = '\0';
    return cn_fail(&f->error, CN_ERR_NOMEM, "out of memory");
}

cn_status serve_openai_number(const cJSON *body, const char *name, double lo, double hi, bool lo_open, double *out,
                              serve_openai_fault *f) {
    const cJSON *v = serve_json_field(body, name);
    if (!v) return CN_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > hi || v->valuedouble < lo ||
        (lo_open && v->valuedouble == lo))
        return serve_openai_bad(f, name, "%s must be a number in %s%g, %g]", name, lo_open ? "(" : "[", lo, hi);
    *out = v->valuedouble;
    return CN_OK;
}
