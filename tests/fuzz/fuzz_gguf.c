/* libFuzzer target for the GGUF reader: any byte string must either load or fail with an error,
 * never crash, leak or read outside the input (built with ASan/UBSan, see CMakeLists.txt).
 *
 *   CC=clang cmake -S . -B build-fuzz -DCLAWNET_FUZZ=ON && cmake --build build-fuzz --target fuzz_gguf
 *   mkdir -p /tmp/gguf-corpus && build-fuzz/tests/fuzz/fuzz_gguf /tmp/gguf-corpus tests/fixtures/gguf \
 *       -max_len=65536 -max_total_time=60
 * (the first corpus directory receives new inputs; keep the committed fixtures read-only by
 * listing them after it). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/checkpoint.h"
#include "format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps the byte reads below from being optimised away. */
static volatile uint8_t fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_checkpoint ckpt;
    memset(&ckpt, 0, sizeof ckpt);
    cn_error err = {0};
    cn_gguf g;
    if (cn_gguf_parse(data, size, &g, &err) == CN_OK) {
        /* Every accessor on every key, with the types the file claims. */
        for (size_t i = 0; i < g.n_kv; i++) {
            const cn_gguf_kv *kv = &g.kv[i];
            int64_t iv;
            double fv;
            if (kv->type == CN_GGUF_ARRAY && kv->count)
                (void)(cn_gguf_array_int(kv, kv->count - 1, &iv, &err) + cn_gguf_array_float(kv, 0, &fv, &err));
        }
        (void)cn_checkpoint_add_gguf(&ckpt, &g, -1, &err);
        /* Touch every byte a loaded tensor claims, so a bad bound shows up as an ASan report. */
        for (int t = 0; t < ckpt.n_tensors; t++)
            for (size_t b = 0; b < ckpt.tensors[t].n_bytes; b++) fuzz_sink ^= ckpt.tensors[t].data[b];
        cn_gguf_free(&g);
    }
    cn_checkpoint_close(&ckpt);
    return 0;
}
