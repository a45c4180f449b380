/* The safetensors directory loader: a valid two-tensor checkpoint loads under both naming
 * schemes and shards; every truncation and each kind of corruption is refused with an error,
 * never a crash (run under ASan in CI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/checkpoint.h"
#include "harness.h"

/* A minimal config that passes validation (the tensors need not cover a whole model). */
static const char *config_json =
    "{\"model_type\":\"deepseek_v4\",\"vocab_size\":8,\"hidden_size\":4,\"num_hidden_layers\":1,"
    "\"num_attention_heads\":2,\"head_dim\":8,\"qk_rope_head_dim\":4,\"q_lora_rank\":4,\"o_groups\":1,"
    "\"o_lora_rank\":4,\"n_routed_experts\":2,\"num_experts_per_tok\":1,\"moe_intermediate_size\":4,"
    "\"compress_ratios\":[0,0],\"num_hash_layers\":0}";

static char dir[256];

static void write_file(const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void remove_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* header JSON + data -> safetensors bytes (8-byte little-endian length prefix). */
static size_t build(uint8_t *out, const char *header, const void *data, size_t n_data) {
    uint64_t len = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(len >> (8 * i));
    memcpy(out + 8, header, len);
    memcpy(out + 8 + len, data, n_data);
    return 8 + len + n_data;
}

static cn_status open_dir(cn_checkpoint *ckpt, cn_error *err) { return cn_checkpoint_open(dir, ckpt, err); }

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/cn_test_safetensors_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    write_file("config.json", config_json, strlen(config_json));
    float data[6] = {1, 2, 3, 4, 5, 6};
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"model.layers.0.self_attn.q_a_proj.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
        "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
    uint8_t file[1024];
    size_t size = build(file, header, data, sizeof data);
    write_file("model.safetensors", file, size);

    cn_checkpoint ckpt;
    cn_error err = {0};
    CHECKF(open_dir(&ckpt, &err) == CN_OK, "%s", err.msg);
    const cn_tensor_record *t = cn_checkpoint_find(&ckpt, "layers.0.attn.wq_a.weight");
    CHECK(t && t->dtype == CN_DTYPE_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 2);
    CHECK(t && memcmp(t->data, data, 16) == 0);
    CHECK(cn_checkpoint_find(&ckpt, "norm.weight") != NULL);
    CHECK(ckpt.naming == CN_NAMES_TRANSFORMERS);
    CHECK(ckpt.config.hidden_size == 4 && ckpt.config.n_layers == 1);
    cn_checkpoint_close(&ckpt);

    /* Every truncation of the file is refused. */
    int accepted = 0;
    for (size_t cut = 0; cut < size; cut++) {
        write_file("model.safetensors", file, cut);
        if (open_dir(&ckpt, &err) == CN_OK) {
            accepted++;
            cn_checkpoint_close(&ckpt);
        }
    }
    CHECKF(accepted == 0, "%d truncated files were accepted", accepted);

    /* Each corruption class gives its own kind of error. */
    const struct {
        const char *header;
        size_t n_data;
        cn_status expect;
    } bad[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, CN_ERR_FORMAT},   /* past the end */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, CN_ERR_FORMAT},    /* size != shape */
        {"{\"x\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, CN_ERR_UNSUPPORTED}, /* unknown dtype */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, CN_ERR_FORMAT},   /* negative dim */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, CN_ERR_FORMAT},    /* reversed */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, CN_ERR_FORMAT},                             /* no offsets */
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, CN_ERR_UNSUPPORTED},
        {"[1,2,3]", 0, CN_ERR_FORMAT},
        {"{\"x\":", 0, CN_ERR_FORMAT},
        {"{\"model.layers.0.self_attn.bogus.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         CN_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size = build(file, bad[i].header, data, bad[i].n_data);
        write_file("model.safetensors", file, size);
        cn_status s = open_dir(&ckpt, &err);
        CHECKF(s == bad[i].expect, "case %zu: got %s (%s), expected %s", i, cn_status_name(s), err.msg,
               cn_status_name(bad[i].expect));
        if (s == CN_OK) cn_checkpoint_close(&ckpt);
    }

    /* A header length larger than the file. */
    memset(file, 0xff, 8);
    write_file("model.safetensors", file, 64);
    CHECK(open_dir(&ckpt, &err) == CN_ERR_FORMAT);

    /* Shards: the index must only name shards that hold what it promises. */
    size = build(file, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8);
    write_file("model.safetensors", file, size);
    const char *index = "{\"weight_map\":{\"a\":\"model.safetensors\",\"b\":\"model.safetensors\"}}";
    write_file("model.safetensors.index.json", index, strlen(index));
    CHECK(open_dir(&ckpt, &err) == CN_ERR_MISSING);
    const char *index_escape = "{\"weight_map\":{\"a\":\"../model.safetensors\"}}";
    write_file("model.safetensors.index.json", index_escape, strlen(index_escape));
    CHECK(open_dir(&ckpt, &err) == CN_ERR_FORMAT);
    const char *index_ok = "{\"weight_map\":{\"a\":\"model.safetensors\"}}";
    write_file("model.safetensors.index.json", index_ok, strlen(index_ok));
    cn_status s = open_dir(&ckpt, &err);
    CHECKF(s == CN_OK, "%s", err.msg);
    if (s == CN_OK) cn_checkpoint_close(&ckpt);

    /* Missing and malformed config.json. */
    remove_file("config.json");
    CHECK(open_dir(&ckpt, &err) == CN_ERR_IO);
    write_file("config.json", "{\"model_type\":\"llama\"}", 22);
    CHECK(open_dir(&ckpt, &err) == CN_ERR_UNSUPPORTED);
    write_file("config.json", "{\"model_type\":\"deepseek_v4\"}", 28);
    CHECK(open_dir(&ckpt, &err) == CN_ERR_MISSING);

    remove_file("config.json");
    remove_file("model.safetensors");
    remove_file("model.safetensors.index.json");
    rmdir(dir);
    return cn_test_finish("test_safetensors");
}
