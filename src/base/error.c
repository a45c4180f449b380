#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

cn_status cn_fail(cn_error *err, cn_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

cn_status cn_error_prefix(cn_error *err, const char *fmt, ...) {
    if (!err) return CN_ERR_ARG;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Keep the end of the old message if both do not fit. */
    snprintf(err->msg, sizeof err->msg, "%.255s: %.500s", prefix, old);
    return err->code;
}

const char *cn_status_name(cn_status code) {
    switch (code) {
    case CN_OK: return "ok";
    case CN_ERR_IO: return "I/O error";
    case CN_ERR_FORMAT: return "format error";
    case CN_ERR_UNSUPPORTED: return "unsupported";
    case CN_ERR_MISSING: return "missing";
    case CN_ERR_SHAPE: return "shape error";
    case CN_ERR_ARG: return "invalid argument";
    case CN_ERR_NOMEM: return "out of memory";
    case CN_ERR_BUSY: return "busy";
    }
    return "unknown error";
}
