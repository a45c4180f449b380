/* GGUF reader: the fixtures written by scripts/make_gguf_fixture.py with the PyPI `gguf` package
 * (config, canonical names, shapes, dtypes, values against the package's own dequantisation),
 * and corrupt variants of them, which must fail with a clear error and never read out of bounds
 * (run this under the sanitizer build: every variant is parsed from an exact-size heap copy). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/checkpoint.h"
#include "format/gguf.h"
#include "harness.h"
#include "tensor/matrix.h"

#define FIXTURE_DIR "tests/fixtures/gguf/"
#define TINY FIXTURE_DIR "tiny-v4.gguf"
#define TINY_REF FIXTURE_DIR "tiny-v4.ref.gguf"

static uint8_t *read_whole_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Parses and loads a GGUF held in memory, the way cn_checkpoint_open_gguf does after mapping. */
static cn_status load_memory(const uint8_t *data, size_t size, cn_checkpoint *ckpt, cn_error *err) {
    memset(ckpt, 0, sizeof *ckpt);
    cn_gguf g;
    cn_status s = cn_gguf_parse(data, size, &g, err);
    if (s) return s;
    s = cn_checkpoint_add_gguf(ckpt, &g, -1, err);
    cn_gguf_free(&g);
    return s;
}

/* ---- configuration --------------------------------------------------------------------------- */

static void test_config(const cn_checkpoint *ckpt) {
    const cn_model_config *c = &ckpt->config;
    CHECK(ckpt->naming == CN_NAMES_GGUF);
    CHECK(c->vocab_size == 256); /* from tokenizer.ggml.tokens: the fixture has no vocab_size key */
    CHECK(c->hidden_size == 64);
    CHECK(c->n_layers == 5);
    CHECK(c->n_heads == 4);
    CHECK(c->head_dim == 32);
    CHECK(c->rope_dim == 8);
    CHECK(c->q_lora_rank == 32);
    CHECK(c->o_groups == 2);
    CHECK(c->o_lora_rank == 16);
    CHECK(c->sliding_window == 8);
    const int ratios[6] = {0, 8, 4, 8, 4, 0};
    const bool indexer[6] = {false, false, true, false, true, false};
    const bool hash[6] = {true, true, false, false, false, false};
    for (int l = 0; l <= 5; l++) {
        CHECKF(c->compress_ratio[l] == ratios[l], "layer %d ratio %d", l, c->compress_ratio[l]);
        CHECKF(c->has_indexer[l] == indexer[l], "layer %d indexer", l);
        CHECKF(c->hash_moe[l] == hash[l], "layer %d hash", l);
    }
    CHECK(c->rope_main.theta == 10000.0f && !c->rope_main.yarn);
    CHECK(c->rope_compress.theta == 160000.0f && c->rope_compress.yarn);
    CHECK(c->rope_compress.yarn_factor == 4.0f);
    CHECK(c->rope_compress.yarn_original_max_position == 16);
    CHECK(c->rope_compress.yarn_beta_fast == 32.0f && c->rope_compress.yarn_beta_slow == 1.0f);
    CHECK(c->index_n_heads == 2 && c->index_head_dim == 16 && c->index_topk == 2);
    CHECK(c->n_routed_experts == 8 && c->n_experts_per_tok == 2 && c->n_shared_experts == 1);
    CHECK(c->moe_intermediate_size == 32);
    CHECK(c->routed_scaling_factor == 1.5f && c->norm_topk_prob);
    CHECK(c->swiglu_limit == 10.0f);
    CHECK(c->hc_mult == 4 && c->hc_sinkhorn_iters == 20 && c->hc_eps == 1e-6f);
    CHECK(c->rms_norm_eps == 1e-6f);
    CHECK(c->n_mtp_layers == 0);
    CHECK(c->max_position_embeddings == 64);
    CHECK(c->bos_token_id == 0 && c->eos_token_id == 1);
}

/* ---- names, shapes, dtypes -------------------------------------------------------------------- */

static void expect_tensor(const cn_checkpoint *ckpt, const char *name, const char *source, cn_dtype dtype, int n_dims,
                          int64_t d0, int64_t d1, int64_t d2) {
    const cn_tensor_record *t = cn_checkpoint_find(ckpt, name);
    CHECKF(t != NULL, "%s is missing", name);
    if (!t) return;
    CHECKF(strcmp(t->source_name, source) == 0, "%s comes from %s, expected %s", name, t->source_name, source);
    CHECKF(t->dtype == dtype, "%s is %s, expected %s", name, cn_dtype_name(t->dtype), cn_dtype_name(dtype));
    const int64_t want[3] = {d0, d1, d2};
    CHECKF(t->n_dims == n_dims, "%s has %d dims, expected %d", name, t->n_dims, n_dims);
    for (int d = 0; d < n_dims && d < 3; d++)
        CHECKF(t->shape[d] == want[d], "%s dim %d is %lld, expected %lld", name, d, (long long)t->shape[d],
               (long long)want[d]);
}

