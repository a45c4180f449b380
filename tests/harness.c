#include "harness.h"

int cn_test_failures = 0;

int cn_test_finish(const char *name) {
    if (cn_test_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, cn_test_failures);
    else printf("%s: ok\n", name);
    return cn_test_failures ? 1 : 0;
}
