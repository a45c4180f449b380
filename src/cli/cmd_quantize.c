/* clawnet quantize IN OUT.gguf: any checkpoint ClawNet reads (HF directory under any naming, or
 * a GGUF) to a `deepseek4` GGUF v3 with llama.cpp's tensor names, dims order and metadata, the
 * weights requantised by a policy (docs/performance.md "Quantisation policy").
 *
 * Every source tensor is dequantised row by row with cn_matrix_row_to_f32 (BF16, FP8 with block
 * scales, MXFP4, Q8_0, K-quants...) and requantised with src/tensor/quantize.c. Per-expert
 * tensors are fused into llama.cpp's [E][out][in] *_exps tensors and transformers' gate_up is
 * split in two. The file is written to OUT.tmp.XXXXXX beside OUT, read back with the GGUF reader
 * (its configuration must print exactly like the source's), fsync'ed and renamed over OUT, so a
 * crash or an error never leaves a partial file under OUT's name. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "format/checkpoint.h"
#include "format/gguf.h"
#include "tensor/element.h"
#include "tensor/matrix.h"
#include "tensor/quantize.h"
#include "base/mapped_file.h"
#include "text/tokenizer_export.h"
#include "text/tokenizer_gguf.h"

#define ALIGN 32

static void quantize_usage(FILE *f) {
    fputs("usage: clawnet quantize IN OUT.gguf [--policy default|q4|q2|q8|bf16]\n"
          "                        [--override 'PATTERN=TYPE' ...] [--keep-mtp] [-t THREADS]\n"
          "\n"
          "Writes IN (a checkpoint directory under any tensor naming, or a GGUF) as a GGUF v3 file\n"
          "with llama.cpp's `deepseek4` tensor names and metadata, requantised by a policy:\n"
          "  default  routed experts Q4_K; shared experts, attention, router, indexer, compressors,\n"
          "           MTP projections, embedding and head Q8_0; mHC, norms, sinks, ape, biases F32\n"
          "  q4       as default, and the shared experts Q4_K too\n"
          "  q8       every matrix Q8_0 (mHC, norms... F32)\n"
          "  bf16     every matrix BF16 (mHC, norms... F32)\n"
          "  q2       as default, with the routed experts Q2_K\n"
          "  --override 'PATTERN=TYPE'  glob on the canonical name (layers.3.attn.wq_a.weight,\n"
          "           layers.3.ffn.experts.w1.weight for the fused experts) or the GGUF name\n"
          "           (blk.3.attn_q_a.weight); TYPE f32, f16, bf16, q8_0, q4_k or q2_k; the last match wins\n"
          "Rows whose width is not a multiple of the type's block (32 for Q8_0, 256 for Q4_K/Q2_K) fall\n"
          "back to Q8_0, then F32, and are reported. The tokenizer (IN/tokenizer.json, or IN's own\n"
          "tokenizer.ggml.* keys) is written as llama.cpp's converter writes it (gpt2, deepseek-v3).\n"
          "The file loads in llama.cpp (docs/llama_cpp.md). As llama.cpp's converter does, it leaves out\n"
          "the MTP block and hash-routed layers' unused router bias; --keep-mtp keeps the MTP block\n"
          "(ClawNet reads it; llama.cpp then refuses the file).\n",
          f);
}

typedef enum { POLICY_DEFAULT, POLICY_Q4, POLICY_Q2, POLICY_Q8, POLICY_BF16 } policy;

typedef struct {
    const char *pattern;
    cn_dtype type;
    int matched;
} override_rule;

typedef struct {
    char canonical[192], gguf[128];
    int n_dims;
    int64_t shape[CN_MAX_DIMS]; /* outermost first */
    int64_t rows, cols;         /* rows = product of the outer dims */
    bool integer;               /* I32/I64 copied as I32 */
    const cn_tensor_record *rec;
    cn_matrix *segs;            /* float tensors: output rows are the segments' rows in order */
    int n_segs;
    int64_t seg_rows;
    cn_dtype src, out;
    uint64_t offset, n_bytes;
} out_tensor;

typedef struct {
    out_tensor *t;
    int n, cap;
} plan;

/* ---- small helpers ---------------------------------------------------------------------------- */

static uint32_t ggml_type_of(cn_dtype t) {
    switch (t) {
    case CN_DTYPE_F32: return 0;
    case CN_DTYPE_F16: return 1;
    case CN_DTYPE_Q8_0: return 8;
    case CN_DTYPE_Q2_K: return 10;
    case CN_DTYPE_Q4_K: return 12;
    case CN_DTYPE_I32: return 26;
    case CN_DTYPE_BF16: return 30;
    default: return 0;
    }
}

