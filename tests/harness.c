#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cn_test_failures = 0;

int cn_test_finish(const char *name) {
    if (cn_test_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, cn_test_failures);
    else printf("%s: ok\n", name);
    return cn_test_failures ? 1 : 0;
}

void *cn_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (size) *size = (size_t)n;
    return buf;
}

double cn_test_rel_error(const float *a, const float *b, int64_t n) {
    double max_diff = 0.0, max_ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > max_diff || isnan(d)) max_diff = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > max_ref) max_ref = fabs((double)b[i]);
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

int64_t cn_test_read_ids(const char *path, int32_t *ids, int64_t max) {
    char *text = cn_test_read_file(path, NULL);
    int64_t n = 0;
    for (char *p = text, *end; p && n < max; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int32_t)v;
    }
    free(text);
    return n;
}

size_t cn_test_from_hex(const char *hex, char *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

uint32_t cn_test_rng_next(cn_test_rng *rng) {
    rng->state ^= rng->state << 13, rng->state ^= rng->state >> 7, rng->state ^= rng->state << 17;
    return (uint32_t)(rng->state >> 11);
}

float cn_test_rng_uniform(cn_test_rng *rng) { return (float)(cn_test_rng_next(rng) & 0xffffff) * 0x1p-24f * 2.0f - 1.0f; }

bool cn_test_same_bits(float a, float b) { return isnan(a) ? isnan(b) : memcmp(&a, &b, sizeof a) == 0; }
