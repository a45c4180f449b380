/* A minimal test harness: CHECK records a failure and continues; the test's exit status
 * is the number of failed checks (0 = pass). */
#ifndef CN_TEST_HARNESS_H
#define CN_TEST_HARNESS_H

#include <stdio.h>

extern int cn_test_failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            cn_test_failures++;                                                        \
        }                                                                              \
    } while (0)

#define CHECKF(cond, ...)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            cn_test_failures++;                                                        \
        }                                                                              \
    } while (0)

int cn_test_finish(const char *name);

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file (NULL if missing). */
void *cn_test_read_file(const char *path, size_t *size);

/* Reads up to max whitespace-separated token ids from a file (prompt.txt); returns the count,
 * 0 if the file is missing or empty. */
int64_t cn_test_read_ids(const char *path, int32_t *ids, int64_t max);

/* Parses a JSON fixture with cJSON; a missing or malformed file is a failed check and NULL. */
struct cJSON *cn_test_read_json(const char *path);

/* Decodes a hex string into out (room for strlen(hex)/2 bytes); returns the byte count. */
size_t cn_test_from_hex(const char *hex, char *out);

/* Largest |a-b| / max|b| over one row: the relative error used for logits. */
double cn_test_rel_error(const float *a, const float *b, int64_t n);

#include <stdbool.h>

/* A seeded xorshift64 stream (13, 7, 17): reproducible test data, one stream per test file. */
typedef struct {
    uint64_t state;
} cn_test_rng;

/* The next 32 bits: bits 11..42 of the advanced state. */
uint32_t cn_test_rng_next(cn_test_rng *rng);
/* Uniform in [-1, 1) on a 2^-23 grid, from the low 24 bits of cn_test_rng_next. */
float cn_test_rng_uniform(cn_test_rng *rng);

/* The same float bit for bit, any NaN matching any NaN: the kernels' bitwise checks. */
bool cn_test_same_bits(float a, float b);

#endif