static bool parse_type(const char *s, cn_dtype *out) {
    static const struct {
        const char *name;
        cn_dtype t;
    } types[] = {{"f32", CN_DTYPE_F32}, {"f16", CN_DTYPE_F16}, {"bf16", CN_DTYPE_BF16}, {"q8_0", CN_DTYPE_Q8_0},
                 {"q4_k", CN_DTYPE_Q4_K}, {"q2_k", CN_DTYPE_Q2_K}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(s, types[i].name)) {
            *out = types[i].t;
            return true;
        }
    return false;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The part of a canonical name after "layers.N." / "mtp.K." (the whole name otherwise). */
static const char *block_suffix(const char *name) {
    const char *p = NULL;
    if (!strncmp(name, "layers.", 7)) p = name + 7;
    else if (!strncmp(name, "mtp.", 4)) p = name + 4;
    if (!p) return name;
    while (*p >= '0' && *p <= '9') p++;
    return *p == '.' ? p + 1 : name;
}

/* The policy's type for a float tensor. */
static cn_dtype policy_type(policy pol, const out_tensor *t) {
    const char *s = block_suffix(t->canonical);
    if (t->n_dims == 1 || strstr(s, "hc_") == s || strstr(s, "norm") || ends_with(s, "attn_sink") ||
        ends_with(s, "ape") || ends_with(s, ".bias"))
        return CN_DTYPE_F32;
    if (pol == POLICY_BF16) return CN_DTYPE_BF16;
    if (pol == POLICY_Q8) return CN_DTYPE_Q8_0;
    if (!strncmp(s, "ffn.experts.", 12)) return pol == POLICY_Q2 ? CN_DTYPE_Q2_K : CN_DTYPE_Q4_K;
    if (!strncmp(s, "ffn.shared_experts.", 19)) return pol == POLICY_Q4 ? CN_DTYPE_Q4_K : CN_DTYPE_Q8_0;
    return CN_DTYPE_Q8_0;
}

/* A record as a [rows][cols] matrix (3-D tensors flattened), FP8/MXFP4 with their scales. */
static cn_status record_matrix(const cn_checkpoint *ck, const cn_tensor_record *r, cn_matrix *m, cn_error *err) {
    memset(m, 0, sizeof *m);
    int64_t rows = 1;
    for (int d = 0; d + 1 < r->n_dims; d++) rows *= r->shape[d];
    int64_t cols = r->n_dims ? r->shape[r->n_dims - 1] : 1;
    m->rows = rows;
    m->cols = cols;
    m->dtype = r->dtype;
    if (r->dtype == CN_DTYPE_F8_E4M3 || r->dtype == CN_DTYPE_I8) {
        if (r->n_dims != 2)
            return cn_fail(err, CN_ERR_UNSUPPORTED, "tensor %s: %d-D FP8/FP4 tensors are not supported", r->source_name,
                           r->n_dims);
        char scale_name[256];
        size_t n = strlen(r->name);
        if (!ends_with(r->name, ".weight") || n + 1 > sizeof scale_name)
            return cn_fail(err, CN_ERR_UNSUPPORTED, "tensor %s: quantised weight without a .scale companion", r->name);
        snprintf(scale_name, sizeof scale_name, "%.*s.scale", (int)(n - 7), r->name);
        const cn_tensor_record *s = cn_checkpoint_find(ck, scale_name);
        if (!s || s->dtype != CN_DTYPE_F8_E8M0 || s->n_dims != 2)
            return cn_fail(err, CN_ERR_UNSUPPORTED, "tensor %s: no F8_E8M0 2-D scale tensor %s", r->name, scale_name);
        int64_t srows, scols;
        if (r->dtype == CN_DTYPE_F8_E4M3) {
            srows = (rows + 127) / 128;
            scols = (cols + 127) / 128;
        } else {
            m->dtype = CN_DTYPE_MXFP4;
            m->cols = cols = 2 * cols;
            srows = rows;
            scols = cols / 32;
        }
        if (s->shape[0] != srows || s->shape[1] != scols)
            return cn_fail(err, CN_ERR_SHAPE, "scale %s has the wrong shape for %s", s->source_name, r->source_name);
        m->scales = s->data;
        m->scale_cols = scols;
    }
    m->row_bytes = cn_dtype_row_bytes(m->dtype, cols);
    if (!m->row_bytes || (size_t)rows * m->row_bytes != r->n_bytes)
        return cn_fail(err, CN_ERR_SHAPE, "tensor %s: %zu bytes do not match its shape and type %s", r->source_name,
                       r->n_bytes, cn_dtype_name(r->dtype));
    m->data = r->data;
    return CN_OK;
}

static out_tensor *plan_add(plan *p, cn_error *err) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        out_tensor *grown = realloc(p->t, (size_t)cap * sizeof *grown);
        if (!grown) {
            cn_fail(err, CN_ERR_NOMEM, "out of memory");
            return NULL;
        }
        p->t = grown;
        p->cap = cap;
    }
    out_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static void plan_free(plan *p) {
    for (int i = 0; i < p->n; i++) free(p->t[i].segs);
    free(p->t);
}

/* Finishes a float tensor from its segments (each seg_rows x cols). */
static cn_status set_segments(out_tensor *t, cn_matrix *segs, int n, cn_error *err) {
    t->segs = segs;
    t->n_segs = n;
    t->seg_rows = segs[0].rows;
    t->cols = segs[0].cols;
    t->rows = t->seg_rows * n;
    t->src = segs[0].dtype;
    for (int i = 1; i < n; i++)
        if (segs[i].rows != t->seg_rows || segs[i].cols != t->cols)
            return cn_fail(err, CN_ERR_SHAPE, "tensor %s: its parts differ in shape", t->canonical);
    return CN_OK;
}

