/* The indexer's top-k tie rule (specs/kv-store.md 6.1, 7.3: "lower index wins"; model/indexer.h):
 * of entries with equal scores the lower compressed-entry indices are selected, whatever the
 * number of threads and however the queries are split into calls. Scores are tied on purpose by
 * storing identical keys (an identical key gives a bitwise identical score) and all-zero keys
 * (score exactly 0), on tiny's CSA indexer weights with a top-k of 4 over 12 entries, with F32
 * and FP4 key storage. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/indexer.h"
#include "model/model.h"

#define ENTRIES 12
#define QUERIES 6
#define TOPK 4

typedef struct {
    cn_model *m;
    cn_model_config cfg; /* tiny's, with index_topk = TOPK */
    const cn_indexer_weights *w;
    float *qr, *a;       /* [QUERIES][Rq], [QUERIES][D] */
} fixture;

static void fill_keys(cn_kv_rows *rows, cn_kv_type type, int64_t di, const float *const *keys) {
    cn_error err = {0};
    memset(rows, 0, sizeof *rows);
    rows->width = di;
    rows->codec = cn_kv_codec_make(type, di, 0, 0);
    for (int e = 0; e < ENTRIES; e++) CHECKF(cn_kv_rows_append(rows, keys[e], &err) == CN_OK, "%s", err.msg);
}

/* Selections of all queries: once in one call on a pool of `threads`, once one query per call on
 * a pool of 1; the two must agree. Returns the one-call result in sel [QUERIES][TOPK]. */
static void select_all(fixture *f, const cn_kv_rows *keys, int threads, int32_t *sel, int32_t *n_sel) {
    const int64_t Rq = f->cfg.q_lora_rank, D = f->cfg.hidden_size;
    const int64_t p0 = 4 * ENTRIES; /* every entry visible to every query */
    cn_threadpool *pool = cn_threadpool_create(threads), *one = cn_threadpool_create(1);
    cn_indexer_select(pool, &f->cfg, f->w, &f->m->rope_compress, 4, keys, f->qr, f->a, QUERIES, p0, sel, n_sel);
    for (int s = 0; s < QUERIES; s++) {
        int32_t single[TOPK], n_single = 0;
        cn_indexer_select(one, &f->cfg, f->w, &f->m->rope_compress, 4, keys, f->qr + s * Rq, f->a + s * D, 1, p0 + s,
                          single, &n_single);
        CHECK(n_single == n_sel[s] && memcmp(single, sel + s * TOPK, sizeof single) == 0);
    }
    cn_threadpool_destroy(pool);
    cn_threadpool_destroy(one);
}

/* The entry (0 or 1) a top-1 selection over keys [k0, k1] picks for query s. */
static int32_t top1(fixture *f, cn_kv_type type, const float *k0, const float *k1, int s) {
    cn_kv_rows rows;
    const float *keys[ENTRIES] = {k0, k1};
    cn_error err = {0};
    memset(&rows, 0, sizeof rows);
    rows.width = f->cfg.index_head_dim;
    rows.codec = cn_kv_codec_make(type, rows.width, 0, 0);
    for (int e = 0; e < 2; e++) CHECK(cn_kv_rows_append(&rows, keys[e], &err) == CN_OK);
    cn_model_config cfg = f->cfg;
    cfg.index_topk = 1;
    int32_t pick = -1, n = 0;
    cn_threadpool *pool = cn_threadpool_create(1);
    cn_indexer_select(pool, &cfg, f->w, &f->m->rope_compress, 4, &rows, f->qr + s * cfg.q_lora_rank,
                      f->a + s * cfg.hidden_size, 1, 4 * ENTRIES + s, &pick, &n);
    cn_threadpool_destroy(pool);
    free(rows.data);
    CHECK(n == 1);
    return pick;
}

static void expect(const int32_t *sel, const int32_t *n_sel, int s, const int32_t want[TOPK], const char *what,
                   const char *type) {
    CHECKF(n_sel[s] == TOPK && memcmp(sel + s * TOPK, want, TOPK * sizeof *want) == 0,
           "%s (%s keys), query %d: selected %d %d %d %d, want %d %d %d %d", what, type, s, sel[s * TOPK],
           sel[s * TOPK + 1], sel[s * TOPK + 2], sel[s * TOPK + 3], want[0], want[1], want[2], want[3]);
}