static void test_inventory(const cn_checkpoint *ckpt) {
    CHECKF(ckpt->n_tensors == 154, "%d tensors", ckpt->n_tensors);
    expect_tensor(ckpt, "embed.weight", "token_embd.weight", CN_DTYPE_F16, 2, 256, 64, 0);
    expect_tensor(ckpt, "head.weight", "output.weight", CN_DTYPE_Q8_0, 2, 256, 64, 0);
    expect_tensor(ckpt, "norm.weight", "output_norm.weight", CN_DTYPE_F32, 1, 64, 0, 0);
    expect_tensor(ckpt, "hc_head_fn", "output_hc_fn.weight", CN_DTYPE_F16, 2, 4, 256, 0);
    expect_tensor(ckpt, "hc_head_base", "output_hc_base.weight", CN_DTYPE_F32, 1, 4, 0, 0);
    expect_tensor(ckpt, "hc_head_scale", "output_hc_scale.weight", CN_DTYPE_F32, 1, 1, 0, 0);
    /* mHC: [24][4D] outermost-first, as the official checkpoint (no transpose in GGUF) */
    expect_tensor(ckpt, "layers.0.hc_attn_fn", "blk.0.hc_attn_fn.weight", CN_DTYPE_F32, 2, 24, 256, 0);
    expect_tensor(ckpt, "layers.0.hc_attn_base", "blk.0.hc_attn_base.weight", CN_DTYPE_F32, 1, 24, 0, 0);
    expect_tensor(ckpt, "layers.0.hc_attn_scale", "blk.0.hc_attn_scale.weight", CN_DTYPE_F32, 1, 3, 0, 0);
    expect_tensor(ckpt, "layers.3.hc_ffn_fn", "blk.3.hc_ffn_fn.weight", CN_DTYPE_F16, 2, 24, 256, 0);
    expect_tensor(ckpt, "layers.0.attn_norm.weight", "blk.0.attn_norm.weight", CN_DTYPE_F32, 1, 64, 0, 0);
    expect_tensor(ckpt, "layers.0.ffn_norm.weight", "blk.0.ffn_norm.weight", CN_DTYPE_F32, 1, 64, 0, 0);
    /* attention */
    expect_tensor(ckpt, "layers.2.attn.wq_a.weight", "blk.2.attn_q_a.weight", CN_DTYPE_Q8_0, 2, 32, 64, 0);
    expect_tensor(ckpt, "layers.2.attn.q_norm.weight", "blk.2.attn_q_a_norm.weight", CN_DTYPE_F32, 1, 32, 0, 0);
    expect_tensor(ckpt, "layers.2.attn.wq_b.weight", "blk.2.attn_q_b.weight", CN_DTYPE_Q8_0, 2, 128, 32, 0);
    expect_tensor(ckpt, "layers.2.attn.wkv.weight", "blk.2.attn_kv.weight", CN_DTYPE_Q8_0, 2, 32, 64, 0);
    expect_tensor(ckpt, "layers.2.attn.kv_norm.weight", "blk.2.attn_kv_a_norm.weight", CN_DTYPE_F32, 1, 32, 0, 0);
    expect_tensor(ckpt, "layers.2.attn.wo_a.weight", "blk.2.attn_output_a.weight", CN_DTYPE_Q8_0, 2, 32, 64, 0);
    expect_tensor(ckpt, "layers.2.attn.wo_b.weight", "blk.2.attn_output_b.weight", CN_DTYPE_Q8_0, 2, 64, 32, 0);
    expect_tensor(ckpt, "layers.2.attn.attn_sink", "blk.2.attn_sinks.weight", CN_DTYPE_F32, 1, 4, 0, 0);
    /* compressors: CSA (ratio 4, two overlapping windows) and HCA (ratio 8) */
    expect_tensor(ckpt, "layers.2.attn.compressor.wkv.weight", "blk.2.attn_compressor_kv.weight", CN_DTYPE_BF16, 2, 64,
                  64, 0);
    expect_tensor(ckpt, "layers.2.attn.compressor.wgate.weight", "blk.2.attn_compressor_gate.weight", CN_DTYPE_BF16,
                  2, 64, 64, 0);
    expect_tensor(ckpt, "layers.2.attn.compressor.ape", "blk.2.attn_compressor_ape.weight", CN_DTYPE_F32, 2, 4, 64, 0);
    expect_tensor(ckpt, "layers.2.attn.compressor.norm.weight", "blk.2.attn_compressor_norm.weight", CN_DTYPE_F32, 1,
                  32, 0, 0);
    expect_tensor(ckpt, "layers.1.attn.compressor.wkv.weight", "blk.1.attn_compressor_kv.weight", CN_DTYPE_BF16, 2, 32,
                  64, 0);
    expect_tensor(ckpt, "layers.1.attn.compressor.ape", "blk.1.attn_compressor_ape.weight", CN_DTYPE_F32, 2, 8, 32, 0);
    /* indexer (CSA layers only) */
    expect_tensor(ckpt, "layers.4.attn.indexer.wq_b.weight", "blk.4.indexer.attn_q_b.weight", CN_DTYPE_Q8_0, 2, 32,
                  32, 0);
    expect_tensor(ckpt, "layers.4.attn.indexer.weights_proj.weight", "blk.4.indexer.proj.weight", CN_DTYPE_BF16, 2, 2,
                  64, 0);
    expect_tensor(ckpt, "layers.4.attn.indexer.compressor.wkv.weight", "blk.4.indexer_compressor_kv.weight",
                  CN_DTYPE_BF16, 2, 32, 64, 0);
    expect_tensor(ckpt, "layers.4.attn.indexer.compressor.wgate.weight", "blk.4.indexer_compressor_gate.weight",
                  CN_DTYPE_BF16, 2, 32, 64, 0);
    expect_tensor(ckpt, "layers.4.attn.indexer.compressor.ape", "blk.4.indexer_compressor_ape.weight", CN_DTYPE_F32,
                  2, 4, 32, 0);
    expect_tensor(ckpt, "layers.4.attn.indexer.compressor.norm.weight", "blk.4.indexer_compressor_norm.weight",
                  CN_DTYPE_F32, 1, 16, 0, 0);
    CHECK(!cn_checkpoint_find(ckpt, "layers.3.attn.indexer.wq_b.weight"));
    CHECK(!cn_checkpoint_find(ckpt, "layers.0.attn.compressor.wkv.weight"));
    /* MoE: hash layers have tid2eid and no bias; fused experts are [E][out][in] */
    expect_tensor(ckpt, "layers.0.ffn.gate.tid2eid", "blk.0.ffn_gate_tid2eid.weight", CN_DTYPE_I32, 2, 256, 2, 0);
    CHECK(!cn_checkpoint_find(ckpt, "layers.1.ffn.gate.bias"));
    CHECK(!cn_checkpoint_find(ckpt, "layers.2.ffn.gate.tid2eid"));
    expect_tensor(ckpt, "layers.2.ffn.gate.bias", "blk.2.exp_probs_b.bias", CN_DTYPE_F32, 1, 8, 0, 0);
    expect_tensor(ckpt, "layers.4.ffn.gate.weight", "blk.4.ffn_gate_inp.weight", CN_DTYPE_F16, 2, 8, 64, 0);
    expect_tensor(ckpt, "layers.3.ffn.experts.w1.weight", "blk.3.ffn_gate_exps.weight", CN_DTYPE_Q8_0, 3, 8, 32, 64);
    expect_tensor(ckpt, "layers.3.ffn.experts.w3.weight", "blk.3.ffn_up_exps.weight", CN_DTYPE_Q8_0, 3, 8, 32, 64);
    expect_tensor(ckpt, "layers.3.ffn.experts.w2.weight", "blk.3.ffn_down_exps.weight", CN_DTYPE_Q8_0, 3, 8, 64, 32);
    expect_tensor(ckpt, "layers.3.ffn.shared_experts.w1.weight", "blk.3.ffn_gate_shexp.weight", CN_DTYPE_Q8_0, 2, 32,
                  64, 0);
    expect_tensor(ckpt, "layers.3.ffn.shared_experts.w3.weight", "blk.3.ffn_up_shexp.weight", CN_DTYPE_Q8_0, 2, 32,
                  64, 0);
    expect_tensor(ckpt, "layers.3.ffn.shared_experts.w2.weight", "blk.3.ffn_down_shexp.weight", CN_DTYPE_Q8_0, 2, 64,
                  32, 0);

    const uint8_t *base = ckpt->n_files ? ckpt->files[0].data : NULL;
    for (int i = 0; i < ckpt->n_tensors; i++) {
        const cn_tensor_record *t = &ckpt->tensors[i];
        /* every tensor got a canonical name, and its byte size matches dtype and shape */
        CHECKF(strncmp(t->name, "blk.", 4) != 0 && strcmp(t->name, t->source_name) != 0, "%s kept its GGUF name",
               t->name);
        int64_t rows = 1;
        for (int d = 0; d + 1 < t->n_dims; d++) rows *= t->shape[d];
        CHECKF(t->n_bytes == (size_t)rows * cn_dtype_row_bytes(t->dtype, t->shape[t->n_dims - 1]), "%s: %zu bytes",
               t->name, t->n_bytes);
        if (base) CHECKF((size_t)(t->data - base) % 32 == 0, "%s is not 32-byte aligned in the file", t->name);
    }
}

