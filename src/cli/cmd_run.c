/* clawnet run: complete a raw prompt (text through the tokenizer, or token ids), streaming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "cli/prompt_args.h"

static void run_usage(FILE *f) {
    fputs("usage: clawnet run -m MODEL -p \"PROMPT\" [-n N] [options]\n"
          "       clawnet run -m MODEL --ids \"ID ID ...\" [-n N] [options]\n"
          "\n"
          "Raw completion, no chat template. With -p the prompt is text: it is tokenized (added tokens\n"
          "such as <｜User｜> in it are recognised: it is your own prompt) and the generated text is\n"
          "streamed to stdout as it is produced, stopping at EOS. With --ids the prompt is token ids\n"
          "and the generated ids are printed space-separated. A statistics line goes to stderr\n"
          "(text mode, or -v).\n"
          "\n"
          "  -m, --model PATH   checkpoint directory (config.json + *.safetensors) or .gguf file\n"
          "  -p, --prompt TEXT  prompt text\n"
          "  --tokenizer PATH   tokenizer.json, a directory holding one, or a GGUF;\n"
          "                     default MODEL/tokenizer.json, or MODEL itself if it is a GGUF\n"
          "  --ids \"...\"        prompt token ids (spaces or commas)\n"
          "  -n N               tokens to generate at most (default 16)\n"
          "  --temp T           sampling temperature; 0 (default) is greedy argmax\n"
          "  --top-k K          sample among the K most likely ids (default: all)\n"
          "  --top-p P          nucleus sampling mass in (0, 1] (default 1)\n"
          "  --seed S           random seed for sampling (default 0)\n"
          "  --stop-at-eos      stop when the model's EOS id is generated (the default with -p)\n"
          "  --ignore-eos       do not stop at EOS\n"
          "  --print-prompt-ids print the prompt's token ids on stderr before generating\n"
          "  -t, --threads N    worker threads (default: all CPUs)\n"
          PROMPT_ARGS_KV_TYPE_HELP
          PROMPT_ARGS_ACT_HELP
          "  -v, --verbose      print the statistics line in --ids mode too\n",
          f);
}

typedef struct {
    bool as_text;
    cn_detokenizer *detok;
    int64_t printed;
    int32_t stop_id; /* the EOS that ends a text run: a stop, not text, so it is not printed; -1: none */
} run_output;

static bool print_token(void *context, int32_t id, cn_error *err) {
    run_output *out = context;
    if (out->as_text && id == out->stop_id) return true;
    if (out->as_text) {
        const char *text;
        size_t len;
        if (cn_detokenizer_push(out->detok, id, &text, &len, err) != CN_OK) return false;
        fwrite(text, 1, len, stdout);
    } else {
        printf(out->printed ? " %d" : "%d", id);
    }
    out->printed++;
    fflush(stdout);
    return true;
}

int cn_cmd_run(int argc, char **argv) {
    prompt_args pa = {.command = "run"};
    const char *prompt = NULL, *tokenizer_path = NULL;
    int64_t n_generate = 16;
    cn_sampler_params sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 0}; /* greedy */
    int sampling;
    int stop_at_eos = -1, verbose = 0, print_prompt_ids = 0;
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
        } else if (!strcmp(a, "--ignore-eos")) {
            stop_at_eos = 0;
        } else if (!strcmp(a, "--print-prompt-ids")) {
            print_prompt_ids = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            prompt = v;
        } else if (!strcmp(a, "--tokenizer")) {
            tokenizer_path = v;
        } else if (!strcmp(a, "-n")) {
            if (!cn_parse_int(a, v, 0, 1 << 24, &n_generate)) return 2;
        } else if ((sampling = cn_parse_sampling_option(a, v, &sp)) != 0) {
            if (sampling < 0) return 2;
        } else {
            fprintf(stderr, "clawnet run: unknown option %s (see clawnet run --help)\n", a);
            return 2;
        }
    }
    const bool as_text = prompt != NULL;
    if (as_text && pa.ids_text) {
        fputs("clawnet run: give -p or --ids, not both\n", stderr);
        return 2;
    }
    if (as_text) {
        if (!pa.model_path) {
            fputs("clawnet run: -m MODEL is required (see clawnet run --help)\n", stderr);
            return 2;
        }
        if (!prompt[0]) {
            fputs("clawnet run: the prompt (-p) is empty\n", stderr);
            return 2;
        }
    } else if (!prompt_args_finish(&pa, "run")) {
        prompt_args_free(&pa);
        return 2;
    }
    if (stop_at_eos < 0) stop_at_eos = as_text;

    cn_error err = {0};
    cn_model *model = NULL;
    cn_kv_state state = {0};
    cn_sampler sampler = {0};
    cn_tokenizer *tok = NULL;
    run_output out = {.as_text = as_text, .stop_id = -1};
    int32_t *text_ids = NULL;
    int status = 1;
    if (!prompt_args_open(&pa, "run", &model, &state)) goto done;
    const int32_t *ids = pa.ids;
    int64_t n_ids = pa.n_ids;
    if (as_text) {
        if (!(tok = cli_tokenizer_open(tokenizer_path, pa.model_path, model, "run"))) goto done;
        size_t n;
        if (cn_tokenizer_encode(tok, prompt, strlen(prompt), CN_ADDED_TOKENS_ALL, &text_ids, &n, &err)) goto fail;
        if (n == 0) {
            cn_fail(&err, CN_ERR_ARG, "the prompt encodes to no tokens");
            goto fail;
        }
        if (cn_detokenizer_new(tok, &out.detok, &err)) goto fail;
        ids = text_ids;
        n_ids = (int64_t)n;
    }
    if (print_prompt_ids) {
        fputs("prompt ids:", stderr);
        for (int64_t i = 0; i < n_ids; i++) fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    if (cn_sampler_init(&sampler, &sp, &err)) goto fail;
    out.stop_id = stop_at_eos ? (int32_t)model->cfg->eos_token_id : -1;
    cli_generation g = {model, &state, &sampler, n_generate, stop_at_eos, print_token, &out};
    cli_generation_stats stats;
    if (n_generate == 0) {
        memset(&stats, 0, sizeof stats);
    } else if (cli_generate(&g, ids, n_ids, &stats, &err)) {
        goto fail;
    }
    stats.prompt_tokens = n_ids;
    if (as_text) {
        const char *tail;
        size_t len;
        cn_detokenizer_finish(out.detok, &tail, &len);
        fwrite(tail, 1, len, stdout);
    }
    putchar('\n');
    fflush(stdout);
    if (as_text || verbose) cli_print_stats(&stats);
    status = 0;
    goto done;
fail:
    fflush(stdout);
    fprintf(stderr, "clawnet run: %s\n", err.msg);
done:
    free(text_ids);
    cn_detokenizer_free(out.detok);
    cn_tokenizer_free(tok);
    prompt_args_free(&pa);
    cn_sampler_free(&sampler);
    cn_kv_state_free(&state);
    cn_model_close(model);
    return status;
}
