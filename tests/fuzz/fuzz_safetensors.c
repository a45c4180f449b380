/* libFuzzer target for the safetensors header parser: any byte string either registers
 * tensors that lie inside it or fails with an error; never a crash, leak or stray read.
 *
 *   CC=clang cmake -S . -B build-fuzz -DCLAWNET_FUZZ=ON && cmake --build build-fuzz --target fuzz_safetensors
 *   mkdir -p /tmp/st-corpus && build-fuzz/tests/fuzz/fuzz_safetensors /tmp/st-corpus \
 *       tests/fixtures/tiny_official -max_len=65536 -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/checkpoint.h"
#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_checkpoint ckpt;
    memset(&ckpt, 0, sizeof ckpt);
    cn_error err = {0};
    if (cn_safetensors_add(&ckpt, data, size, "fuzz", -1, &err) == CN_OK)
        for (int t = 0; t < ckpt.n_tensors; t++)
            for (size_t b = 0; b < ckpt.tensors[t].n_bytes; b++) fuzz_sink ^= ckpt.tensors[t].data[b];
    cn_checkpoint_close(&ckpt);
    return 0;
}
