/* clawnet info PATH: what a checkpoint holds, without loading the model. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <clawnet/clawnet.h>

#include "cli/commands.h"

static const char info_usage[] =
    "usage: clawnet info [--summary] PATH\n"
    "\n"
    "Prints what the DeepSeek-V4 checkpoint at PATH holds: its configuration, every tensor\n"
    "(canonical name, the name in the file when it differs, stored dtype, shape outermost-first,\n"
    "bytes) and its parameter counts. PATH is a checkpoint directory (config.json + *.safetensors)\n"
    "or a .gguf file. Nothing is loaded beyond the file headers.\n"
    "\n"
    "  --summary   leave out the tensor list\n"
    "  --help      show this text\n"
    "\n"
    "Parameter counts:\n"
    "  total      every weight of the main model (MTP blocks are counted separately);\n"
    "             MXFP4 routed experts are stored as I8 [out][in/2] and count two parameters a byte;\n"
    "             FP8 block scales (*.scale) and integer tables (the hash-routing tid2eid) are\n"
    "             storage, not parameters, and are left out.\n"
    "  active     the parameters one token uses: the total less the routed experts it skips,\n"
    "             i.e. total - routed * (E - K) / E with E routed experts of which K are used per\n"
    "             token (hash-routed layers also use K). Embedding and head are included.\n"
    "\n"
    "Exit status: 0 on success, 1 on any error (the message goes to stderr).\n";

typedef struct {
    int64_t params, routed_params; /* routed_params is part of params */
    int64_t bytes;
    int n_tensors;
} param_tally;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_routed_expert(const char *name) { return strstr(name, ".ffn.experts.") != NULL; }

/* Parameters a tensor holds, 0 for storage that is not a parameter (see info_usage). */
static int64_t tensor_params(const cn_tensor_record *t) {
    if (ends_with(t->name, ".scale") || t->dtype == CN_DTYPE_F8_E8M0) return 0;
    if (t->dtype == CN_DTYPE_I32 || t->dtype == CN_DTYPE_I64) return 0;
    int64_t n = cn_tensor_elements(t);
    if (t->dtype == CN_DTYPE_I8 && is_routed_expert(t->name)) return 2 * n; /* two E2M1 codes a byte */
    return n;
}

static void tally_add(param_tally *tally, const cn_tensor_record *t) {
    int64_t p = tensor_params(t);
    tally->params += p;
    if (is_routed_expert(t->name)) tally->routed_params += p;
    tally->bytes += (int64_t)t->n_bytes;
    tally->n_tensors++;
}

static int64_t active_params(const param_tally *tally, const cn_model_config *c) {
    const double E = (double)c->n_routed_experts, K = (double)c->n_experts_per_tok;
    if (E <= 0) return tally->params;
    return tally->params - (int64_t)((double)tally->routed_params * (E - K) / E + 0.5);
}

/* 284123456789 -> "284.12 B" */
static const char *human(int64_t n, char *buf, size_t size) {
    static const char *units[] = {"", " K", " M", " B", " T"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000.0 && u < 4) v /= 1000.0, u++;
    snprintf(buf, size, u ? "%.2f%s" : "%.0f%s", v, units[u]);
    return buf;
}

static const char *shape_text(const cn_tensor_record *t, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->n_dims && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

static const char *naming_text(cn_naming_scheme n) {
    switch (n) {
    case CN_NAMES_OFFICIAL: return "safetensors, DeepSeek's official names";
    case CN_NAMES_TRANSFORMERS: return "safetensors, transformers names";
    case CN_NAMES_GGUF: return "GGUF, llama.cpp names";
    }
    return "?";
}

static void print_tensors(const cn_checkpoint *ckpt) {
    int name_w = 4, source_w = 0;
    for (int i = 0; i < ckpt->n_tensors; i++) {
        const cn_tensor_record *t = &ckpt->tensors[i];
        int n = (int)strlen(t->name);
        if (n > name_w) name_w = n;
        if (strcmp(t->name, t->source_name) != 0 && (n = (int)strlen(t->source_name)) > source_w) source_w = n;
    }
    printf("\ntensors:\n");
    if (source_w) printf("  %-*s  %-*s  %-8s %-24s %s\n", name_w, "name", source_w, "name in file", "dtype", "shape", "bytes");
    else printf("  %-*s  %-8s %-24s %s\n", name_w, "name", "dtype", "shape", "bytes");
    for (int i = 0; i < ckpt->n_tensors; i++) {
        const cn_tensor_record *t = &ckpt->tensors[i];
        char shape[128];
        printf("  %-*s  ", name_w, t->name);
        if (source_w) printf("%-*s  ", source_w, strcmp(t->name, t->source_name) ? t->source_name : "");
        printf("%-8s %-24s %zu\n", cn_dtype_name(t->dtype), shape_text(t, shape, sizeof shape), t->n_bytes);
    }
}

static void print_counts(const char *label, const param_tally *tally, const cn_model_config *c) {
    char a[32], b[32], r[32];
    int64_t active = active_params(tally, c);
    printf("  %-12s %d tensors, %s bytes\n", label, tally->n_tensors, human(tally->bytes, a, sizeof a));
    printf("  %-12s total %" PRId64 " (%s), active per token %" PRId64 " (%s), routed experts %" PRId64 " (%s)\n", "",
           tally->params, human(tally->params, a, sizeof a), active, human(active, b, sizeof b), tally->routed_params,
           human(tally->routed_params, r, sizeof r));
}

int cn_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool summary = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(info_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--summary") == 0) {
            summary = true;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "clawnet info: unexpected argument %s\n%s", argv[i], info_usage);
            return 1;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "clawnet info: no checkpoint given\n%s", info_usage);
        return 1;
    }

    cn_checkpoint ckpt;
    cn_error err = {0};
    if (cn_checkpoint_open(path, &ckpt, &err) != CN_OK) {
        fprintf(stderr, "clawnet info: %s\n", err.msg);
        return 1;
    }
    const cn_model_config *c = &ckpt.config;
    printf("model:  %s\nformat: %s, %d tensors in %d file(s)\n\nconfiguration:\n", path, naming_text(ckpt.naming),
           ckpt.n_tensors, ckpt.n_files);
    cn_model_config_print(c, stdout);
    if (!summary) print_tensors(&ckpt);

    param_tally main_model = {0}, mtp = {0};
    for (int i = 0; i < ckpt.n_tensors; i++)
        tally_add(strncmp(ckpt.tensors[i].name, "mtp.", 4) == 0 ? &mtp : &main_model, &ckpt.tensors[i]);
    printf("\nparameters (routed experts: %" PRId64 " of %" PRId64 " used per token):\n", c->n_experts_per_tok,
           c->n_routed_experts);
    print_counts("main model", &main_model, c);
    if (mtp.n_tensors) print_counts("MTP", &mtp, c);
    cn_checkpoint_close(&ckpt);
    return 0;
}