/* "<prefix>ffn.experts.<E>.w<k>.weight" -> prefix length, E and k. */
static bool per_expert_name(const char *name, size_t *prefix_len, long *e, int *k) {
    const char *p = strstr(name, "ffn.experts.");
    if (!p) return false;
    const char *q = p + 12;
    char *end;
    if (*q < '0' || *q > '9') return false;
    *e = strtol(q, &end, 10);
    if (end[0] != '.' || end[1] != 'w' || end[2] < '1' || end[2] > '3' || strcmp(end + 3, ".weight")) return false;
    *k = end[2] - '0';
    *prefix_len = (size_t)(p - name);
    return true;
}

/* Why a tensor of the plan is not written, or NULL. llama.cpp refuses a file holding any tensor its
 * loader does not create ("wrong number of tensors"), so these two go:
 *  - the router bias of a hash-routed layer: llama.cpp creates exp_probs_b only for layers at or past
 *    hash_layer_count (src/models/deepseek4.cpp), and hash layers route by tid2eid alone
 *    (specs/deepseek-v4.md 7: no bias tensor; weights.c binds none there); its converter drops it too;
 *  - the MTP block unless keep_mtp: llama.cpp's converter leaves MTP out of the main GGUF (it writes
 *    it to a separate mtp-*.gguf with the block's hc_head as the root hc_head and e_proj/h_proj fused
 *    into nextn.eh_proj), and a combined file has no place for the MTP block's own hc_head. */
static const char *left_out_reason(const cn_model_config *c, const char *canonical, bool keep_mtp) {
    if (!keep_mtp && !strncmp(canonical, "mtp.", 4)) return "mtp";
    long layer;
    int n = 0;
    if (sscanf(canonical, "layers.%ld.ffn.gate.bias%n", &layer, &n) == 1 && canonical[n] == 0 && layer >= 0 &&
        layer < c->n_layers && c->hash_moe[layer])
        return "hash";
    return NULL;
}

static cn_status build_plan(const cn_checkpoint *ck, bool keep_mtp, plan *p, int *n_mtp_left_out, cn_error *err) {
    const int L = ck->config.n_layers;
    const int64_t E = ck->config.n_routed_experts;
    cn_status s;
    for (int i = 0; i < ck->n_tensors; i++) {
        const cn_tensor_record *r = &ck->tensors[i];
        if (ends_with(r->name, ".scale")) { /* FP8/FP4 block scales travel with their weight */
            char w[256];
            snprintf(w, sizeof w, "%.*s.weight", (int)(strlen(r->name) - 6), r->name);
            const cn_tensor_record *wr = cn_checkpoint_find(ck, w);
            if (wr && (wr->dtype == CN_DTYPE_F8_E4M3 || wr->dtype == CN_DTYPE_I8)) continue;
        }
        size_t plen;
        long e;
        int k;
        const int n_before = p->n;
        if (per_expert_name(r->name, &plen, &e, &k)) {
            if (e != 0) continue; /* expert 0 gathers all of them */
            out_tensor *t = plan_add(p, err);
            if (!t) return err->code;
            snprintf(t->canonical, sizeof t->canonical, "%.*sffn.experts.w%d.weight", (int)plen, r->name, k);
            cn_matrix *segs = calloc((size_t)E, sizeof *segs);
            if (!segs) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
            t->segs = segs;
            for (int64_t x = 0; x < E; x++) {
                char name[256];
                snprintf(name, sizeof name, "%.*sffn.experts.%lld.w%d.weight", (int)plen, r->name, (long long)x, k);
                const cn_tensor_record *xr = cn_checkpoint_find(ck, name);
                if (!xr) return cn_fail(err, CN_ERR_MISSING, "tensor %s is missing", name);
                if ((s = record_matrix(ck, xr, &segs[x], err))) return s;
            }
            if ((s = set_segments(t, segs, (int)E, err))) return s;
            t->n_dims = 3;
            t->shape[0] = E;
            t->shape[1] = t->seg_rows;
            t->shape[2] = t->cols;
        } else if (ends_with(r->name, "ffn.experts.w13.weight")) {
            if (r->n_dims != 3 || r->shape[1] % 2)
                return cn_fail(err, CN_ERR_SHAPE, "tensor %s: expected [E][2I][D]", r->source_name);
            cn_matrix all;
            if ((s = record_matrix(ck, r, &all, err))) return s;
            const int64_t n_e = r->shape[0], I = r->shape[1] / 2;
            for (int half = 0; half < 2; half++) {
                out_tensor *t = plan_add(p, err);
                if (!t) return err->code;
                snprintf(t->canonical, sizeof t->canonical, "%.*sw%d.weight", (int)(strlen(r->name) - 10), r->name,
                         half ? 3 : 1);
                cn_matrix *segs = calloc((size_t)n_e, sizeof *segs);
                if (!segs) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
                t->segs = segs;
                for (int64_t x = 0; x < n_e; x++) segs[x] = cn_matrix_rows(&all, x * 2 * I + half * I, I);
                if ((s = set_segments(t, segs, (int)n_e, err))) return s;
                t->n_dims = 3;
                t->shape[0] = n_e;
                t->shape[1] = I;
                t->shape[2] = all.cols;
            }
        } else {
            out_tensor *t = plan_add(p, err);
            if (!t) return err->code;
            snprintf(t->canonical, sizeof t->canonical, "%s", r->name);
            t->n_dims = r->n_dims;
            memcpy(t->shape, r->shape, sizeof t->shape);
            t->rec = r;
            if (r->dtype == CN_DTYPE_I32 || r->dtype == CN_DTYPE_I64) {
                t->integer = true;
                t->src = r->dtype;
                t->rows = 1;
                t->cols = cn_tensor_elements(r);
            } else {
                cn_matrix *segs = calloc(1, sizeof *segs);
                if (!segs) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
                t->segs = segs;
                if ((s = record_matrix(ck, r, segs, err)) || (s = set_segments(t, segs, 1, err))) return s;
                if (r->dtype == CN_DTYPE_I8) t->shape[t->n_dims - 1] *= 2;
            }
        }
        for (int j = n_before; j < p->n; j++) {
            out_tensor *t = &p->t[j];
            const char *why = left_out_reason(&ck->config, t->canonical, keep_mtp);
            const bool named = !why && cn_gguf_name_from_canonical(t->canonical, L, t->gguf, sizeof t->gguf);
            if (!named) {
                if (!why)
                    fprintf(stderr, "clawnet quantize: warning: %s has no deepseek4 GGUF name; left out\n", t->canonical);
                else if (!strcmp(why, "mtp"))
                    ++*n_mtp_left_out;
                free(t->segs);
                memmove(t, t + 1, (size_t)(p->n - j - 1) * sizeof *t);
                p->n--;
                j--;
            }
        }
    }
    return CN_OK;
}

