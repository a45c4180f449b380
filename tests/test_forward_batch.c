/* cn_model_forward_batch (continuous batching) against separate cn_model_forward calls, on the
 * committed tiny checkpoints (tiny: f32, HCA ratio 8; tiny_official: FP8 + MXFP4, ratio 128):
 * - rounds of batches of 1..6 items mixing prompt chunks (lengths around the window of 8 and the
 *   compress ratios 4, 8, 128) and single decode tokens at different positions, six sequences
 *   with F32, BF16 and FP8 states side by side; after every batch each item's last_logits must
 *   equal the last row of the separate call's logits bitwise and each state must serialise to the
 *   same bytes as the separately advanced one;
 * - the batch on pools of 1 and 2 threads (the reference always on 2), and with steps of 256 and
 *   of 5 rows (max_chunk), so items are split across steps;
 * - the kernel property all this rests on, at widths where cn_matmul's many-token path decodes
 *   and reuses blocks of rows (4096 columns: 8 rows a block): every token's outputs are the same
 *   bits in calls of 1..9 and 37 tokens, on pools of 1, 2 and 3 threads, BF16 and FP8 weights,
 *   and Q4_K and Q8_0 weights with 8-bit activations (act_q8);
 * - the same rounds with 8-bit activations on (cn_model_set_act_q8) in both models, on the GGUF
 *   conversion of tiny (Q8_0 projections, experts and head) and on tiny_official (its MXFP4
 *   experts take the integer dots; FP8 ignores the flag), after checking that the flag changes
 *   the logits, and 40 tokens' logits bitwise the same in one prefill call, 40 decode calls and
 *   chunks of 3;
 * - refused batches: one state twice, a bad token id (the message names the item and the
 *   index), no state, an empty item, a state of another shape; none of them moves any state. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "harness.h"
#include "model/model.h"
#include "tensor/element.h"
#include "tensor/matmul.h"

#define N_SEQS 6
#define MAX_ITEMS 6

typedef struct {
    cn_kv_state ref, batch; /* the same sequence advanced separately and in batches */
    int32_t *ids;           /* the sequence's tokens */
    int64_t len;
} sequence;

/* Deterministic pseudo-random numbers (LCG), so failures reproduce. */
static uint64_t next_random(uint64_t *seed) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return *seed >> 33;
}