static void test_ties(fixture *f, cn_kv_type type) {
    const int64_t di = f->cfg.index_head_dim;
    float *base = calloc((size_t)di, sizeof(float)), *zero = calloc((size_t)di, sizeof(float));
    for (int64_t i = 0; i < di; i++) base[i] = (float)((i * 7) % 5) - 1.5f;
    const float *keys[ENTRIES];
    cn_kv_rows rows;
    int32_t sel[QUERIES * TOPK], n_sel[QUERIES];
    const char *name = cn_kv_type_name(type);

    /* 1. Every key the same: every score ties, the four lowest indices win. */
    for (int e = 0; e < ENTRIES; e++) keys[e] = base;
    fill_keys(&rows, type, di, keys);
    for (int threads = 1; threads <= 3; threads++) {
        select_all(f, &rows, threads, sel, n_sel);
        for (int s = 0; s < QUERIES; s++) expect(sel, n_sel, s, (const int32_t[TOPK]){0, 1, 2, 3}, "all tied", name);
    }
    free(rows.data);

    /* 2. Two tied classes: zero keys (score exactly 0) at Z, copies of `base` (one score, S_q)
     * elsewhere. The sign of S_q is read from top-1 selections over two entries: [zero, base]
     * picks 1 only if S_q > 0; otherwise [base, zero] picks 0 on a tie (S_q = 0) and 1 if S_q < 0.
     * The winners are then the lowest four of the better class, or entries 0..3 when all tie. */
    static const bool is_zero[ENTRIES] = {0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0};
    for (int e = 0; e < ENTRIES; e++) keys[e] = is_zero[e] ? zero : base;
    fill_keys(&rows, type, di, keys);
    select_all(f, &rows, 2, sel, n_sel);
    int classes[3] = {0, 0, 0}; /* S_q > 0, = 0, < 0 */
    for (int s = 0; s < QUERIES; s++) {
        static const int32_t base_first[TOPK] = {0, 2, 3, 5}, zero_first[TOPK] = {1, 4, 6, 9}, all[TOPK] = {0, 1, 2, 3};
        if (top1(f, type, zero, base, s) == 1) {
            classes[0]++;
            expect(sel, n_sel, s, base_first, "zero vs base, base higher", name);
        } else if (top1(f, type, base, zero, s) == 0) {
            classes[1]++;
            expect(sel, n_sel, s, all, "zero vs base, tied", name);
        } else {
            classes[2]++;
            expect(sel, n_sel, s, zero_first, "zero vs base, base lower", name);
        }
    }
    printf("%s keys: base key scores above 0 for %d queries, 0 for %d, below 0 for %d\n", name, classes[0], classes[1],
           classes[2]);
    free(rows.data);
    free(base);
    free(zero);
}

int main(void) {
    cn_error err = {0};
    fixture f = {0};
    if (cn_model_open("tests/fixtures/tiny", 1, &f.m, &err)) {
        CHECKF(0, "%s", err.msg);
        return cn_test_finish("test_indexer_ties");
    }
    f.cfg = *f.m->cfg;
    f.cfg.index_topk = TOPK;
    int csa = -1;
    for (int l = 0; l < f.cfg.n_layers && csa < 0; l++)
        if (f.cfg.has_indexer[l]) csa = l;
    CHECK(csa >= 0);
    if (csa >= 0) {
        f.w = &f.m->weights.blocks[csa].attn.indexer;
        const int64_t Rq = f.cfg.q_lora_rank, D = f.cfg.hidden_size;
        f.qr = malloc((size_t)(QUERIES * Rq) * sizeof(float));
        f.a = malloc((size_t)(QUERIES * D) * sizeof(float));
        uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed pseudo-random query inputs */
        for (int64_t i = 0; i < QUERIES * Rq; i++) f.qr[i] = (float)((x = x * 6364136223846793005ull + 1) >> 40) / 8388608.0f - 1.0f;
        for (int64_t i = 0; i < QUERIES * D; i++) f.a[i] = (float)((x = x * 6364136223846793005ull + 1) >> 40) / 8388608.0f - 1.0f;
        test_ties(&f, CN_KV_F32);
        test_ties(&f, CN_KV_FP4);
        free(f.qr);
        free(f.a);
    }
    cn_model_close(f.m);
    return cn_test_finish("test_indexer_ties");
}