/* ---- metadata --------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    uint64_t count;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void key(buf *b, const char *k, cn_gguf_value_type t) {
    char full[128];
    if (strchr(k, '.') && (!strncmp(k, "general.", 8) || !strncmp(k, "tokenizer.", 10))) snprintf(full, sizeof full, "%s", k);
    else snprintf(full, sizeof full, "deepseek4.%s", k);
    put_str(b, full);
    put_u32(b, t);
    b->count++;
}
static void kv_u32(buf *b, const char *k, int64_t v) {
    key(b, k, CN_GGUF_UINT32);
    put_u32(b, (uint32_t)v);
}
static void kv_f32(buf *b, const char *k, double v) {
    key(b, k, CN_GGUF_FLOAT32);
    float f = (float)v;
    put(b, &f, 4);
}
static void kv_bool(buf *b, const char *k, bool v) {
    key(b, k, CN_GGUF_BOOL);
    uint8_t x = v;
    put(b, &x, 1);
}
static void kv_str(buf *b, const char *k, const char *v) {
    key(b, k, CN_GGUF_STRING);
    put_str(b, v);
}

static cn_status write_metadata(const cn_model_config *c, policy pol, int n_mtp, buf *b, cn_error *err) {
    int n_hash = 0;
    while (n_hash < c->n_layers && c->hash_moe[n_hash]) n_hash++;
    for (int l = 0; l <= c->n_layers; l++) {
        if (l < c->n_layers && c->hash_moe[l] != (l < n_hash))
            return cn_fail(err, CN_ERR_UNSUPPORTED, "hash-routed layers are not a prefix of the stack; GGUF "
                                                    "(deepseek4.hash_layer_count) cannot express that");
        if (l < c->n_layers && c->has_indexer[l] != (c->compress_ratio[l] == 4))
            return cn_fail(err, CN_ERR_UNSUPPORTED, "layer %d: indexer presence does not follow compress ratio 4, "
                                                    "which a deepseek4 GGUF cannot express", l);
    }
    if (c->rope_main.yarn) return cn_fail(err, CN_ERR_UNSUPPORTED, "YaRN on the main rope cannot be written to GGUF");
    static const int file_types[] = {[POLICY_DEFAULT] = 15, [POLICY_Q4] = 15, [POLICY_Q2] = 10, [POLICY_Q8] = 7, [POLICY_BF16] = 32};
    kv_str(b, "general.architecture", "deepseek4");
    kv_str(b, "general.name", "DeepSeek-V4 (clawnet quantize)");
    kv_u32(b, "general.file_type", file_types[pol]);
    kv_u32(b, "general.quantization_version", 2);
    kv_u32(b, "general.alignment", ALIGN);
    kv_u32(b, "block_count", c->n_layers + n_mtp);
    if (n_mtp) kv_u32(b, "nextn_predict_layers", n_mtp);
    kv_u32(b, "vocab_size", c->vocab_size);
    kv_u32(b, "context_length", c->max_position_embeddings);
    kv_u32(b, "embedding_length", c->hidden_size);
    kv_u32(b, "embedding_length_out", c->hidden_size * c->hc_mult); /* as llama.cpp's converter writes it */
    kv_u32(b, "attention.head_count", c->n_heads);
    kv_u32(b, "attention.head_count_kv", 1);
    kv_u32(b, "attention.key_length", c->head_dim);
    kv_u32(b, "attention.value_length", c->head_dim);
    kv_u32(b, "attention.q_lora_rank", c->q_lora_rank);
    kv_u32(b, "attention.output_group_count", c->o_groups);
    kv_u32(b, "attention.output_lora_rank", c->o_lora_rank);
    kv_u32(b, "attention.sliding_window", c->sliding_window);
    kv_f32(b, "attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    kv_u32(b, "attention.indexer.head_count", c->index_n_heads);
    kv_u32(b, "attention.indexer.key_length", c->index_head_dim);
    kv_u32(b, "attention.indexer.top_k", c->index_topk);
    key(b, "attention.compress_ratios", CN_GGUF_ARRAY);
    put_u32(b, CN_GGUF_UINT32);
    put_u64(b, (uint64_t)c->n_layers + 1);
    for (int l = 0; l <= c->n_layers; l++) put_u32(b, (uint32_t)c->compress_ratio[l]);
    kv_f32(b, "attention.compress_rope_freq_base", c->rope_compress.theta);
    kv_u32(b, "rope.dimension_count", c->rope_dim);
    kv_f32(b, "rope.freq_base", c->rope_main.theta);
    if (c->rope_compress.yarn) {
        kv_str(b, "rope.scaling.type", "yarn");
        kv_f32(b, "rope.scaling.factor", c->rope_compress.yarn_factor);
        kv_u32(b, "rope.scaling.original_context_length", c->rope_compress.yarn_original_max_position);
        kv_f32(b, "rope.scaling.yarn_beta_fast", c->rope_compress.yarn_beta_fast);
        kv_f32(b, "rope.scaling.yarn_beta_slow", c->rope_compress.yarn_beta_slow);
    }
    kv_u32(b, "expert_count", c->n_routed_experts);
    kv_u32(b, "expert_used_count", c->n_experts_per_tok);
    kv_u32(b, "expert_shared_count", c->n_shared_experts);
    kv_u32(b, "expert_feed_forward_length", c->moe_intermediate_size);
    kv_f32(b, "expert_weights_scale", c->routed_scaling_factor);
    kv_bool(b, "expert_weights_norm", c->norm_topk_prob);
    /* llama.cpp's deepseek4 loader requires it and refuses anything but LLAMA_EXPERT_GATING_FUNC_TYPE_
     * SQRT_SOFTPLUS = 4 (src/models/deepseek4.cpp load_arch_hparams); V4 scores with sqrt(softplus). */
    kv_u32(b, "expert_gating_func", 4);
    kv_u32(b, "hash_layer_count", n_hash);
    kv_f32(b, "swiglu_clamp_exp", c->swiglu_limit);
    kv_f32(b, "swiglu_clamp_shexp", c->swiglu_limit);
    kv_u32(b, "hyper_connection.count", c->hc_mult);
    kv_u32(b, "hyper_connection.sinkhorn_iterations", c->hc_sinkhorn_iters);
    kv_f32(b, "hyper_connection.epsilon", c->hc_eps);
    kv_u32(b, "tokenizer.ggml.bos_token_id", c->bos_token_id);
    kv_u32(b, "tokenizer.ggml.eos_token_id", c->eos_token_id);
    return b->oom ? cn_fail(err, CN_ERR_NOMEM, "out of memory") : CN_OK;
}

