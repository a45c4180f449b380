/* The seeded weight generator against the check vector that scripts/make_oracle_fixtures.py's
 * numpy implementation printed (docs/fixtures.md). */
#include "harness.h"
#include "seeded_checkpoint.h"

int main(void) {
    /* FNV-1a 64 of the empty string and of "a" (the algorithm's published test values). */
    CHECK(cn_fnv1a64("") == 0xcbf29ce484222325ull);
    CHECK(cn_fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    /* splitmix64 from state 0: first output, as in Vigna's reference implementation. */
    uint64_t st = 0;
    CHECK(cn_splitmix64_next(&st) == 0xe220a8397b1dcdafull);
    return cn_test_finish("test_seeded_generator");
}
