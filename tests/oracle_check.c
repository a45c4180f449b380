#include "oracle_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness.h"

#define MAX_REL_ERROR 1e-4

typedef struct {
    const cn_model_config *cfg;
    int64_t n_tokens;
    int32_t *experts;  /* [L][S][K] */
    int32_t *indexer;  /* [n_csa][S][topk] */
    int csa_slot[CN_MAX_LAYERS];
} routing_record;

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void record_experts(void *ctx, int layer, int64_t pos, const int32_t *experts, int32_t k) {
    routing_record *r = ctx;
    if (layer >= r->cfg->n_layers || pos >= r->n_tokens) return; /* the MTP block */
    int32_t *dst = r->experts + ((int64_t)layer * r->n_tokens + pos) * k;
    memcpy(dst, experts, (size_t)k * sizeof *dst);
    qsort(dst, (size_t)k, sizeof *dst, compare_int32);
}

static void record_indexer(void *ctx, int layer, int64_t pos, const int32_t *entries, int32_t n) {
    routing_record *r = ctx;
    const int64_t topk = r->cfg->index_topk;
    if (layer >= r->cfg->n_layers || pos >= r->n_tokens) return;
    int32_t *dst = r->indexer + ((int64_t)r->csa_slot[layer] * r->n_tokens + pos) * topk;
    for (int64_t i = 0; i < topk; i++) dst[i] = i < n ? entries[i] : -1;
}

/* Compares [S][V] logits row by row: relative error and argmax. */
static void compare_logits(const char *what, const float *got, const float *ref, int64_t S, int64_t V) {
    double worst = 0.0;
    int argmax_mismatch = 0;
    for (int64_t s = 0; s < S; s++) {
        double e = cn_test_rel_error(got + s * V, ref + s * V, V);
        if (e > worst) worst = e;
        int64_t ag = 0, ar = 0;
        for (int64_t v = 1; v < V; v++) {
            if (got[s * V + v] > got[s * V + ag]) ag = v;
            if (ref[s * V + v] > ref[s * V + ar]) ar = v;
        }
        if (ag != ar) {
            if (!argmax_mismatch) fprintf(stderr, "  %s: argmax differs first at position %lld\n", what, (long long)s);
            argmax_mismatch++;
        }
    }
    printf("  %-24s max relative error %.3g\n", what, worst);
    CHECKF(worst <= MAX_REL_ERROR, "%s: max relative error %.3g > %g", what, worst, MAX_REL_ERROR);
    CHECKF(argmax_mismatch == 0, "%s: argmax differs at %d positions", what, argmax_mismatch);
}

static float *run_chunked(cn_model *model, const int32_t *ids, int64_t S, int64_t chunk, float *streams) {
    const int64_t V = model->cfg->vocab_size;
    cn_error err = {0};
    cn_kv_state st;
    float *logits = malloc((size_t)(S * V) * sizeof(float));
    if (cn_model_state_init(model, &st, &err)) {
        CHECKF(0, "state: %s", err.msg);
        return logits;
    }
    for (int64_t done = 0; done < S; done += chunk) {
        int64_t n = S - done < chunk ? S - done : chunk;
        if (cn_model_forward(model, &st, ids + done, n, logits + done * V, streams ? streams + done * model->cfg->hc_mult * model->cfg->hidden_size : NULL, &err)) {
            CHECKF(0, "forward: %s", err.msg);
            break;
        }
    }
    cn_kv_state_free(&st);
    return logits;
}

static float *load_floats(const char *dir, const char *name, size_t expected) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t size = 0;
    float *data = cn_test_read_file(path, &size);
    CHECKF(data != NULL, "cannot read %s", path);
    if (data && size != expected * sizeof(float)) {
        CHECKF(0, "%s has %zu bytes, expected %zu", path, size, expected * sizeof(float));
        free(data);
        return NULL;
    }
    return data;
}

/* Compares n recorded int32 choices with the oracle's file dir/name. */
static void compare_choices(const char *dir, const char *name, const char *what, const int32_t *got, size_t n) {
    char path[1024];
    size_t size = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int32_t *ref = cn_test_read_file(path, &size);
    CHECKF(ref && size == n * 4, "%s missing or of the wrong size", path);
    if (ref && size == n * 4) {
        size_t diff = 0;
        for (size_t i = 0; i < n; i++) diff += ref[i] != got[i];
        printf("  %-24s %zu of %zu differ\n", what, diff, n);
        CHECKF(diff == 0, "%s differ in %zu of %zu slots", what, diff, n);
    }
    free(ref);
}

static void compare_routing(const char *dir, const routing_record *rec, int n_csa) {
    const cn_model_config *c = rec->cfg;
    const int64_t S = rec->n_tokens;
    compare_choices(dir, "experts.i32", "routed experts", rec->experts, (size_t)(c->n_layers * S * c->n_experts_per_tok));
    if (n_csa > 0)
        compare_choices(dir, "indexer.i32", "indexer selections", rec->indexer, (size_t)(n_csa * S * c->index_topk));
}