/* ---- tokenizer -------------------------------------------------------------------------------- */

/* IN's tokenizer: IN/tokenizer.json for a directory, the tokenizer.ggml.* keys of a GGUF (*pre is
 * then its tokenizer.ggml.pre). *tok stays NULL when IN has none. */
static cn_status source_tokenizer(const char *in, cn_tokenizer **tok, char *pre, size_t pre_size, cn_error *err) {
    *tok = NULL;
    snprintf(pre, pre_size, "deepseek-v3");
    struct stat st;
    if (stat(in, &st)) return CN_OK; /* cn_checkpoint_open already said why */
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(in) + sizeof "/tokenizer.json";
        char *path = malloc(n);
        if (!path) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        snprintf(path, n, "%s/tokenizer.json", in);
        cn_status s = access(path, F_OK) ? CN_OK : cn_tokenizer_load(path, tok, err);
        free(path);
        return s;
    }
    cn_mapped_file file;
    cn_status s = cn_mapped_file_open(in, &file, err);
    if (s) return s;
    cn_gguf g;
    if (!(s = cn_gguf_parse(file.data, file.size, &g, err))) {
        cn_gguf_string name;
        cn_error ignored = {0};
        if (cn_gguf_has_tokenizer(&g)) {
            s = cn_tokenizer_from_gguf(&g, tok, err);
            if (!s && !cn_gguf_get_string(&g, "tokenizer.ggml.pre", &name, &ignored) && name.len < pre_size)
                snprintf(pre, pre_size, "%.*s", (int)name.len, name.ptr);
        }
        cn_gguf_free(&g);
    }
    cn_mapped_file_close(&file);
    if (s) cn_error_prefix(err, "%s", in);
    return s;
}

static void kv_strings(buf *b, const char *k, char *const *s, const size_t *len, uint64_t n) {
    key(b, k, CN_GGUF_ARRAY);
    put_u32(b, CN_GGUF_STRING);
    put_u64(b, n);
    for (uint64_t i = 0; i < n; i++) {
        size_t l = len ? len[i] : strlen(s[i]);
        put_u64(b, l);
        put(b, s[i], l);
    }
}

