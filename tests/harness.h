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

#endif