/* ---- values ------------------------------------------------------------------------------------ */

static cn_matrix matrix_of(const cn_tensor_record *t) {
    cn_matrix m = {0};
    m.dtype = t->dtype;
    m.cols = t->shape[t->n_dims - 1];
    m.rows = cn_tensor_elements(t) / m.cols;
    m.data = t->data;
    m.row_bytes = cn_dtype_row_bytes(t->dtype, m.cols);
    return m;
}

/* Largest |original - stored| the storage format allows for value j of the 32-value block
 * original_block: round-to-nearest in F16/BF16; for Q8_0, half a quantisation step of the block
 * (d = amax/127) plus the f16 rounding of d itself (|q| <= 127 times 2^-11 relative). */
static double allowed_error(cn_dtype dtype, const float *original_block, int j) {
    const double v = fabs(original_block[j]);
    switch (dtype) {
    case CN_DTYPE_F32: return 0.0;
    case CN_DTYPE_F16: return v * 0x1p-11 + 0x1p-25;
    case CN_DTYPE_BF16: return v * 0x1p-8;
    case CN_DTYPE_Q8_0: {
        double amax = 0;
        for (int k = 0; k < 32; k++) amax = fmax(amax, fabs(original_block[k]));
        return amax / 127.0 * (0.5 + 127.0 * 0x1p-11) * 1.0001;
    }
    default: return 0.0;
    }
}

