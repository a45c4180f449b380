/* clawnet logits: the f32 logits of every prompt position, for comparison by outside tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"

static void logits_usage(FILE *f) {
    fputs("usage: clawnet logits -m MODEL --ids \"ID ID ...\" -o FILE [--chunk N] [-t THREADS] [--kv-type T]\n"
          "\n"
          "Runs the prompt and writes the logits of every position to FILE as raw little-endian\n"
          "float32, [n_tokens][vocab_size]. The prompt is processed in calls of N tokens\n"
          "(--chunk 1 is token-by-token decode; default: the whole prompt in one prefill);\n"
          "every chunk size must give the same logits (for one --kv-type).\n"
          "\n"
          PROMPT_ARGS_KV_TYPE_HELP,
          f);
}

int cn_cmd_logits(int argc, char **argv) {
    prompt_args pa = {0};
    const char *out_path = NULL;
    int64_t chunk = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int shared = prompt_args_parse(&pa, argc, argv, &i);
        if (shared < 0) return 2;
        if (shared) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            logits_usage(stdout);
            return 0;
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
    cn_kv_state state = {0};
    float *logits = NULL;
    FILE *f = NULL;
    int status = 1;
    if (!prompt_args_open(&pa, "logits", &model, &state)) goto done;
    const int64_t V = model->cfg->vocab_size, n = pa.n_ids;
    if (!(logits = malloc((size_t)(n * V) * sizeof(float)))) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory for %lld x %lld logits", (long long)n, (long long)V);
        goto fail;
    }
    const int64_t step = chunk > 0 ? chunk : n;
    for (int64_t done = 0; done < n; done += step) {
        int64_t len = n - done < step ? n - done : step;
        if (cn_model_forward(model, &state, pa.ids + done, len, logits + done * V, NULL, &err)) goto fail;
    }
    if (!(f = fopen(out_path, "wb"))) {
        cn_fail(&err, CN_ERR_IO, "cannot create %s", out_path);
        goto fail;
    }
    size_t written = fwrite(logits, sizeof(float), (size_t)(n * V), f);
    int closed = fclose(f);
    f = NULL;
    if (written != (size_t)(n * V) || closed != 0) {
        cn_fail(&err, CN_ERR_IO, "error writing %s", out_path);
        goto fail;
    }
    fprintf(stderr, "wrote %lld x %lld logits to %s\n", (long long)n, (long long)V, out_path);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet logits: %s\n", err.msg);
done:
    free(logits);
    prompt_args_free(&pa);
    cn_kv_state_free(&state);
    cn_model_close(model);
    return status;
}