/* The RoPE inverse frequencies, bit for bit against the oracle's tables (hex floats). */
static void compare_rope_tables(const cn_model *model, const cJSON *manifest) {
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(manifest, "notes");
    const cJSON *tables = notes ? cJSON_GetObjectItemCaseSensitive(notes, "rope_inv_freq_f32") : NULL;
    if (!tables) return;
    const struct {
        const char *key;
        const cn_rope *rope;
    } kinds[] = {{"main", &model->rope_main}, {"compress", &model->rope_compress}};
    for (size_t k = 0; k < 2; k++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(tables, kinds[k].key), *v;
        int i = 0, bad = 0;
        CHECKF(cJSON_GetArraySize(list) == kinds[k].rope->dim / 2, "rope %s table has %d entries", kinds[k].key,
               cJSON_GetArraySize(list));
        cJSON_ArrayForEach(v, list) {
            float want = cJSON_IsString(v) ? strtof(v->valuestring, NULL) : 0.0f;
            if (i < kinds[k].rope->dim / 2) bad += memcmp(&want, &kinds[k].rope->inv_freq[i], sizeof want) != 0;
            i++;
        }
        printf("  %-24s %d of %d differ\n", kinds[k].key[0] == 'm' ? "rope table (main)" : "rope table (compress)", bad, i);
        CHECKF(bad == 0, "rope %s: %d inverse frequencies differ from transformers'", kinds[k].key, bad);
    }
}

void cn_check_against_oracle(cn_model *model, const char *dir) {
    const cn_model_config *c = model->cfg;
    const int64_t V = c->vocab_size, nD = c->hc_mult * c->hidden_size;
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = cn_test_read_file(path, NULL);
    cJSON *manifest = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECKF(manifest != NULL, "cannot read %s", path);
    if (!manifest) return;
    snprintf(path, sizeof path, "%s/prompt.txt", dir);
    int32_t ids[8192];
    const int64_t S = cn_test_read_ids(path, ids, 8192);
    CHECKF(S > 0, "%s: empty prompt", dir);
    printf("%s: %lld tokens\n", dir, (long long)S);
    compare_rope_tables(model, manifest);

    /* Full prefill, recording routing and the final streams. */
    routing_record rec = {c, S, calloc((size_t)(c->n_layers * S * c->n_experts_per_tok), 4), NULL, {0}};
    int n_csa = 0;
    for (int l = 0; l < c->n_layers; l++)
        if (c->has_indexer[l]) rec.csa_slot[l] = n_csa++;
    rec.indexer = calloc((size_t)(n_csa * S * c->index_topk) + 1, 4);
    model->observer = (cn_routing_observer){record_experts, record_indexer, &rec};
    float *streams = malloc((size_t)(S * nD) * sizeof(float));
    float *prefill = run_chunked(model, ids, S, S, streams);
    model->observer = (cn_routing_observer){0};

    float *ref = load_floats(dir, "logits_prefill.f32", (size_t)(S * V));
    if (ref) compare_logits("prefill", prefill, ref, S, V);
    free(ref);
    compare_routing(dir, &rec, n_csa);

    /* Decode, one token per call: against the oracle and bitwise against our prefill. */
    float *decode = run_chunked(model, ids, S, 1, NULL);
    if ((ref = load_floats(dir, "logits_decode.f32", (size_t)(S * V)))) compare_logits("decode", decode, ref, S, V);
    free(ref);
    CHECKF(memcmp(decode, prefill, (size_t)(S * V) * sizeof(float)) == 0, "decode and prefill logits are not bitwise equal");

    const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(manifest, "chunk_sizes"), *ch;
    cJSON_ArrayForEach(ch, chunks) {
        int64_t n = (int64_t)ch->valuedouble;
        char name[64];
        snprintf(name, sizeof name, "logits_chunk%lld.f32", (long long)n);
        float *got = run_chunked(model, ids, S, n, NULL);
        if ((ref = load_floats(dir, name, (size_t)(S * V)))) compare_logits(name, got, ref, S, V);
        free(ref);
        CHECKF(memcmp(got, prefill, (size_t)(S * V) * sizeof(float)) == 0, "chunk %lld logits differ from prefill", (long long)n);
        free(got);
    }

    /* MTP on its own: streams of positions 0..S-2 with the tokens that follow them. */
    snprintf(path, sizeof path, "%s/mtp_logits_prefill.f32", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        CHECKF(cn_model_has_mtp(model), "%s has MTP references but the model bound no MTP block", dir);
        cn_kv_state mst;
        cn_error err = {0};
        float *mtp = malloc((size_t)(S * V) * sizeof(float));
        if (cn_model_has_mtp(model) && !cn_model_mtp_state_init(model, &mst, &err)) {
            if (cn_model_mtp_forward(model, &mst, streams, ids + 1, S - 1, mtp, &err)) CHECKF(0, "mtp: %s", err.msg);
            else if ((ref = load_floats(dir, "mtp_logits_prefill.f32", (size_t)((S - 1) * V))))
                compare_logits("mtp", mtp, ref, S - 1, V);
            free(ref);
            cn_kv_state_free(&mst);
        }
        free(mtp);
    }
    free(prefill);
    free(decode);
    free(streams);
    free(rec.experts);
    free(rec.indexer);
    cJSON_Delete(manifest);
}