static void compare_reference(const cn_checkpoint *ckpt, const cn_gguf *ref) {
    int checked_dequant = 0, checked_original = 0;
    for (size_t i = 0; i < ref->n_tensors; i++) {
        const cn_gguf_tensor_info *r = &ref->tensors[i];
        char name[CN_GGUF_MAX_NAME + 1];
        memcpy(name, r->name.ptr, r->name.len);
        name[r->name.len] = 0;
        char *suffix = strrchr(name, '.');
        if (!suffix) continue;
        const bool dequant = strcmp(suffix, ".dequant") == 0;
        *suffix = 0;
        const cn_tensor_record *t = cn_checkpoint_find(ckpt, name);
        CHECKF(t != NULL, "reference tensor %s not in the checkpoint", name);
        if (!t) continue;
        CHECKF(cn_tensor_elements(t) == (int64_t)(r->n_bytes / 4), "%s: element counts differ", name);
        if (cn_tensor_elements(t) != (int64_t)(r->n_bytes / 4)) continue;
        if (t->dtype == CN_DTYPE_I32) { /* the hash-routing table, converted I64 -> I32 */
            CHECKF(memcmp(t->data, r->data, t->n_bytes) == 0, "%s: integer table differs", name);
            checked_original++;
            continue;
        }
        const cn_matrix m = matrix_of(t);
        float *row = malloc((size_t)m.cols * sizeof *row);
        int bad = 0;
        for (int64_t y = 0; y < m.rows && row; y++) {
            cn_matrix_row_to_f32(&m, y, row);
            const float *want = (const float *)(const void *)r->data + y * m.cols; /* GGUF data is 32-byte aligned */
            for (int64_t x = 0; x < m.cols; x++) {
                /* our dequantisation must equal the gguf package's bit for bit; the stored
                 * value must be within the format's rounding of the original */
                const bool ok = dequant ? memcmp(&row[x], &want[x], 4) == 0
                                        : fabs((double)row[x] - want[x]) <= allowed_error(t->dtype, want + x - x % 32, (int)(x % 32));
                if (!ok && bad++ < 3)
                    fprintf(stderr, "%s[%lld][%lld]: %.9g vs reference %.9g (%s)\n", name, (long long)y, (long long)x,
                            row[x], want[x], dequant ? "dequant" : "original");
            }
        }
        CHECKF(bad == 0, "%s: %d values differ from the reference", name, bad);
        free(row);
        if (dequant) checked_dequant++;
        else checked_original++;
    }
    CHECKF(checked_dequant >= 2 && checked_original >= 6, "compared %d dequantised and %d original tensors",
           checked_dequant, checked_original);
}

/* ---- against the checkpoint the fixture was converted from ------------------------------------- */

/* Row `row` of the source tensor that holds the same values as row `row` of GGUF tensor t:
 * GGUF's fused w1 / w3 experts are the two halves of transformers' w13 = [E][2I][D]. */
static const cn_tensor_record *source_rows(const cn_checkpoint *src, const cn_tensor_record *t, int64_t *row_of_w13,
                                           int64_t *half) {
    *row_of_w13 = 0;
    *half = -1;
    const cn_tensor_record *s = cn_checkpoint_find(src, t->name);
    if (s) return s;
    const char *w = strstr(t->name, ".ffn.experts.w");
    if (!w || (w[14] != '1' && w[14] != '3')) return NULL;
    char name[256];
    snprintf(name, sizeof name, "%.*s.ffn.experts.w13.weight", (int)(w - t->name), t->name);
    *half = w[14] == '1' ? 0 : 1;
    return cn_checkpoint_find(src, name);
}

static void compare_with_source(const cn_checkpoint *ckpt, const char *source_dir) {
    cn_checkpoint src;
    cn_error err = {0};
    cn_status s = cn_checkpoint_open(source_dir, &src, &err);
    CHECKF(s == CN_OK, "source checkpoint %s: %s", source_dir, err.msg);
    if (s) fprintf(stderr, "(the GGUF fixture was converted from %s; rerun scripts/make_gguf_fixture.py)\n", source_dir);
    if (s) return;
    int compared = 0;
    for (int i = 0; i < ckpt->n_tensors; i++) {
        const cn_tensor_record *t = &ckpt->tensors[i];
        int64_t unused, half;
        const cn_tensor_record *o = source_rows(&src, t, &unused, &half);
        CHECKF(o != NULL, "%s is not in %s", t->name, source_dir);
        if (!o) continue;
        const int64_t elements = cn_tensor_elements(t);
        CHECKF(half >= 0 ? cn_tensor_elements(o) == 2 * elements : cn_tensor_elements(o) == elements,
               "%s: %lld elements, the source has %lld", t->name, (long long)elements,
               (long long)cn_tensor_elements(o));
        if (half < 0 ? cn_tensor_elements(o) != elements : cn_tensor_elements(o) != 2 * elements) continue;
        if (t->dtype == CN_DTYPE_I32) { /* tid2eid: I64 in the source */
            int bad = 0;
            for (int64_t k = 0; k < elements; k++) {
                int32_t a;
                int64_t b;
                memcpy(&a, t->data + 4 * k, 4);
                if (o->dtype == CN_DTYPE_I64) memcpy(&b, o->data + 8 * k, 8);
                else { int32_t b32; memcpy(&b32, o->data + 4 * k, 4); b = b32; }
                bad += a != b;
            }
            CHECKF(bad == 0, "%s: %d routing entries differ", t->name, bad);
            compared++;
            continue;
        }
        const cn_matrix m = matrix_of(t), mo = matrix_of(o);
        float *got = malloc((size_t)m.cols * sizeof *got), *want = malloc((size_t)mo.cols * sizeof *want);
        int bad = 0;
        for (int64_t y = 0; y < m.rows && got && want; y++) {
            /* experts: GGUF row y of expert e is row e*2I + half*I + (y mod I) of w13 */
            int64_t src_row = y;
            if (half >= 0) {
                const int64_t I = t->shape[t->n_dims - 2];
                src_row = (y / I) * 2 * I + half * I + y % I;
            }
            cn_matrix_row_to_f32(&m, y, got);
            cn_matrix_row_to_f32(&mo, src_row, want);
            for (int64_t x = 0; x < m.cols; x++)
                if (!(fabs((double)got[x] - want[x]) <= allowed_error(t->dtype, want + x - x % 32, (int)(x % 32))) &&
                    bad++ < 3)
                    fprintf(stderr, "%s[%lld][%lld]: %.9g, source %.9g\n", t->name, (long long)y, (long long)x, got[x],
                            want[x]);
        }
        CHECKF(bad == 0, "%s: %d values differ from %s (if that checkpoint was regenerated, rerun "
                         "scripts/make_gguf_fixture.py)", t->name, bad, source_dir);
        free(got);
        free(want);
        compared++;
    }
    CHECKF(compared == ckpt->n_tensors, "compared %d of %d tensors with %s", compared, ckpt->n_tensors, source_dir);
    cn_checkpoint_close(&src);
}

