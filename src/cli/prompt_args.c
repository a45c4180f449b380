#include "cli/prompt_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

int prompt_args_parse(prompt_args *a, int argc, char **argv, int *i) {
    const char *opt = argv[*i], *command = a->command ? a->command : "";
    const int act = prompt_args_parse_act(command, argc, argv, i, &a->act);
    if (act) return act;
    const int kv = prompt_args_parse_kv(command, argc, argv, i, &a->kv);
    if (kv) return kv;
    const bool is_model = !strcmp(opt, "-m") || !strcmp(opt, "--model"), is_ids = !strcmp(opt, "--ids"),
               is_threads = !strcmp(opt, "-t") || !strcmp(opt, "--threads");
    if (!is_model && !is_ids && !is_threads) return 0;
    const char *v = cn_option_value(argc, argv, i);
    if (!v) return -1;
    if (is_model) a->model_path = v;
    else if (is_ids) a->ids_text = v;
    else if (!cn_parse_int(opt, v, 1, 1024, &a->threads)) return -1;
    return 1;
}

bool prompt_args_finish(prompt_args *a, const char *command) {
    if (!a->model_path || !a->ids_text) {
        fprintf(stderr, "clawnet %s: -m MODEL and --ids are required (see clawnet %s --help)\n", command, command);
        return false;
    }
    if (!cn_parse_ids(a->ids_text, &a->ids, &a->n_ids)) return false;
    if (a->n_ids == 0) {
        fprintf(stderr, "clawnet %s: --ids is empty; give at least one token id\n", command);
        return false;
    }
    return true;
}

bool prompt_args_open(const prompt_args *a, const char *command, cn_model **model, cn_kv_state *state) {
    cn_error err = {0};
    *model = NULL;
    const cn_kv_options kv = prompt_kv_options(&a->kv);
    if (cn_model_open(a->model_path, (int)a->threads, model, &err) || cn_model_state_init_opts(*model, state, &kv, &err)) {
        fprintf(stderr, "clawnet %s: %s\n", command, err.msg);
        cn_model_close(*model);
        *model = NULL;
        return false;
    }
    prompt_args_apply_act(*model, a->act);
    return true;
}

int prompt_args_parse_act(const char *command, int argc, char **argv, int *i, prompt_act *out) {
    const char *opt = argv[*i];
    if (!strcmp(opt, "--act-q8") || !strcmp(opt, "--act-f32")) {
        *out = !strcmp(opt, "--act-q8") ? PROMPT_ACT_Q8 : PROMPT_ACT_F32;
        return 1;
    }
    if (strcmp(opt, "--act")) return 0;
    const char *v = cn_option_value(argc, argv, i);
    if (!v) return -1;
    if (!strcmp(v, "q8") || !strcmp(v, "f32")) {
        *out = !strcmp(v, "q8") ? PROMPT_ACT_Q8 : PROMPT_ACT_F32;
        return 1;
    }
    fprintf(stderr, "clawnet%s%s: --act takes q8 (8-bit activations, the default) or f32 (exact), not '%s'\n",
            *command ? " " : "", command, v);
    return -1;
}

const char *prompt_act_name(prompt_act act) { return act == PROMPT_ACT_F32 ? "f32" : "q8"; }

void prompt_args_apply_act(cn_model *model, prompt_act act) { cn_model_set_act_q8(model, act == PROMPT_ACT_Q8); }

char *prompt_model_identity(const char *model_path, prompt_act act) {
    const char *suffix = act == PROMPT_ACT_Q8 ? " (activations q8)" : "";
    const size_t size = strlen(model_path) + strlen(suffix) + 1;
    char *identity = malloc(size);
    if (identity) snprintf(identity, size, "%s%s", model_path, suffix);
    return identity;
}

int prompt_args_parse_kv(const char *command, int argc, char **argv, int *i, prompt_kv *kv) {
    const char *opt = argv[*i], *space = *command ? " " : "";
    const bool rows = !strcmp(opt, "--kv-type");
    if (!rows && strcmp(opt, "--kv-index-type")) return 0;
    const char *v = cn_option_value(argc, argv, i);
    if (!v) return -1;
    cn_kv_type t;
    if (!cn_kv_type_parse(v, &t) || (rows && t == CN_KV_FP4)) {
        if (rows && !strcmp(v, "fp4"))
            fprintf(stderr, "clawnet%s%s: --kv-type fp4: fp4 is for indexer keys only; use --kv-index-type fp4\n", space,
                    command);
        else
            fprintf(stderr, "clawnet%s%s: %s takes f32, bf16%s, not '%s'\n", space, command, opt,
                    rows ? " or fp8" : ", fp8 or fp4", v);
        return -1;
    }
    if (rows) kv->rows = t, kv->rows_set = true;
    else kv->index = t, kv->index_set = true;
    return 1;
}

cn_kv_options prompt_kv_options(const prompt_kv *kv) {
    const cn_kv_type rows = kv->rows_set ? kv->rows : PROMPT_KV_DEFAULT_ROWS;
    return (cn_kv_options){rows, kv->index_set ? kv->index : rows};
}

void prompt_args_free(prompt_args *a) {
    free(a->ids);
    a->ids = NULL;
}