/* tokenizer.ggml.{model,pre,tokens,token_type,merges} (bos/eos come with the configuration). */
static cn_status write_tokenizer(const cn_tokenizer *tok, const char *pre, int32_t n_vocab, buf *b, int32_t *n_tokens,
                                 size_t *n_merges, cn_error *err) {
    cn_tokenizer_vocab v;
    cn_status s = cn_tokenizer_export_vocab(tok, n_vocab, &v, err);
    if (s) return s;
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", pre);
    kv_strings(b, "tokenizer.ggml.tokens", v.tokens, v.token_len, (uint64_t)v.n_tokens);
    key(b, "tokenizer.ggml.token_type", CN_GGUF_ARRAY);
    put_u32(b, CN_GGUF_INT32);
    put_u64(b, (uint64_t)v.n_tokens);
    put(b, v.types, (size_t)v.n_tokens * sizeof *v.types);
    kv_strings(b, "tokenizer.ggml.merges", v.merges, NULL, v.n_merges);
    *n_tokens = v.n_tokens;
    *n_merges = v.n_merges;
    cn_tokenizer_vocab_free(&v);
    return b->oom ? cn_fail(err, CN_ERR_NOMEM, "out of memory") : CN_OK;
}

/* ---- tensor data ------------------------------------------------------------------------------ */

typedef struct {
    const out_tensor *t;
    int64_t row0;
    uint8_t *out;
    size_t out_row_bytes;
    float *scratch; /* one row per thread slot, indexed by the range's first row / chunk */
    int64_t rows_per_slot;
} chunk_job;

static void quantize_rows(void *ctx, int64_t begin, int64_t end) {
    const chunk_job *j = ctx;
    const out_tensor *t = j->t;
    float *row = malloc((size_t)t->cols * sizeof *row);
    if (!row) abort();
    for (int64_t i = begin; i < end; i++) {
        const int64_t r = j->row0 + i;
        cn_matrix_row_to_f32(&t->segs[r / t->seg_rows], r % t->seg_rows, row);
        uint8_t *o = j->out + (size_t)i * j->out_row_bytes;
        switch (t->out) {
        case CN_DTYPE_Q8_0: cn_quantize_row_q8_0(row, t->cols, o); break;
        case CN_DTYPE_Q4_K: cn_quantize_row_q4_k(row, t->cols, o); break;
        case CN_DTYPE_Q2_K: cn_quantize_row_q2_k(row, t->cols, o); break;
        case CN_DTYPE_F32: memcpy(o, row, (size_t)t->cols * 4); break;
        case CN_DTYPE_BF16:
            for (int64_t c = 0; c < t->cols; c++) {
                uint16_t h = cn_f32_to_bf16(row[c]);
                memcpy(o + 2 * c, &h, 2);
            }
            break;
        default:
            for (int64_t c = 0; c < t->cols; c++) {
                uint16_t h = cn_f32_to_f16(row[c]);
                memcpy(o + 2 * c, &h, 2);
            }
            break;
        }
    }
    free(row);
}