/* The fixture records the checkpoint it was converted from ("random" when none). */
static void test_against_source(const cn_checkpoint *ckpt, const uint8_t *file, size_t size) {
    cn_gguf g;
    cn_error err = {0};
    if (cn_gguf_parse(file, size, &g, &err) != CN_OK) return;
    cn_gguf_string source;
    char dir[512] = "";
    if (cn_gguf_get_string(&g, "clawnet.fixture.source", &source, &err) == CN_OK && source.len < sizeof dir) {
        memcpy(dir, source.ptr, source.len);
        dir[source.len] = 0;
    }
    cn_gguf_free(&g);
    CHECKF(dir[0], "the fixture does not say where its weights came from");
    if (strcmp(dir, "random") == 0) {
        printf("test_gguf: fixture weights are random; regenerate it once tests/fixtures/tiny exists "
               "to compare with the safetensors checkpoint\n");
        return;
    }
    compare_with_source(ckpt, dir);
}

/* ---- MTP naming --------------------------------------------------------------------------------- */

static void test_mtp_file(const char *path, const char *e_proj_source, const char *norm_source, uint64_t alignment) {
    cn_checkpoint ckpt;
    cn_error err = {0};
    cn_status s = cn_checkpoint_open(path, &ckpt, &err);
    CHECKF(s == CN_OK, "%s: %s", path, err.msg);
    if (s) return;
    CHECK(ckpt.config.n_layers == 5);
    CHECK(ckpt.config.n_mtp_layers == 1);
    CHECK(ckpt.config.vocab_size == 256); /* from deepseek4.vocab_size here */
    expect_tensor(&ckpt, "mtp.0.e_proj.weight", e_proj_source, CN_DTYPE_F32, 2, 64, 64, 0);
    expect_tensor(&ckpt, "mtp.0.norm.weight", norm_source, CN_DTYPE_F32, 1, 64, 0, 0);
    CHECK(cn_checkpoint_find(&ckpt, "mtp.0.attn_norm.weight") != NULL);
    CHECK(cn_checkpoint_find(&ckpt, "mtp.0.hc_head_fn") != NULL);
    CHECK(cn_checkpoint_find(&ckpt, "mtp.0.ffn.experts.w1.weight") != NULL);
    CHECK(cn_checkpoint_find(&ckpt, "layers.4.attn_norm.weight") != NULL);
    CHECK(cn_checkpoint_find(&ckpt, "norm.weight") != NULL);
    for (int i = 0; i < ckpt.n_tensors; i++)
        CHECKF((size_t)(ckpt.tensors[i].data - ckpt.files[0].data) % alignment == 0, "%s misaligned",
               ckpt.tensors[i].name);
    cn_checkpoint_close(&ckpt);
}

static void test_name_mapping(void) {
    static const struct {
        const char *gguf;
        int n_main;
        const char *canonical; /* NULL: not a V4 name */
    } cases[] = {
        {"token_embd.weight", 43, "embed.weight"},
        {"output.weight", 43, "head.weight"},
        {"output_norm.weight", 43, "norm.weight"},
        {"output_hc_fn.weight", 43, "hc_head_fn"},
        {"blk.3.attn_q_a.weight", 43, "layers.3.attn.wq_a.weight"},
        {"blk.42.hc_attn_fn.weight", 43, "layers.42.hc_attn_fn"},
        {"blk.7.exp_probs_b.bias", 43, "layers.7.ffn.gate.bias"},
        {"blk.0.ffn_gate_tid2eid.weight", 43, "layers.0.ffn.gate.tid2eid"},
        {"blk.10.ffn_gate_exps.weight", 43, "layers.10.ffn.experts.w1.weight"},
        {"blk.10.ffn_up_exps.weight", 43, "layers.10.ffn.experts.w3.weight"},
        {"blk.10.ffn_down_exps.weight", 43, "layers.10.ffn.experts.w2.weight"},
        {"blk.2.indexer.attn_q_b.weight", 43, "layers.2.attn.indexer.wq_b.weight"},
        {"blk.2.indexer_compressor_ape.weight", 43, "layers.2.attn.indexer.compressor.ape"},
        {"blk.43.attn_q_a.weight", 43, "mtp.0.attn.wq_a.weight"},
        {"blk.43.nextn.e_proj.weight", 43, "mtp.0.e_proj.weight"},
        {"blk.43.nextn.shared_head_norm.weight", 43, "mtp.0.norm.weight"},
        {"blk.44.nextn.hc_head_scale.weight", 43, "mtp.1.hc_head_scale"},
        {"mtp.0.attn_kv_a_norm.weight", 43, "mtp.0.attn.kv_norm.weight"},
        {"mtp.0.h_proj.weight", 43, "mtp.0.h_proj.weight"},
        {"mtp.0.norm.weight", 43, "mtp.0.norm.weight"},
        {"mtp.0.hc_head_base.weight", 43, "mtp.0.hc_head_base"},
        {"blk.3.nextn.e_proj.weight", 43, NULL}, /* NextN tensors only in MTP blocks */
        {"mtp.0.nextn.e_proj.weight", 43, NULL},
        {"blk.03.attn_q_a.weight", 43, NULL},
        {"blk.-1.attn_q_a.weight", 43, NULL},
        {"blk.3attn_q_a.weight", 43, NULL},
        {"blk.99999999999999999999.attn_q_a.weight", 43, NULL},
        {"blk.3.attn_q_a", 43, NULL},
        {"blk.3.attn_q_a.weight.extra", 43, NULL},
        {"rope_freqs.weight", 43, NULL},
        {"", 43, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128] = "untouched";
        bool known = cn_gguf_canonical_name(cases[i].gguf, cases[i].n_main, out, sizeof out);
        if (cases[i].canonical)
            CHECKF(known && strcmp(out, cases[i].canonical) == 0, "%s -> %s, expected %s", cases[i].gguf,
                   known ? out : "(unknown)", cases[i].canonical);
        else
            CHECKF(!known && strcmp(out, "untouched") == 0, "%s should not map (got %s)", cases[i].gguf, out);
    }
    char tiny[8];
    CHECK(!cn_gguf_canonical_name("blk.3.attn_q_a.weight", 43, tiny, sizeof tiny));
}

