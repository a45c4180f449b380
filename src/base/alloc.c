#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>

static void out_of_memory(size_t bytes) {
    fprintf(stderr, "clawnet: out of memory allocating %zu bytes of scratch space\n", bytes);
    abort();
}

void *cn_scratch_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) out_of_memory(bytes);
    return p;
}

void *cn_scratch_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}
