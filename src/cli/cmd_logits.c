/* clawnet logits: the f32 logits of every prompt position (or, with --mtp, of the MTP block),
 * for comparison by outside tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"

static void logits_usage(FILE *f) {
    fputs("usage: clawnet logits -m MODEL --ids \"ID ID ...\" -o FILE [--mtp] [--chunk N] [-t THREADS] [--kv-type T]\n"
          "\n"
          "Runs the prompt and writes the logits of every position to FILE as raw little-endian\n"
          "float32, [n_tokens][vocab_size]. The prompt is processed in calls of N tokens\n"
          "(--chunk 1 is token-by-token decode; default: the whole prompt in one prefill);\n"
          "every chunk size must give the same logits (for one --kv-type).\n"
          "\n"
          "  --mtp              write the MTP block's logits instead (specs/deepseek-v4.md section 9):\n"
          "                     [n_tokens - 1][vocab_size], row s predicting token s+2 from the main\n"
          "                     model's final residual streams at s and token s+1 (the MTP block runs\n"
          "                     in the same chunks, its own window state in f32); the model must have one\n"
          "\n"
          PROMPT_ARGS_KV_TYPE_HELP
          PROMPT_ARGS_ACT_HELP,
          f);
}

int cn_cmd_logits(int argc, char **argv) {
    prompt_args pa = {.command = "logits"};
    const char *out_path = NULL;
    int64_t chunk = 0;
    bool mtp = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int shared = prompt_args_parse(&pa, argc, argv, &i);
        if (shared < 0) return 2;
        if (shared) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            logits_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--mtp")) {
            mtp = true;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out_path = v;
        } else if (!strcmp(a, "--chunk")) {
            if (!cn_parse_int(a, v, 1, INT32_MAX, &chunk)) return 2;
        } else {
            fprintf(stderr, "clawnet logits: unknown option %s (see clawnet logits --help)\n", a);
            return 2;
        }
    }
    if (!out_path) {
        fputs("clawnet logits: -o FILE is required (see clawnet logits --help)\n", stderr);
        return 2;
    }
    if (!prompt_args_finish(&pa, "logits")) {
        prompt_args_free(&pa);
        return 2;
    }
    cn_error err = {0};
    cn_model *model = NULL;
    cn_kv_state state = {0}, mtp_state = {0};
    float *logits = NULL, *streams = NULL;
    FILE *f = NULL;
    int status = 1;
    if (!prompt_args_open(&pa, "logits", &model, &state)) goto done;
    const int64_t V = model->cfg->vocab_size, n = pa.n_ids;
    const int64_t stream_floats = model->cfg->hc_mult * model->cfg->hidden_size;
    const int64_t rows = mtp ? n - 1 : n;
    if (mtp) {
        if (!cn_model_has_mtp(model)) {
            cn_fail(&err, CN_ERR_MISSING, "--mtp: %s has no MTP block", pa.model_path);
            goto fail;
        }
        if (n < 2) {
            cn_fail(&err, CN_ERR_ARG, "--mtp needs at least 2 prompt tokens (row s predicts token s+2)");
            goto fail;
        }
        if (!(streams = malloc((size_t)(n * stream_floats) * sizeof(float)))) {
            cn_fail(&err, CN_ERR_NOMEM, "out of memory for %lld positions' residual streams", (long long)n);
            goto fail;
        }
        if (cn_model_mtp_state_init(model, &mtp_state, &err)) goto fail;
    }
    if (!(logits = malloc((size_t)(rows * V) * sizeof(float)))) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory for %lld x %lld logits", (long long)rows, (long long)V);
        goto fail;
    }
    const int64_t step = chunk > 0 ? chunk : n;
    for (int64_t done = 0; done < n; done += step) {
        int64_t len = n - done < step ? n - done : step;
        if (cn_model_forward(model, &state, pa.ids + done, len, mtp ? NULL : logits + done * V,
                             mtp ? streams + done * stream_floats : NULL, &err))
            goto fail;
    }
    /* MTP row s reads the main streams at s and token s+1, so it runs after the main model, in
     * the same chunk sizes (its window state advances like the main one). */
    for (int64_t done = 0; mtp && done < rows; done += step) {
        int64_t len = rows - done < step ? rows - done : step;
        if (cn_model_mtp_forward(model, &mtp_state, streams + done * stream_floats, pa.ids + done + 1, len,
                                 logits + done * V, &err))
            goto fail;
    }
    if (!(f = fopen(out_path, "wb"))) {
        cn_fail(&err, CN_ERR_IO, "cannot create %s", out_path);
        goto fail;
    }
    size_t written = fwrite(logits, sizeof(float), (size_t)(rows * V), f);
    int closed = fclose(f);
    f = NULL;
    if (written != (size_t)(rows * V) || closed != 0) {
        cn_fail(&err, CN_ERR_IO, "error writing %s", out_path);
        goto fail;
    }
    fprintf(stderr, "wrote %lld x %lld %slogits to %s\n", (long long)rows, (long long)V, mtp ? "MTP " : "", out_path);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet logits: %s\n", err.msg);
done:
    free(logits);
    free(streams);
    prompt_args_free(&pa);
    cn_kv_state_free(&state);
    cn_kv_state_free(&mtp_state);
    cn_model_close(model);
    return status;
}