/* ---- corrupt files ------------------------------------------------------------------------------ */

/* Loads an exact-size copy of data[0, size) and checks the failure code and message. */
static void expect_failure(const char *what, const uint8_t *data, size_t size, cn_status code, const char *needle) {
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    cn_checkpoint ckpt;
    cn_error err = {0};
    cn_status s = load_memory(copy, size, &ckpt, &err);
    CHECKF(s == code, "%s: got %s (%s), expected %s", what, cn_status_name(s), s ? err.msg : "success",
           cn_status_name(code));
    if (s && needle) CHECKF(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
    cn_checkpoint_close(&ckpt);
    free(copy);
}

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static const cn_gguf_kv *kv_named(const cn_gguf *g, const char *key) {
    const cn_gguf_kv *kv = cn_gguf_find(g, key);
    if (!kv) fprintf(stderr, "fixture has no %s\n", key);
    return kv;
}

/* Byte positions of a tensor info's fields in the file. */
typedef struct {
    size_t n_dims, ne0, type, offset;
} info_fields;

static info_fields tensor_fields(const uint8_t *base, const cn_gguf_tensor_info *t) {
    info_fields f;
    f.n_dims = (size_t)((const uint8_t *)t->name.ptr - base) + t->name.len;
    f.ne0 = f.n_dims + 4;
    f.type = f.ne0 + 8 * (size_t)t->n_dims;
    f.offset = f.type + 4;
    return f;
}

static size_t find_tensor(const cn_gguf *g, const char *name) {
    for (size_t i = 0; i < g->n_tensors; i++)
        if (cn_gguf_string_equals(g->tensors[i].name, name)) return i;
    fprintf(stderr, "fixture has no tensor %s\n", name);
    exit(1);
}

static void test_truncation(const uint8_t *file, size_t size, const cn_gguf *g) {
    /* Every prefix shorter than the header, then prefixes ending inside the tensor data. */
    uint64_t data_end = g->data_offset;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes > data_end)
            data_end = g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes;
    int failures_before = cn_test_failures;
    for (size_t n = 0; n < g->data_offset && cn_test_failures - failures_before < 5; n++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", n);
        expect_failure(what, file, n, CN_ERR_FORMAT, n < 4 ? "truncated" : NULL);
    }
    for (size_t n = g->data_offset; n < data_end; n += 997) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", n);
        expect_failure(what, file, n, CN_ERR_FORMAT, "outside");
    }
    expect_failure("truncated by one byte of data", file, data_end - 1, CN_ERR_FORMAT, "outside");
    /* Only the trailing padding missing: still a complete file. */
    expect_failure("without trailing padding", file, data_end, CN_OK, NULL);
    CHECK(data_end <= size);
}

