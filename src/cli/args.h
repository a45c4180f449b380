/* Small argument helpers shared by the subcommands. */
#ifndef CN_CLI_ARGS_H
#define CN_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "sample/sampler.h"

/* Parses "0 15 27" (spaces, commas or tabs) into a malloc'd array. Prints an error and
 * returns false on anything that is not a non-negative integer. */
bool cn_parse_ids(const char *text, int32_t **ids, int64_t *n);

/* Strict integer / float parsing of an option value; prints "OPTION: ..." on failure. */
bool cn_parse_int(const char *option, const char *text, int64_t min, int64_t max, int64_t *out);
bool cn_parse_float(const char *option, const char *text, double min, double max, double *out);

/* The sampling options shared by run and chat (--temp, --top-k, --top-p, --seed): returns 1
 * and stores the value in *params if `option` is one of them, 0 if it is not, -1 after
 * printing an error about its value. */
int cn_parse_sampling_option(const char *option, const char *value, cn_sampler_params *params);

/* For option loops: returns the value after argv[*i] or prints that it is missing. */
const char *cn_option_value(int argc, char **argv, int *i);

#endif
