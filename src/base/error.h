/* Errors are values: a function that can fail returns a cn_status and, when given a
 * cn_error, fills it with a message a user can act on. No exit() outside cli/. */
#ifndef CN_BASE_ERROR_H
#define CN_BASE_ERROR_H

typedef enum {
    CN_OK = 0,
    CN_ERR_IO,          /* open/read/map failed */
    CN_ERR_FORMAT,      /* file is truncated, corrupt or not what it claims */
    CN_ERR_UNSUPPORTED, /* valid input using something we do not implement */
    CN_ERR_MISSING,     /* a required tensor or key is absent */
    CN_ERR_SHAPE,       /* a tensor has the wrong shape or dtype for its role */
    CN_ERR_ARG,         /* bad argument from the caller */
    CN_ERR_NOMEM,
    CN_ERR_BUSY,        /* a queue or limit is full: try again later */
} cn_status;

typedef struct {
    cn_status code;
    char msg[768];
} cn_error;

/* Sets err (if not NULL) and returns code, so callers can write `return cn_fail(err, ...)`. */
cn_status cn_fail(cn_error *err, cn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to an existing message ("loading X: <old message>"). Returns err->code. */
cn_status cn_error_prefix(cn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *cn_status_name(cn_status code);

#endif
