/* A checkpoint is a set of named tensors plus a model configuration, whatever file format they
 * came from. Every loader (safetensors directory, GGUF, in-memory generator) produces one.
 *
 * Tensor names are canonical: DeepSeek's official names (specs/deepseek-v4.md 10.2), e.g.
 *   embed.weight, head.weight, norm.weight, hc_head_fn, layers.3.attn.wq_a.weight,
 *   layers.3.attn.wq_a.scale, layers.3.ffn.experts.7.w1.weight, mtp.0.e_proj.weight
 * with three fused forms that some sources store instead of per-expert tensors:
 *   layers.N.ffn.experts.w13.weight  [E][2I][D]  (transformers' gate_up_proj: w1 rows, then w3 rows)
 *   layers.N.ffn.experts.w1.weight / w3.weight / w2.weight  [E][out][in]  (GGUF *_exps)
 * Shapes are outermost-first (row-major, as safetensors and torch write them). */
#ifndef CN_FORMAT_CHECKPOINT_H
#define CN_FORMAT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/model_config.h"
#include "tensor/dtype.h"

#define CN_MAX_DIMS 4

typedef struct {
    char *name;          /* canonical name */
    char *source_name;   /* name in the file it came from */
    cn_dtype dtype;      /* storage dtype as declared by the file */
    int n_dims;
    int64_t shape[CN_MAX_DIMS];
    const uint8_t *data;
    size_t n_bytes;
    int file_index;      /* which mapped file holds it; -1 when owned by the checkpoint */
} cn_tensor_record;

typedef enum { CN_NAMES_OFFICIAL, CN_NAMES_TRANSFORMERS, CN_NAMES_GGUF } cn_naming_scheme;

typedef struct {
    cn_model_config config;
    cn_naming_scheme naming;
    cn_tensor_record *tensors;
    int n_tensors, cap_tensors;
    cn_mapped_file *files;
    int n_files;
    void **owned;        /* buffers owned by the checkpoint (generated tensors, converted tables) */
    int n_owned;
    char *path;
} cn_checkpoint;

/* Opens a model: a directory with config.json + *.safetensors, or a .gguf file. */
cn_status cn_checkpoint_open(const char *path, cn_checkpoint *ckpt, cn_error *err);
void cn_checkpoint_close(cn_checkpoint *ckpt);

/* Loaders for each source (cn_checkpoint_open dispatches to these). */
cn_status cn_checkpoint_open_safetensors_dir(const char *dir, cn_checkpoint *ckpt, cn_error *err);
cn_status cn_checkpoint_open_gguf(const char *path, cn_checkpoint *ckpt, cn_error *err);

const cn_tensor_record *cn_checkpoint_find(const cn_checkpoint *ckpt, const char *name);

/* Appends a record (name is copied). data must outlive the checkpoint or be adopted with
 * cn_checkpoint_adopt. Fails on duplicate names. */
cn_status cn_checkpoint_add(cn_checkpoint *ckpt, const char *name, const char *source_name,
                            cn_dtype dtype, int n_dims, const int64_t *shape, const uint8_t *data,
                            size_t n_bytes, int file_index, cn_error *err);
/* The checkpoint frees buf when closed. */
cn_status cn_checkpoint_adopt(cn_checkpoint *ckpt, void *buf, cn_error *err);

int64_t cn_tensor_elements(const cn_tensor_record *t);

#endif