static void test_corruption(const uint8_t *file, size_t size) {
    cn_gguf g;
    cn_error err = {0};
    if (cn_gguf_parse(file, size, &g, &err) != CN_OK) {
        CHECKF(0, "fixture does not parse: %s", err.msg);
        return;
    }
    uint8_t *buf = malloc(size);
#define RESET() memcpy(buf, file, size)
#define POS(ptr) ((size_t)((const uint8_t *)(ptr) - file))
    RESET();
    buf[0] = 'X';
    expect_failure("wrong magic", buf, size, CN_ERR_FORMAT, "not a GGUF file");
    RESET();
    put_u32(buf + 4, 2);
    expect_failure("version 2", buf, size, CN_ERR_UNSUPPORTED, "version 2");
    put_u32(buf + 4, 4);
    expect_failure("version 4", buf, size, CN_ERR_UNSUPPORTED, "version 4");
    RESET();
    put_u64(buf + 8, UINT64_MAX);
    expect_failure("huge tensor count", buf, size, CN_ERR_FORMAT, "tensors cannot fit");
    RESET();
    put_u64(buf + 8, g.n_tensors + 1);
    expect_failure("one tensor too many", buf, size, CN_ERR_FORMAT, NULL);
    RESET();
    put_u64(buf + 16, UINT64_MAX / 2);
    expect_failure("huge metadata count", buf, size, CN_ERR_FORMAT, "metadata entries cannot fit");
    RESET();
    put_u64(buf + 16, g.n_kv + 1);
    expect_failure("one metadata entry too many", buf, size, CN_ERR_FORMAT, NULL);
    RESET();
    put_u64(buf + 24, (uint64_t)1 << 60);
    expect_failure("huge key length", buf, size, CN_ERR_FORMAT, "claims");

    const cn_gguf_kv *kv;
    if ((kv = kv_named(&g, "general.architecture"))) {
        RESET();
        buf[POS(kv->key.ptr) + kv->key.len] = 13;
        expect_failure("bad value type", buf, size, CN_ERR_FORMAT, "value type 13");
        RESET();
        memcpy(buf + POS(kv->value) + 8, "deepseek2", 9);
        expect_failure("wrong architecture", buf, size, CN_ERR_UNSUPPORTED, "\"deepseek2\"");
        RESET();
        put_u64(buf + POS(kv->value), 1u << 30);
        expect_failure("string past the end", buf, size, CN_ERR_FORMAT, "claims");
    }
    if ((kv = kv_named(&g, "deepseek4.expert_count"))) {
        RESET();
        buf[POS(kv->key.ptr) + kv->key.len - 1] = '_';
        expect_failure("missing key", buf, size, CN_ERR_MISSING, "deepseek4.expert_count");
        RESET();
        put_u32(buf + POS(kv->key.ptr) + kv->key.len, 6); /* uint32 -> float32 */
        expect_failure("key of the wrong type", buf, size, CN_ERR_FORMAT, "must be an integer (it is float32)");
    }
    if ((kv = kv_named(&g, "deepseek4.hyper_connection.count"))) {
        RESET();
        put_u32(buf + POS(kv->value), 0);
        expect_failure("invalid config value", buf, size, CN_ERR_FORMAT, "hc_mult");
    }
    if ((kv = kv_named(&g, "tokenizer.ggml.eos_token_id"))) {
        RESET();
        buf[POS(kv->key.ptr) + strlen("tokenizer.ggml.")] = 'b'; /* eos -> bos */
        expect_failure("duplicate key", buf, size, CN_ERR_FORMAT, "appears twice");
    }
    if ((kv = kv_named(&g, "tokenizer.ggml.tokens"))) {
        RESET();
        put_u64(buf + POS(kv->value) - 8, UINT64_MAX / 4);
        expect_failure("huge array", buf, size, CN_ERR_FORMAT, "array elements");
        RESET();
        put_u32(buf + POS(kv->value) - 12, 77);
        expect_failure("bad array element type", buf, size, CN_ERR_FORMAT, "value type 77");
        RESET();
        put_u64(buf + POS(kv->value), UINT64_MAX); /* first token's length */
        expect_failure("bad string in array", buf, size, CN_ERR_FORMAT, "claims");
    }
    if ((kv = kv_named(&g, "deepseek4.attention.compress_ratios"))) {
        RESET();
        put_u64(buf + POS(kv->value) - 8, 3);
        /* the array is now too short and the following bytes are misread: any clean failure */
        uint8_t *copy = malloc(size);
        memcpy(copy, buf, size);
        cn_checkpoint ckpt;
        cn_status s = load_memory(copy, size, &ckpt, &err);
        CHECKF(s != CN_OK, "short compress_ratios accepted");
        cn_checkpoint_close(&ckpt);
        free(copy);
    }

    const size_t t0 = find_tensor(&g, "token_embd.weight"), t1 = find_tensor(&g, "output.weight");
    const info_fields f0 = tensor_fields(file, &g.tensors[t0]), f1 = tensor_fields(file, &g.tensors[t1]);
    RESET();
    put_u64(buf + f0.offset, (uint64_t)1 << 40);
    expect_failure("tensor offset past the end", buf, size, CN_ERR_FORMAT, "outside");
    RESET();
    put_u64(buf + f0.offset, UINT64_MAX - 31);
    expect_failure("tensor offset near 2^64", buf, size, CN_ERR_FORMAT, "outside");
    RESET();
    put_u64(buf + f0.offset, g.tensors[t0].offset + 1);
    expect_failure("misaligned tensor", buf, size, CN_ERR_FORMAT, "alignment");
    RESET();
    put_u64(buf + f1.offset, g.tensors[t0].offset);
    expect_failure("overlapping tensors", buf, size, CN_ERR_FORMAT, "overlap");
    RESET();
    put_u32(buf + f0.n_dims, 5);
    expect_failure("five dimensions", buf, size, CN_ERR_FORMAT, "5 dimensions");
    RESET();
    put_u64(buf + f0.ne0, (uint64_t)1 << 62);
    expect_failure("element count overflow", buf, size, CN_ERR_FORMAT, "overflow");
    RESET();
    put_u64(buf + f0.ne0 + 8, (uint64_t)1 << 40); /* [64, 2^40] F16: 2^47 bytes, fits u64 */
    expect_failure("tensor larger than the file", buf, size, CN_ERR_FORMAT, "outside");
    RESET();
    put_u32(buf + f0.type, 99);
    expect_failure("unknown ggml type", buf, size, CN_ERR_FORMAT, "unknown ggml type 99");
    RESET();
    put_u32(buf + f0.type, 12); /* Q4_K needs rows of 256 */
    expect_failure("row not a block multiple", buf, size, CN_ERR_FORMAT, "multiple");
    RESET();
    put_u32(buf + f1.type, 2); /* Q4_0 (smaller than the Q8_0 it replaces): valid GGUF, not readable by us */
    expect_failure("unsupported type", buf, size, CN_ERR_UNSUPPORTED, "output.weight has ggml type Q4_0");
    RESET();
    memcpy(buf + POS(g.tensors[t1].name.ptr), "token_", 6); /* output.weight -> token_.weight */
    expect_failure("unknown tensor names are kept", buf, size, CN_OK, NULL);
    const size_t a1 = find_tensor(&g, "blk.1.attn_norm.weight");
    RESET();
    buf[POS(g.tensors[a1].name.ptr) + 4] = '0';
    expect_failure("duplicate tensor name", buf, size, CN_ERR_FORMAT, "appears twice");
    RESET();
    put_u64(buf + POS(g.tensors[a1].name.ptr) - 8, 0);
    expect_failure("empty tensor name", buf, size, CN_ERR_FORMAT, "empty");
    RESET();
    buf[POS(g.tensors[a1].name.ptr) + 1] = 0;
    expect_failure("NUL in tensor name", buf, size, CN_ERR_FORMAT, "NUL");

    test_truncation(file, size, &g);
#undef RESET
#undef POS
    free(buf);
    cn_gguf_free(&g);
}