static bool same_state(const cn_kv_state *a, const cn_kv_state *b) {
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    cn_error err = {0};
    bool same = !cn_kv_state_serialize(a, &x, &nx, &err) && !cn_kv_state_serialize(b, &y, &ny, &err) && nx == ny &&
                memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

/* Chunk lengths around the fixtures' window (8) and compress ratios (4, 8, 128): a random
 * choice of these makes positions land on every side of the boundaries. */
static const int64_t chunk_lengths[] = {1, 1, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 33};

static void run_rounds(const char *dir, cn_model *ref_model, cn_model *batch_model, int64_t max_chunk, uint64_t seed) {
    const int64_t V = ref_model->cfg->vocab_size;
    const cn_kv_type types[N_SEQS] = {CN_KV_F32, CN_KV_F32, CN_KV_F32, CN_KV_F32, CN_KV_BF16, CN_KV_FP8};
    sequence seqs[N_SEQS];
    cn_error err = {0};
    batch_model->max_chunk = max_chunk;
    for (int i = 0; i < N_SEQS; i++) {
        const cn_kv_options opts = {types[i], types[i]};
        CHECK(!cn_model_state_init_opts(ref_model, &seqs[i].ref, &opts, &err));
        CHECK(!cn_model_state_init_opts(batch_model, &seqs[i].batch, &opts, &err));
        seqs[i].len = 0;
        seqs[i].ids = malloc(400 * sizeof(int32_t));
        for (int64_t t = 0; t < 400; t++) seqs[i].ids[t] = (int32_t)(next_random(&seed) % (uint64_t)V);
    }
    float *ref_logits = malloc((size_t)(40 * V) * sizeof(float));
    float *last = malloc((size_t)(MAX_ITEMS * V) * sizeof(float));
    int rounds = 0, mismatches = 0;
    bool crossed_128 = false;
    /* Until one sequence has passed position 140 (beyond tiny_official's ratio of 128). */
    while (!crossed_128 && rounds < 200 && mismatches == 0) {
        cn_forward_item items[MAX_ITEMS];
        int order[N_SEQS] = {0, 1, 2, 3, 4, 5};
        for (int i = N_SEQS - 1; i > 0; i--) { /* a random subset in a random order */
            int j = (int)(next_random(&seed) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        const int count = 1 + (int)(next_random(&seed) % MAX_ITEMS);
        for (int k = 0; k < count; k++) {
            sequence *q = &seqs[order[k]];
            /* Sequence 0 grows fastest (prompt chunks); the others mix decode and chunks. */
            int64_t n = order[k] == 0 ? 17 + (int64_t)(next_random(&seed) % 17)
                                      : chunk_lengths[next_random(&seed) % (sizeof chunk_lengths / sizeof *chunk_lengths)];
            if (q->len + n > 400) n = 1;
            if (q->len + n > 400) n = 0;
            cn_forward_item it = {&q->batch, q->ids + q->len, n, last + k * V};
            items[k] = it;
        }
        bool empty = false;
        for (int k = 0; k < count; k++) empty |= items[k].n == 0;
        if (empty) break;
        if (cn_model_forward_batch(batch_model, items, count, &err)) {
            CHECKF(0, "%s: batch round %d: %s", dir, rounds, err.msg);
            break;
        }
        for (int k = 0; k < count; k++) {
            sequence *q = &seqs[order[k]];
            const int64_t n = items[k].n, p0 = q->len;
            CHECK(!cn_model_forward(ref_model, &q->ref, q->ids + q->len, n, ref_logits, NULL, &err));
            q->len += n;
            if (memcmp(ref_logits + (n - 1) * V, last + k * V, (size_t)V * sizeof(float)) != 0) {
                CHECKF(0, "%s (max_chunk %lld): round %d, item %d (sequence %d, %s state): logits of %lld tokens at %lld differ",
                       dir, (long long)max_chunk, rounds, k, order[k], cn_kv_type_name(types[order[k]]), (long long)n,
                       (long long)p0);
                mismatches++;
            }
            CHECK(q->batch.n_tokens == q->len);
            if (!same_state(&q->ref, &q->batch)) {
                CHECKF(0, "%s (max_chunk %lld): round %d, item %d (sequence %d): states differ after %lld tokens at %lld", dir,
                       (long long)max_chunk, rounds, k, order[k], (long long)n, (long long)p0);
                mismatches++;
            }
        }
        crossed_128 = seqs[0].len > 140;
        rounds++;
    }
    CHECKF(crossed_128, "%s: only %d rounds ran", dir, rounds);
    for (int i = 0; i < N_SEQS; i++) {
        cn_kv_state_free(&seqs[i].ref);
        cn_kv_state_free(&seqs[i].batch);
        free(seqs[i].ids);
    }
    free(ref_logits);
    free(last);
}

/* Rows of `rows` x 4096 random weights, BF16, FP8 E4M3 with 128x128 E8M0 block scales, or
 * random Q4_K / Q8_0 blocks with small f16 scales (then with act_q8 set). */
static cn_matrix random_weights(cn_dtype dtype, int64_t rows, uint64_t *seed, uint8_t **data, uint8_t **scales) {
    const int64_t cols = 4096, row_bytes = (int64_t)cn_dtype_row_bytes(dtype, cols);
    *data = malloc((size_t)(rows * row_bytes));
    *scales = NULL;
    if (dtype == CN_DTYPE_Q4_K || dtype == CN_DTYPE_Q8_0) {
        const int64_t block_bytes = cn_dtype_block_bytes(dtype);
        for (int64_t i = 0; i < rows * row_bytes; i++) (*data)[i] = (uint8_t)next_random(seed);
        for (int64_t b = 0; b < rows * row_bytes / block_bytes; b++)
            for (int k = 0; k < (dtype == CN_DTYPE_Q4_K ? 2 : 1); k++) { /* d (and Q4_K's dmin) */
                const uint16_t h = cn_f32_to_f16((float)(next_random(seed) % 2001) * 1e-5f - 0.01f);
                memcpy(*data + b * block_bytes + 2 * k, &h, 2);
            }
        cn_matrix m = {dtype, rows, cols, *data, (size_t)row_bytes, NULL, 0, 0, true};
        return m;
    }
    for (int64_t i = 0; i < rows * cols; i++) {
        if (dtype == CN_DTYPE_BF16) {
            const uint16_t h = cn_f32_to_bf16((float)(next_random(seed) % 2001) / 1000.0f - 1.0f);
            memcpy(*data + 2 * i, &h, 2);
        } else {
            uint8_t code = (uint8_t)next_random(seed);
            (*data)[i] = (code & 0x7f) == 0x7f ? 0 : code; /* no NaN codes */
        }
    }
    cn_matrix m = {dtype, rows, cols, *data, (size_t)row_bytes, NULL, 0, 0, false};
    if (dtype == CN_DTYPE_F8_E4M3) {
        const int64_t scale_rows = (rows + 127) / 128, scale_cols = cols / 128;
        *scales = malloc((size_t)(scale_rows * scale_cols));
        for (int64_t i = 0; i < scale_rows * scale_cols; i++) (*scales)[i] = (uint8_t)(120 + next_random(seed) % 8);
        m.scales = *scales;
        m.scale_cols = scale_cols;
    }
    return m;
}

/* cn_matmul gives each token the same bits whatever the call's token count and the pool. */
static void check_matmul_row_count(void) {
    enum { ROWS = 45, MAX_TOKENS = 37 };
    const cn_dtype types[4] = {CN_DTYPE_BF16, CN_DTYPE_F8_E4M3, CN_DTYPE_Q4_K, CN_DTYPE_Q8_0};
    uint64_t seed = 99;
    float *x = malloc((size_t)(MAX_TOKENS * 4096) * sizeof(float));
    float *alone = malloc((size_t)(MAX_TOKENS * ROWS) * sizeof(float)), *together = malloc((size_t)(MAX_TOKENS * ROWS) * sizeof(float));
    for (int64_t i = 0; i < MAX_TOKENS * 4096; i++) x[i] = (float)(next_random(&seed) % 2001) / 1000.0f - 1.0f;
    for (int f = 0; f < 4; f++) {
        uint8_t *data, *scales;
        const cn_matrix m = random_weights(types[f], ROWS, &seed, &data, &scales);
        cn_threadpool *one = cn_threadpool_create(1);
        for (int64_t t = 0; t < MAX_TOKENS; t++) cn_matmul(one, &m, x + t * 4096, 4096, 1, alone + t * ROWS, ROWS);
        cn_threadpool_destroy(one);
        for (int threads = 1; threads <= 3; threads++) {
            cn_threadpool *pool = cn_threadpool_create(threads);
            static const int64_t counts[] = {2, 3, 4, 5, 6, 7, 8, 9, MAX_TOKENS};
            for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
                memset(together, 0, (size_t)(MAX_TOKENS * ROWS) * sizeof(float));
                for (int64_t t = 0; t < MAX_TOKENS; t += counts[c]) {
                    const int64_t n = t + counts[c] <= MAX_TOKENS ? counts[c] : MAX_TOKENS - t;
                    cn_matmul(pool, &m, x + t * 4096, 4096, n, together + t * ROWS, ROWS);
                }
                CHECKF(memcmp(alone, together, (size_t)(MAX_TOKENS * ROWS) * sizeof(float)) == 0,
                       "%s: calls of %lld tokens on %d threads differ from one-token calls", cn_dtype_name(types[f]),
                       (long long)counts[c], threads);
            }
            cn_threadpool_destroy(pool);
        }
        free(data);
        free(scales);
    }
    free(x);
    free(alone);
    free(together);
}

/* Refused batches leave every state where it was. */
static void check_refusals(const char *dir, cn_model *model) {
    cn_error err = {0};
    cn_kv_state a, b;
    CHECK(!cn_model_state_init(model, &a, &err));
    CHECK(!cn_model_state_init(model, &b, &err));
    const int32_t good[3] = {3, 4, 5}, bad[3] = {3, (int32_t)model->cfg->vocab_size, 5}, negative[1] = {-1};
    CHECK(!cn_model_forward(model, &a, good, 2, NULL, NULL, &err));
    cn_kv_state a0;
    CHECK(!cn_kv_state_copy(&a0, &a, &err));
    float *logits = malloc((size_t)model->cfg->vocab_size * sizeof(float));

    cn_forward_item twice[3] = {{&a, good, 1, logits}, {&b, good, 3, NULL}, {&a, good, 2, NULL}};
    CHECK(cn_model_forward_batch(model, twice, 3, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "items 0 and 2") != NULL, "%s: %s", dir, err.msg);

    cn_forward_item bad_token[3] = {{&a, good, 3, logits}, {&b, good, 1, NULL}, {NULL, bad, 3, NULL}};
    CHECK(cn_model_forward_batch(model, bad_token, 3, &err) == CN_ERR_ARG); /* no state */
    CHECKF(strstr(err.msg, "batch item 2") != NULL, "%s: %s", dir, err.msg);
    cn_kv_state c;
    CHECK(!cn_model_state_init(model, &c, &err));
    bad_token[2].state = &c;
    CHECK(cn_model_forward_batch(model, bad_token, 3, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "batch item 2") != NULL && strstr(err.msg, "index 1") != NULL, "%s: %s", dir, err.msg);
    cn_forward_item neg[2] = {{&a, good, 1, NULL}, {&b, negative, 1, NULL}};
    CHECK(cn_model_forward_batch(model, neg, 2, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "batch item 1") != NULL, "%s: %s", dir, err.msg);

    cn_forward_item empty[2] = {{&a, good, 1, NULL}, {&b, good, 0, NULL}};
    CHECK(cn_model_forward_batch(model, empty, 2, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "batch item 1") != NULL, "%s: %s", dir, err.msg);

    cn_kv_state foreign = b; /* a one-layer state (as the MTP block's), not this model's */
    foreign.n_layers = 1;
    cn_forward_item wrong[2] = {{&a, good, 1, NULL}, {&foreign, good, 1, NULL}};
    CHECK(cn_model_forward_batch(model, wrong, 2, &err) == CN_ERR_ARG);
    CHECKF(strstr(err.msg, "batch item 1") != NULL && strstr(err.msg, "model") != NULL, "%s: %s", dir, err.msg);
    CHECK(cn_model_forward_batch(model, NULL, 0, &err) == CN_OK);
    /* Nothing moved: a still equals its copy, b and c are still empty. */
    CHECK(a.n_tokens == 2 && b.n_tokens == 0 && c.n_tokens == 0);
    CHECK(same_state(&a, &a0));
    cn_kv_state_free(&a);
    cn_kv_state_free(&a0);
    cn_kv_state_free(&b);
    cn_kv_state_free(&c);
    free(logits);
}

static cn_model *open_model(const char *dir, int threads) {
    cn_error err = {0};
    cn_model *model = NULL;
    if (cn_model_open(dir, threads, &model, &err)) CHECKF(0, "%s: %s", dir, err.msg);
    return model;
}

/* Logits of every position of ids[0..n) in calls of `chunk` tokens from a fresh state. */
static bool forward_in_chunks(cn_model *model, const int32_t *ids, int64_t n, int64_t chunk, float *logits) {
    cn_error err = {0};
    cn_kv_state st;
    if (cn_model_state_init(model, &st, &err)) return false;
    const int64_t V = model->cfg->vocab_size;
    bool ok = true;
    for (int64_t t = 0; t < n && ok; t += chunk)
        ok = !cn_model_forward(model, &st, ids + t, t + chunk <= n ? chunk : n - t, logits + t * V, NULL, &err);
    cn_kv_state_free(&st);
    return ok;
}

/* act_q8 on a checkpoint with integer-dot weights: it must change the logits of a model as
 * cn_model_open leaves it (f32 activations: the library's default, model/model.h; the rounds below
 * would otherwise prove nothing new), prefill, decode and chunked prefill must give the same
 * bits, then batches and splits must agree bitwise as without it. */
static void check_act_q8_model(const char *path) {
    cn_model *ref = open_model(path, 2), *one = open_model(path, 1), *two = open_model(path, 2), *exact = open_model(path, 2);
    if (ref && one && two && exact) {
        cn_model_set_act_q8(ref, true);
        cn_model_set_act_q8(one, true);
        cn_model_set_act_q8(two, true);
        enum { N = 40 };
        int32_t ids[N];
        const int64_t V = ref->cfg->vocab_size;
        uint64_t seed = 77;
        for (int t = 0; t < N; t++) ids[t] = (int32_t)(next_random(&seed) % (uint64_t)V);
        const size_t bytes = (size_t)(N * V) * sizeof(float);
        float *prefill = malloc(bytes), *other = malloc(bytes);
        CHECK(forward_in_chunks(ref, ids, N, N, prefill) && forward_in_chunks(exact, ids, N, N, other));
        CHECKF(memcmp(prefill, other, bytes) != 0, "%s: act_q8 did not change the logits", path);
        CHECK(forward_in_chunks(one, ids, N, 1, other));
        CHECKF(memcmp(prefill, other, bytes) == 0, "%s act_q8: decode differs from prefill", path);
        CHECK(forward_in_chunks(two, ids, N, 3, other));
        CHECKF(memcmp(prefill, other, bytes) == 0, "%s act_q8: chunks of 3 differ from prefill", path);
        free(prefill);
        free(other);
        run_rounds(path, ref, two, 256, 41);
        run_rounds(path, ref, one, 5, 51);
    }
    cn_model_close(ref);
    cn_model_close(one);
    cn_model_close(two);
    cn_model_close(exact);
}

int main(void) {
    check_matmul_row_count();
    check_act_q8_model("tests/fixtures/gguf/tiny-v4.gguf");
    check_act_q8_model("tests/fixtures/tiny_official");
    const char *dirs[2] = {"tests/fixtures/tiny", "tests/fixtures/tiny_official"};
    for (int f = 0; f < 2; f++) {
        cn_model *ref = open_model(dirs[f], 2), *one = open_model(dirs[f], 1), *two = open_model(dirs[f], 2);
        if (ref && one && two) {
            run_rounds(dirs[f], ref, two, 256, 1 + (uint64_t)f);
            run_rounds(dirs[f], ref, one, 256, 11 + (uint64_t)f);
            run_rounds(dirs[f], ref, two, 5, 21 + (uint64_t)f);
            run_rounds(dirs[f], ref, one, 5, 31 + (uint64_t)f);
        }
        cn_model_close(ref);
        cn_model_close(one);
        cn_model_close(two);
    }
    for (int f = 0; f < 2; f++) {
        cn_model *model = open_model(dirs[f], 2);
        if (model) check_refusals(dirs[f], model);
        cn_model_close(model);
    }
    return cn_test_finish("test_forward_batch");
}