static void progress(int i, int n, const char *name, uint64_t done, uint64_t total, double t0) {
    if (!isatty(2)) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const double el = ts.tv_sec + ts.tv_nsec * 1e-9 - t0;
    const double eta = done ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r\033[K[%d/%d] %-36.36s %8.1f / %.1f MiB  ETA %.0fs", i, n, name, done / 1048576.0,
            total / 1048576.0, eta);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cn_status write_all(FILE *f, const void *p, size_t n, const char *path, cn_error *err) {
    if (n && fwrite(p, 1, n, f) != n) return cn_fail(err, CN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return CN_OK;
}

static cn_status write_tensor(FILE *f, const out_tensor *t, cn_threadpool *pool, int idx, int n, uint64_t *done,
                              uint64_t total, double t0, const char *path, cn_error *err) {
    if (t->integer) {
        int32_t *v = malloc((size_t)t->cols * 4);
        if (!v) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < t->cols; i++) {
            int64_t x;
            if (t->src == CN_DTYPE_I64) memcpy(&x, t->rec->data + 8 * i, 8);
            else {
                int32_t y;
                memcpy(&y, t->rec->data + 4 * i, 4);
                x = y;
            }
            if (x < INT32_MIN || x > INT32_MAX) {
                free(v);
                return cn_fail(err, CN_ERR_FORMAT, "tensor %s: value %lld does not fit I32", t->canonical, (long long)x);
            }
            v[i] = (int32_t)x;
        }
        cn_status s = write_all(f, v, (size_t)t->cols * 4, path, err);
        free(v);
        *done += t->n_bytes;
        return s;
    }
    const size_t row_bytes = cn_dtype_row_bytes(t->out, t->cols);
    int64_t chunk = (int64_t)((64u << 20) / row_bytes);
    if (chunk < 1) chunk = 1;
    if (chunk > t->rows) chunk = t->rows;
    uint8_t *out = malloc((size_t)chunk * row_bytes);
    if (!out) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status s = CN_OK;
    for (int64_t r = 0; r < t->rows && !s; r += chunk) {
        const int64_t m = t->rows - r < chunk ? t->rows - r : chunk;
        chunk_job j = {.t = t, .row0 = r, .out = out, .out_row_bytes = row_bytes};
        cn_parallel_for(pool, m, quantize_rows, &j);
        s = write_all(f, out, (size_t)m * row_bytes, path, err);
        *done += (uint64_t)m * row_bytes;
        progress(idx + 1, n, t->gguf, *done, total, t0);
    }
    free(out);
    return s;
}

/* ---- the command ------------------------------------------------------------------------------ */

static char *config_text(const cn_model_config *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    cn_model_config_print(c, f);
    fclose(f);
    return text;
}

static cn_status quantize(const char *in, const char *out_path, policy pol, override_rule *rules, int n_rules,
                          int threads, bool keep_mtp, cn_error *err) {
    cn_checkpoint ck;
    cn_status s = cn_checkpoint_open(in, &ck, err);
    if (s) return s;
    plan p = {0};
    buf meta = {0}, infos = {0};
    cn_threadpool *pool = NULL;
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1;
    int n_mtp_left_out = 0;
    if ((s = build_plan(&ck, keep_mtp, &p, &n_mtp_left_out, err))) goto done;
    const int n_mtp = keep_mtp ? ck.config.n_mtp_layers : 0;
    if (n_mtp_left_out)
        fprintf(stderr, "clawnet quantize: left out the MTP block's %d tensors, as llama.cpp's converter does "
                        "(--keep-mtp writes them, in a layout llama.cpp cannot load)\n", n_mtp_left_out);
    if ((s = write_metadata(&ck.config, pol, n_mtp, &meta, err))) goto done;
    int32_t n_tok = 0;
    size_t n_merges = 0;
    {
        cn_tokenizer *tok = NULL;
        char pre[64];
        if (!(s = source_tokenizer(in, &tok, pre, sizeof pre, err)) && tok)
            s = write_tokenizer(tok, pre, (int32_t)ck.config.vocab_size, &meta, &n_tok, &n_merges, err);
        const bool have = tok != NULL;
        cn_tokenizer_free(tok);
        if (s) goto done;
        if (!have) {
            /* llama.cpp's vocabulary loader requires tokenizer.ggml.model; "none" is its spelling for
             * a model without one (it then makes vocab_size placeholder tokens: src/llama-vocab.cpp). */
            kv_str(&meta, "tokenizer.ggml.model", "none");
            fprintf(stderr, "clawnet quantize: %s has no tokenizer (tokenizer.json or tokenizer.ggml.*); "
                            "none written: give clawnet run --tokenizer\n", in);
        }
    }

    /* Types, fallbacks, offsets. */
    uint64_t offset = 0;
    int n_fallback = 0;
    for (int i = 0; i < p.n; i++) {
        out_tensor *t = &p.t[i];
        if (t->integer) t->out = CN_DTYPE_I32;
        else {
            t->out = policy_type(pol, t);
            for (int k = 0; k < n_rules; k++)
                if (!fnmatch(rules[k].pattern, t->canonical, 0) || !fnmatch(rules[k].pattern, t->gguf, 0)) {
                    t->out = rules[k].type;
                    rules[k].matched++;
                }
            cn_dtype want = t->out;
            while (cn_dtype_row_bytes(t->out, t->cols) == 0)
                t->out = t->out == CN_DTYPE_Q4_K || t->out == CN_DTYPE_Q2_K ? CN_DTYPE_Q8_0 : CN_DTYPE_F32;
            if (want != t->out) {
                n_fallback++;
                fprintf(stderr, "clawnet quantize: %s: %lld columns are not a multiple of the %s block; wrote %s\n",
                        t->gguf, (long long)t->cols, cn_dtype_name(want), cn_dtype_name(t->out));
            }
        }
        t->n_bytes = t->integer ? (uint64_t)t->cols * 4 : (uint64_t)t->rows * cn_dtype_row_bytes(t->out, t->cols);
        t->offset = offset;
        offset += (t->n_bytes + ALIGN - 1) / ALIGN * ALIGN;
        put_str(&infos, t->gguf);
        put_u32(&infos, (uint32_t)t->n_dims);
        for (int d = t->n_dims - 1; d >= 0; d--) put_u64(&infos, (uint64_t)t->shape[d]);
        put_u32(&infos, ggml_type_of(t->out));
        put_u64(&infos, t->offset);
    }
    for (int k = 0; k < n_rules; k++)
        if (!rules[k].matched) fprintf(stderr, "clawnet quantize: warning: --override %s matched no tensor\n", rules[k].pattern);
    if (infos.oom) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }

    /* Temp file beside OUT. */
    tmp = malloc(strlen(out_path) + 16);
    if (!tmp) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    sprintf(tmp, "%s.tmp.XXXXXX", out_path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        s = cn_fail(err, CN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    fchmod(fd, 0644);
    f = fdopen(fd, "wb");
    if (!f) {
        s = cn_fail(err, CN_ERR_IO, "cannot open %s: %s", tmp, strerror(errno));
        close(fd);
        goto done;
    }
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    buf head = {0};
    put(&head, "GGUF", 4);
    put_u32(&head, 3);
    put_u64(&head, (uint64_t)p.n);
    put_u64(&head, meta.count);
    put(&head, meta.p, meta.n);
    put(&head, infos.p, infos.n);
    static const uint8_t zeros[ALIGN] = {0};
    put(&head, zeros, (ALIGN - head.n % ALIGN) % ALIGN);
    s = head.oom ? cn_fail(err, CN_ERR_NOMEM, "out of memory") : write_all(f, head.p, head.n, tmp, err);
    free(head.p);
    if (s) goto done;

    pool = cn_threadpool_create(threads);
    if (!pool) {
        s = cn_fail(err, CN_ERR_NOMEM, "cannot start threads");
        goto done;
    }
    uint64_t done_bytes = 0;
    const double t0 = now_s();
    for (int i = 0; i < p.n && !s; i++) {
        s = write_tensor(f, &p.t[i], pool, i, p.n, &done_bytes, offset, t0, tmp, err);
        if (!s) s = write_all(f, zeros, (ALIGN - p.t[i].n_bytes % ALIGN) % ALIGN, tmp, err);
    }
    if (isatty(2)) fputc('\n', stderr);
    if (s) goto done;
    if (fflush(f) || fsync(fileno(f))) {
        s = cn_fail(err, CN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (fclose(f)) {
        f = NULL;
        s = cn_fail(err, CN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    f = NULL;

    /* Read it back: the GGUF reader must rebuild the same configuration. */
    cn_checkpoint back;
    if ((s = cn_checkpoint_open_gguf(tmp, &back, err))) {
        cn_error_prefix(err, "reading the written file back");
        goto done;
    }
    cn_model_config expected = ck.config;
    expected.n_mtp_layers = n_mtp;
    char *a = config_text(&expected), *b = config_text(&back.config);
    const bool same = a && b && !strcmp(a, b);
    free(a);
    free(b);
    cn_checkpoint_close(&back);
    if (!same) {
        s = cn_fail(err, CN_ERR_FORMAT, "the written GGUF's configuration differs from the source's (a bug)");
        goto done;
    }
    if (n_tok) { /* the tokenizer must load back too */
        cn_tokenizer *tok_back = NULL;
        s = cn_tokenizer_load_gguf(tmp, &tok_back, err);
        cn_tokenizer_free(tok_back);
        if (s) {
            cn_error_prefix(err, "reading the written tokenizer back");
            goto done;
        }
    }
    if (rename(tmp, out_path)) {
        s = cn_fail(err, CN_ERR_IO, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
        goto done;
    }
    {
        char *dir_copy = strdup(out_path);
        int dfd = dir_copy ? open(dirname(dir_copy), O_RDONLY | O_DIRECTORY) : -1;
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir_copy);
    }
    free(tmp);
    tmp = NULL;
    fprintf(stderr, "clawnet quantize: wrote %s: %d tensors, %.1f MiB in %.1f s (%d fell back to a wider type)",
            out_path, p.n, offset / 1048576.0, now_s() - t0, n_fallback);
    if (n_tok) fprintf(stderr, "; tokenizer: %d tokens, %zu merges", (int)n_tok, n_merges);
    fputc('\n', stderr);
done:
    if (f) fclose(f);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    cn_threadpool_destroy(pool);
    free(meta.p);
    free(infos.p);
    plan_free(&p);
    cn_checkpoint_close(&ck);
    return s;
}

int cn_cmd_quantize(int argc, char **argv) {
    const char *pos[2] = {0};
    int n_pos = 0, n_rules = 0;
    int64_t threads = 0;
    policy pol = POLICY_DEFAULT;
    bool keep_mtp = false;
    override_rule *rules = calloc((size_t)argc + 1, sizeof *rules);
    if (!rules) return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            quantize_usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--policy")) {
            if (!(v = cn_option_value(argc, argv, &i))) goto out;
            if (!strcmp(v, "default")) pol = POLICY_DEFAULT;
            else if (!strcmp(v, "q4")) pol = POLICY_Q4;
            else if (!strcmp(v, "q8")) pol = POLICY_Q8;
            else if (!strcmp(v, "bf16")) pol = POLICY_BF16;
            else if (!strcmp(v, "q2")) pol = POLICY_Q2;
            else {
                fprintf(stderr, "clawnet quantize: unknown policy \"%s\" (default, q4, q2, q8 or bf16)\n", v);
                goto out;
            }
        } else if (!strcmp(a, "--override")) {
            if (!(v = cn_option_value(argc, argv, &i))) goto out;
            const char *eq = strrchr(v, '=');
            if (!eq || eq == v || !parse_type(eq + 1, &rules[n_rules].type)) {
                fprintf(stderr, "clawnet quantize: bad --override \"%s\": expected PATTERN=TYPE with TYPE one of "
                                "f32, f16, bf16, q8_0, q4_k or q2_k\n",
                        v);
                goto out;
            }
            char *pattern = strndup(v, (size_t)(eq - v));
            if (!pattern) goto out;
            rules[n_rules++].pattern = pattern;
        } else if (!strcmp(a, "--keep-mtp")) {
            keep_mtp = true;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cn_option_value(argc, argv, &i)) || !cn_parse_int("-t", v, 1, 4096, &threads)) goto out;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "clawnet quantize: unknown option %s\n", a);
            quantize_usage(stderr);
            goto out;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "clawnet quantize: unexpected argument %s\n", a);
            goto out;
        }
    }
    if (n_pos != 2) {
        quantize_usage(stderr);
        goto out;
    }
    cn_error err = {0};
    if (quantize(pos[0], pos[1], pol, rules, n_rules, (int)threads, keep_mtp, &err)) {
        fprintf(stderr, "clawnet quantize: %s\n", err.msg);
        rc = 1;
    } else {
        rc = 0;
    }
out:
    for (int k = 0; k < n_rules; k++) free((char *)rules[k].pattern);
    free(rules);
    return rc;
}