static void test_alignment_key(void) {
    size_t size;
    uint8_t *file = read_whole_file(FIXTURE_DIR "mtp-nextn.gguf", &size);
    if (!file) {
        CHECK(0);
        return;
    }
    cn_gguf g;
    cn_error err = {0};
    CHECK(cn_gguf_parse(file, size, &g, &err) == CN_OK);
    CHECK(g.alignment == 64);
    const cn_gguf_kv *kv = cn_gguf_find(&g, "general.alignment");
    if (kv) {
        const size_t pos = (size_t)(kv->value - file);
        put_u32(file + pos, 48);
        expect_failure("alignment 48", file, size, CN_ERR_FORMAT, "power of two");
        put_u32(file + pos, 0);
        expect_failure("alignment 0", file, size, CN_ERR_FORMAT, "power of two");
        put_u32(file + pos, 32); /* valid, but tensors were placed for 64: still aligned to 32 */
        expect_failure("alignment 32", file, size, CN_OK, NULL);
        put_u32(file + pos, 64);
    }
    cn_gguf_free(&g);
    free(file);
}

static void test_file_errors(void) {
    cn_checkpoint ckpt;
    cn_error err = {0};
    CHECK(cn_checkpoint_open("tests/fixtures/gguf/no-such-file.gguf", &ckpt, &err) == CN_ERR_IO);
    char path[] = "/tmp/clawnet-test-gguf-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    CHECK(cn_checkpoint_open_gguf(path, &ckpt, &err) == CN_ERR_FORMAT); /* empty file */
    CHECKF(strstr(err.msg, path) && strstr(err.msg, "truncated"), "%s", err.msg);
    size_t size;
    uint8_t *file = read_whole_file(TINY, &size);
    FILE *f = fopen(path, "wb");
    if (file && f) fwrite(file, 1, size / 2, f);
    if (f) fclose(f);
    CHECK(cn_checkpoint_open_gguf(path, &ckpt, &err) == CN_ERR_FORMAT);
    CHECKF(strstr(err.msg, "outside"), "%s", err.msg);
    CHECK(ckpt.n_tensors == 0 && ckpt.n_files == 0); /* failed opens leave nothing behind */
    free(file);
    unlink(path);
}

int main(void) {
    cn_checkpoint ckpt;
    cn_error err = {0};
    cn_status s = cn_checkpoint_open(TINY, &ckpt, &err);
    CHECKF(s == CN_OK, "%s", err.msg);
    if (s == CN_OK) {
        test_config(&ckpt);
        test_inventory(&ckpt);
        size_t ref_size;
        uint8_t *ref_file = read_whole_file(TINY_REF, &ref_size);
        cn_gguf ref;
        if (ref_file && cn_gguf_parse(ref_file, ref_size, &ref, &err) == CN_OK) {
            compare_reference(&ckpt, &ref);
            cn_gguf_free(&ref);
        } else {
            CHECKF(0, "reference %s: %s", TINY_REF, err.msg);
        }
        free(ref_file);
        size_t tiny_size;
        uint8_t *tiny_file = read_whole_file(TINY, &tiny_size);
        if (tiny_file) test_against_source(&ckpt, tiny_file, tiny_size);
        free(tiny_file);
        cn_checkpoint_close(&ckpt);
    }
    test_name_mapping();
    test_mtp_file(FIXTURE_DIR "mtp-nextn.gguf", "blk.5.nextn.e_proj.weight", "blk.5.nextn.shared_head_norm.weight", 64);
    test_mtp_file(FIXTURE_DIR "mtp-ds4.gguf", "mtp.0.e_proj.weight", "mtp.0.norm.weight", 32);
    size_t size;
    uint8_t *file = read_whole_file(TINY, &size);
    if (file) test_corruption(file, size);
    else CHECK(0);
    free(file);
    test_alignment_key();
    test_file_errors();
    return cn_test_finish("test_gguf");
}
