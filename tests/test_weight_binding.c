/* Binding a checkpoint to the model refuses missing tensors, wrong shapes and unusable dtypes
 * with an error naming the tensor. Each case opens the tiny fixture and damages one record. */
#include <string.h>

#include "harness.h"
#include "model/model.h"

static const char *fixture = "tests/fixtures/tiny";

static cn_tensor_record *find(cn_checkpoint *c, const char *name) {
    for (int i = 0; i < c->n_tensors; i++)
        if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
    return NULL;
}

typedef void (*damage_fn)(cn_tensor_record *t);
static void rename_away(cn_tensor_record *t) { t->name[0] = '#'; }
static void wrong_rows(cn_tensor_record *t) { t->shape[0] += 1; }
static void wrong_rank(cn_tensor_record *t) { t->n_dims = 1; }
static void wrong_dtype(cn_tensor_record *t) { t->dtype = CN_DTYPE_I32; }
static void bad_expert_id(cn_tensor_record *t) {
    int64_t v = 99; /* tid2eid entry outside 0..E-1 (the data is a private copy) */
    memcpy((void *)t->data, &v, sizeof v);
}

static void expect(const char *tensor, damage_fn damage, cn_status want, const char *needle) {
    cn_checkpoint ckpt;
    cn_error err = {0};
    if (cn_checkpoint_open(fixture, &ckpt, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    cn_tensor_record *t = find(&ckpt, tensor);
    CHECKF(t != NULL, "fixture lacks %s", tensor);
    static int64_t copy[4096];
    if (t && damage == bad_expert_id) { /* the file mapping is read-only: damage a copy */
        memcpy(copy, t->data, t->n_bytes < sizeof copy ? t->n_bytes : sizeof copy);
        t->data = (const uint8_t *)copy;
    }
    if (t) damage(t);
    cn_model *m = NULL;
    cn_status s = cn_model_from_checkpoint(&ckpt, 1, &m, &err);
    CHECKF(s == want, "%s: got %s (%s), expected %s", tensor, cn_status_name(s), err.msg, cn_status_name(want));
    CHECKF(s == CN_OK || strstr(err.msg, needle), "%s: message \"%s\" does not mention %s", tensor, err.msg, needle);
    cn_model_close(m);
}

int main(void) {
    expect("layers.1.attn.wq_b.weight", rename_away, CN_ERR_MISSING, "layers.1.attn.wq_b.weight");
    expect("layers.2.attn.indexer.compressor.ape", rename_away, CN_ERR_MISSING, "indexer.compressor.ape");
    expect("layers.3.ffn.experts.w13.weight", rename_away, CN_ERR_MISSING, "expert");
    expect("layers.0.attn.wkv.weight", wrong_rows, CN_ERR_SHAPE, "kv_proj");
    expect("layers.4.attn.wo_a.weight", wrong_rank, CN_ERR_SHAPE, "o_a_proj");
    expect("head.weight", wrong_dtype, CN_ERR_UNSUPPORTED, "lm_head");
    expect("layers.0.ffn.gate.tid2eid", bad_expert_id, CN_ERR_FORMAT, "tid2eid");
    return cn_test_finish("test_weight_binding");
}
