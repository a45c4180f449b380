#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cn_parse_ids(const char *text, int32_t **ids, int64_t *n) {
    int64_t cap = 16, count = 0;
    int32_t *out = malloc((size_t)cap * sizeof *out);
    const char *p = text;
    if (!out) return false;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            fprintf(stderr, "clawnet: --ids: \"%s\" is not a list of token ids (non-negative integers)\n", text);
            free(out);
            return false;
        }
        if (count == cap) {
            int32_t *grown = realloc(out, (size_t)(cap *= 2) * sizeof *out);
            if (!grown) {
                free(out);
                return false;
            }
            out = grown;
        }
        out[count++] = (int32_t)v;
        p = end;
    }
    *ids = out;
    *n = count;
    return true;
}

bool cn_parse_int(const char *option, const char *text, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < min || v > max) {
        fprintf(stderr, "clawnet: %s: expected an integer in %lld..%lld, got \"%s\"\n", option, (long long)min,
                (long long)max, text);
        return false;
    }
    *out = v;
    return true;
}

bool cn_parse_float(const char *option, const char *text, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || isnan(v) || v < min || v > max) {
        fprintf(stderr, "clawnet: %s: expected a number in %g..%g, got \"%s\"\n", option, min, max, text);
        return false;
    }
    *out = v;
    return true;
}

const char *cn_option_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "clawnet: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cn_parse_sampling_option(const char *option, const char *value, cn_sampler_params *params) {
    double d;
    int64_t i;
    if (!strcmp(option, "--temp")) {
        if (!cn_parse_float(option, value, 0.0, 100.0, &d)) return -1;
        params->temperature = (float)d;
    } else if (!strcmp(option, "--top-k")) {
        if (!cn_parse_int(option, value, 0, INT32_MAX, &i)) return -1;
        params->top_k = i;
    } else if (!strcmp(option, "--top-p")) {
        if (!cn_parse_float(option, value, 1e-6, 1.0, &d)) return -1;
        params->top_p = (float)d;
    } else if (!strcmp(option, "--seed")) {
        if (!cn_parse_int(option, value, 0, INT64_MAX, &i)) return -1;
        params->seed = (uint64_t)i;
    } else {
        return 0;
    }
    return 1;
}
