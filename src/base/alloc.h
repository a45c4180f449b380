/* Scratch allocation for the forward pass. Working buffers are sized by the chunk length and
 * the config, which were validated up front; running out of memory mid-layer leaves no state
 * worth keeping, so these abort with a message instead of threading an error through every
 * kernel. (Everything that reads outside input returns errors as values.) */
#ifndef CN_BASE_ALLOC_H
#define CN_BASE_ALLOC_H

#include <stddef.h>

void *cn_scratch_alloc(size_t bytes);
void *cn_scratch_calloc(size_t count, size_t size);

#endif
