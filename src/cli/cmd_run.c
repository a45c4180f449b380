/* clawnet run: generate token ids from a prompt of token ids (text comes with the tokenizer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"

static void run_usage(FILE *f) {
    fputs("usage: clawnet run -m MODEL --ids \"ID ID ...\" [-n N] [options]\n"
          "\n"
          "Feeds the prompt token ids through the model (one prefill) and generates N more ids,\n"
          "one decode step each, printing them space-separated on stdout as they come.\n"
          "\n"
          "  -m, --model PATH   checkpoint directory (config.json + *.safetensors) or .gguf file\n"
          "  --ids \"...\"        prompt token ids (spaces or commas)\n"
          "  -n N               ids to generate (default 16)\n"
          "  --temp T           sampling temperature; 0 (default) is greedy argmax\n"
          "  --top-k K          sample among the K most likely ids (default: all)\n"
          "  --top-p P          nucleus sampling mass in (0, 1] (default 1)\n"
          "  --seed S           random seed for sampling (default 0)\n"
          "  --stop-at-eos      stop when the model's EOS id is generated\n"
          "  -t, --threads N    worker threads (default: all CPUs)\n"
          "  -v, --verbose      print timing to stderr\n",
          f);
}

int cn_cmd_run(int argc, char **argv) {
    prompt_args pa = {0};
    int64_t n_generate = 16, top_k = 0, seed = 0;
    double temp = 0.0, top_p = 1.0;
    int stop_at_eos = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int shared = prompt_args_parse(&pa, argc, argv, &i);
        if (shared < 0) return 2;
        if (shared) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--stop-at-eos")) {
            stop_at_eos = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "-n")) {
            if (!cn_parse_int(a, v, 0, 1 << 24, &n_generate)) return 2;
        } else if (!strcmp(a, "--temp")) {
            if (!cn_parse_float(a, v, 0.0, 100.0, &temp)) return 2;
        } else if (!strcmp(a, "--top-k")) {
            if (!cn_parse_int(a, v, 0, INT32_MAX, &top_k)) return 2;
        } else if (!strcmp(a, "--top-p")) {
            if (!cn_parse_float(a, v, 1e-6, 1.0, &top_p)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!cn_parse_int(a, v, 0, INT64_MAX, &seed)) return 2;
        } else {
            fprintf(stderr, "clawnet run: unknown option %s (see clawnet run --help)\n", a);
            return 2;
        }
    }
    if (!prompt_args_finish(&pa, "run")) {
        prompt_args_free(&pa);
        return 2;
    }

    cn_error err = {0};
    cn_model *model = NULL;
    cn_kv_state state = {0};
    cn_sampler sampler = {0};
    float *logits = NULL;
    int status = 1;
    cn_sampler_params sp = {(float)temp, top_k, (float)top_p, (uint64_t)seed};
    if (!prompt_args_open(&pa, "run", &model, &state)) goto done;
    if (cn_sampler_init(&sampler, &sp, &err)) goto fail;
    const int64_t V = model->cfg->vocab_size, n_prompt = pa.n_ids;
    logits = malloc((size_t)(n_prompt * V) * sizeof(float));
    if (!logits) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory for %lld x %lld logits", (long long)n_prompt, (long long)V);
        goto fail;
    }
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (cn_model_forward(model, &state, pa.ids, n_prompt, logits, NULL, &err)) goto fail;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const float *last = logits + (n_prompt - 1) * V;
    int64_t generated = 0;
    for (int64_t i = 0; i < n_generate; i++) {
        int32_t next = cn_sampler_next(&sampler, last, V);
        printf(i ? " %d" : "%d", next);
        fflush(stdout);
        generated++;
        if (stop_at_eos && next == model->cfg->eos_token_id) break;
        if (i + 1 == n_generate) break;
        if (cn_model_forward(model, &state, &next, 1, logits, NULL, &err)) goto fail;
        last = logits;
    }
    putchar('\n');
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (verbose) {
        double pre = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gen = (double)(t2.tv_sec - t1.tv_sec) + 1e-9 * (double)(t2.tv_nsec - t1.tv_nsec);
        fprintf(stderr, "prefill: %lld tokens in %.3f s; generation: %lld tokens in %.3f s\n", (long long)n_prompt, pre,
                (long long)generated, gen);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet run: %s\n", err.msg);
done:
    free(logits);
    prompt_args_free(&pa);
    cn_sampler_free(&sampler);
    cn_kv_state_free(&state);
    cn_model_close(model);
    return status;
}
