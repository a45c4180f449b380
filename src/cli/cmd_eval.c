/* clawnet eval: how far a quantised model is from its reference on the same tokens. Both run
 * over windows of the token stream (a fresh state each); per position the KL divergence
 * KL(ref || model) and top-1 agreement, per predicted token each model's NLL; summarised by
 * src/sample/logit_stats. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_args.h"
#include "model/weight_traffic.h"

static void eval_usage(FILE *f) {
    fputs("usage: clawnet eval -m MODEL --ref REFERENCE (--tokens FILE | --tokens-text FILE --tokenizer PATH)\n"
          "                    [--ctx N] [--max-tokens N] [-t THREADS] [--act q8|f32] [--kv-type T]\n"
          "                    [--kv-index-type T] [--json FILE]\n"
          "\n"
          "Runs MODEL (e.g. a quantised GGUF) and REFERENCE over the same token ids and reports\n"
          "how far MODEL's next-token distributions are from REFERENCE's:\n"
          "  KL(ref || model) per position: mean, median, 99th percentile, max (nats)\n"
          "  top-1 agreement: fraction of positions whose most likely token is the same\n"
          "  perplexity of each model on the text (next-token prediction), difference and ratio\n"
          "\n"
          "  --tokens FILE       whitespace-separated token ids; - reads stdin\n"
          "  --tokens-text FILE  UTF-8 text (- for stdin), tokenised with --tokenizer PATH (a\n"
          "                      tokenizer.json, a directory with one, or a GGUF); added tokens in\n"
          "                      the text are recognised, as HF's encode does\n"
          "  --ctx N             window length (default 512): the ids are cut into windows of N,\n"
          "                      each run from an empty state; the last may be shorter\n"
          "  --max-tokens N      use only the first N ids\n"
          "  --act q8|f32        MODEL's activations against its Q8_0, Q2_K..Q6_K, IQ2_XXS and MXFP4\n"
          "                      weights: q8 (default, as clawnet run) rounds each token's input to\n"
          "                      8-bit integers and multiplies by integer dot products; f32 is the\n"
          "                      exact path the oracle tests check, so MODEL's storage costs alone.\n"
          "                      F32, BF16, F16 and FP8 weights always take f32. REFERENCE always runs\n"
          "                      with f32 activations: -m X --ref X measures what q8 costs on X (KL\n"
          "                      3-7e-4 nats on trained Q8_0 weights, docs/performance.md).\n"
          "                      --act-q8, --act-f32: the same as --act q8/f32\n"
          "  --kv-type T         MODEL's storage of the KV rows, as clawnet run: fp8 (default), bf16\n"
          "                      or f32; REFERENCE always keeps f32 rows and keys, so -m X --ref X\n"
          "                      --act f32 measures what the KV storage alone costs\n"
          "  --kv-index-type T   MODEL's indexer keys: f32, bf16, fp8 or fp4 (default: --kv-type)\n"
          "  --json FILE         also write the summary as JSON\n"
          "\n"
          "KL and top-1 cover every position; perplexity covers every position that has a next\n"
          "token in its window (n - 1 per window). Progress goes to stderr, results to stdout.\n",
          f);
}

/* The whole of path (or stdin for "-") as a NUL-terminated string. */
static char *read_all(const char *path, size_t *size, cn_error *err) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        cn_fail(err, CN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *grown = realloc(buf, cap *= 2);
        if (!grown) free(buf);
        buf = grown;
    }
    const int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf) {
        cn_fail(err, CN_ERR_NOMEM, "out of memory reading %s", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        cn_fail(err, CN_ERR_IO, "error reading %s", path);
        return NULL;
    }
    buf[n] = '\0';
    *size = n;
    return buf;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Whitespace-separated non-negative ids. */
static cn_status parse_token_file(const char *path, int32_t **ids, int64_t *n, cn_error *err) {
    size_t size = 0;
    char *text = read_all(path, &size, err);
    if (!text) return err->code;
    int64_t cap = 1024, count = 0;
    int32_t *out = malloc((size_t)cap * sizeof *out);
    cn_status st = CN_OK;
    for (char *p = text; out;) {
        while (is_space(*p)) p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && !is_space(*end))) {
            char *stop = p;
            while (*stop && !is_space(*stop) && stop - p < 40) stop++;
            st = cn_fail(err, CN_ERR_ARG, "%s: token %lld, \"%.*s\", is not a token id (a non-negative integer)", path,
                         (long long)count + 1, (int)(stop - p), p);
            break;
        }
        if (count == cap) {
            int32_t *grown = realloc(out, (size_t)(cap *= 2) * sizeof *out);
            if (!grown) free(out);
            out = grown;
            if (!out) break;
        }
        out[count++] = (int32_t)v;
        p = end;
    }
    free(text);
    if (!out) return cn_fail(err, CN_ERR_NOMEM, "out of memory reading token ids from %s", path);
    if (st == CN_OK && count == 0) st = cn_fail(err, CN_ERR_ARG, "%s holds no token ids", path);
    if (st != CN_OK) {
        free(out);
        return st;
    }
    *ids = out;
    *n = count;
    return CN_OK;
}

static cn_status tokenize_text_file(const char *path, const char *tokenizer_path, int32_t **ids, int64_t *n,
                                    cn_error *err) {
    struct stat sb;
    char *file = NULL;
    size_t len = strlen(tokenizer_path);
    if (stat(tokenizer_path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (!(file = malloc(len + sizeof "/tokenizer.json"))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        snprintf(file, len + sizeof "/tokenizer.json", "%s/tokenizer.json", tokenizer_path);
    }
    cn_tokenizer *tok = NULL;
    if (cn_tokenizer_load(file ? file : tokenizer_path, &tok, err) != CN_OK) {
        free(file);
        return err->code;
    }
    free(file);
    size_t size = 0, count = 0;
    char *text = read_all(path, &size, err);
    cn_status st = text ? cn_tokenizer_encode(tok, text, size, CN_ADDED_TOKENS_ALL, ids, &count, err) : err->code;
    free(text);
    cn_tokenizer_free(tok);
    if (st != CN_OK) return st;
    if (count == 0) return cn_fail(err, CN_ERR_ARG, "%s holds no text to tokenise", path);
    *n = (int64_t)count;
    return CN_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_number(FILE *f, const char *key, double v, int last) {
    fprintf(f, "  \"%s\": ", key);
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
    fputs(last ? "\n" : ",\n", f);
}

typedef struct {
    const char *model_path, *ref_path;
    int64_t n_tokens, ctx, windows;
    prompt_act act;
    cn_kv_options kv; /* MODEL's; the reference's are F32 */
    double int8_share; /* of MODEL's weight bytes per token, the share multiplied by int8 dots */
} eval_run;

static cn_status write_json(const char *path, const eval_run *r, const cn_logit_summary *s, cn_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return cn_fail(err, CN_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    fputs("{\n  \"model\": ", f);
    json_string(f, r->model_path);
    fputs(",\n  \"reference\": ", f);
    json_string(f, r->ref_path);
    fprintf(f, ",\n  \"activations\": \"%s\",\n  \"act_q8\": %s,\n  \"reference_activations\": \"f32\"",
            prompt_act_name(r->act), r->act == PROMPT_ACT_Q8 ? "true" : "false");
    fprintf(f, ",\n  \"int8_dot_share\": %.17g", r->int8_share);
    fprintf(f, ",\n  \"kv_type\": \"%s\",\n  \"kv_index_type\": \"%s\",\n  \"reference_kv_type\": \"f32\"",
            cn_kv_type_name(r->kv.rows), cn_kv_type_name(r->kv.index));
    fprintf(f,
            ",\n  \"tokens\": %lld,\n  \"ctx\": %lld,\n  \"windows\": %lld,\n  \"positions\": %lld,\n"
            "  \"predicted\": %lld,\n",
            (long long)r->n_tokens, (long long)r->ctx, (long long)r->windows, (long long)s->positions,
            (long long)s->predicted);
    json_number(f, "kl_mean", s->kl_mean, 0);
    json_number(f, "kl_median", s->kl_median, 0);
    json_number(f, "kl_p99", s->kl_p99, 0);
    json_number(f, "kl_max", s->kl_max, 0);
    json_number(f, "top1_agreement", s->top1_agreement, 0);
    json_number(f, "model_nll", s->test_nll, 0);
    json_number(f, "ref_nll", s->ref_nll, 0);
    json_number(f, "model_ppl", s->test_ppl, 0);
    json_number(f, "ref_ppl", s->ref_ppl, 0);
    json_number(f, "ppl_diff", s->test_ppl - s->ref_ppl, 0);
    json_number(f, "ppl_ratio", s->test_ppl / s->ref_ppl, 1);
    fputs("}\n", f);
    if (fclose(f) != 0) return cn_fail(err, CN_ERR_IO, "error writing %s", path);
    return CN_OK;
}

static void print_summary(const eval_run *r, const cn_logit_summary *s) {
    if (r->act == PROMPT_ACT_Q8)
        printf("model      %s (8-bit activations: int8 dots on %.1f %% of the weight bytes per token;", r->model_path,
               100.0 * r->int8_share);
    else
        printf("model      %s (f32 activations;", r->model_path);
    printf(" KV rows %s, indexer keys %s)\n", cn_kv_type_name(r->kv.rows), cn_kv_type_name(r->kv.index));
    printf("reference  %s (f32 activations; KV rows f32, indexer keys f32)\n", r->ref_path);
    printf("tokens     %lld in %lld window%s of up to %lld (%lld positions, %lld predicted)\n", (long long)r->n_tokens,
           (long long)r->windows, r->windows == 1 ? "" : "s", (long long)r->ctx, (long long)s->positions,
           (long long)s->predicted);
    printf("KL(ref||model)  mean %.6g  median %.6g  p99 %.6g  max %.6g  (nats)\n", s->kl_mean, s->kl_median,
           s->kl_p99, s->kl_max);
    printf("top-1 agreement %.6f\n", s->top1_agreement);
    if (s->predicted > 0)
        printf("perplexity      model %.6g  reference %.6g  difference %+.6g  ratio %.6f\n", s->test_ppl, s->ref_ppl,
               s->test_ppl - s->ref_ppl, s->test_ppl / s->ref_ppl);
    else
        printf("perplexity      n/a (no window has a next token to predict)\n");
}

int cn_cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *ref_path = NULL, *tokens_path = NULL, *text_path = NULL, *tokenizer_path = NULL,
               *json_path = NULL;
    int64_t ctx = 512, max_tokens = 0, threads = 0;
    prompt_act act = PROMPT_ACT_Q8;
    prompt_kv kv_args = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        const int shared = prompt_args_parse_act("eval", argc, argv, &i, &act);
        const int kv_option = shared ? 0 : prompt_args_parse_kv("eval", argc, argv, &i, &kv_args);
        if (shared < 0 || kv_option < 0) return 2;
        if (shared || kv_option) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            eval_usage(stdout);
            return 0;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model_path = v;
        } else if (!strcmp(a, "--ref")) {
            ref_path = v;
        } else if (!strcmp(a, "--tokens")) {
            tokens_path = v;
        } else if (!strcmp(a, "--tokens-text")) {
            text_path = v;
        } else if (!strcmp(a, "--tokenizer")) {
            tokenizer_path = v;
        } else if (!strcmp(a, "--json")) {
            json_path = v;
        } else if (!strcmp(a, "--ctx")) {
            if (!cn_parse_int(a, v, 1, INT32_MAX, &ctx)) return 2;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!cn_parse_int(a, v, 1, INT64_MAX, &max_tokens)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cn_parse_int(a, v, 1, 1024, &threads)) return 2;
        } else {
            fprintf(stderr, "clawnet eval: unknown option %s (see clawnet eval --help)\n", a);
            return 2;
        }
    }
    if (!model_path || !ref_path) {
        fputs("clawnet eval: -m MODEL and --ref REFERENCE are required (see clawnet eval --help)\n", stderr);
        return 2;
    }
    if (!tokens_path == !text_path) {
        fputs("clawnet eval: give exactly one of --tokens FILE and --tokens-text FILE (see clawnet eval --help)\n",
              stderr);
        return 2;
    }
    if (text_path && !tokenizer_path) {
        fputs("clawnet eval: --tokens-text needs --tokenizer PATH\n", stderr);
        return 2;
    }

    cn_error err = {0};
    cn_model *model = NULL, *ref = NULL;
    cn_kv_state model_state = {0}, ref_state = {0};
    cn_logit_stats stats = {0};
    int32_t *ids = NULL;
    float *model_logits = NULL, *ref_logits = NULL;
    int64_t n = 0;
    int status = 1;
    if ((tokens_path ? parse_token_file(tokens_path, &ids, &n, &err)
                     : tokenize_text_file(text_path, tokenizer_path, &ids, &n, &err)) != CN_OK)
        goto fail;
    if (max_tokens > 0 && n > max_tokens) n = max_tokens;
    if (cn_model_open(model_path, (int)threads, &model, &err) || cn_model_open(ref_path, (int)threads, &ref, &err))
        goto fail;
    prompt_args_apply_act(model, act);
    cn_model_set_act_q8(ref, false); /* the reference is exact whatever MODEL runs with */
    const int64_t V = model->cfg->vocab_size;
    if (ref->cfg->vocab_size != V) {
        cn_fail(&err, CN_ERR_ARG, "the vocabularies differ: %s has %lld ids, the reference %s has %lld", model_path,
                (long long)V, ref_path, (long long)ref->cfg->vocab_size);
        goto fail;
    }
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= V) {
            cn_fail(&err, CN_ERR_ARG, "token id %d (token %lld of the input) is outside the vocabulary (0..%lld)", ids[i],
                    (long long)i + 1, (long long)V - 1);
            goto fail;
        }
    const cn_kv_options kv = prompt_kv_options(&kv_args);
    if (cn_model_state_init_opts(model, &model_state, &kv, &err) || cn_model_state_init(ref, &ref_state, &err)) goto fail;
    const int64_t chunk = ctx < 128 ? ctx : 128;
    model_logits = malloc((size_t)(chunk * V) * sizeof(float));
    ref_logits = malloc((size_t)(chunk * V) * sizeof(float));
    if (!model_logits || !ref_logits) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory for 2 x %lld x %lld logits", (long long)chunk, (long long)V);
        goto fail;
    }
    const cn_weight_traffic traffic = cn_model_weight_traffic(model);
    eval_run run = {model_path, ref_path, n, ctx, (n + ctx - 1) / ctx, act, kv, traffic.int8_dot / traffic.per_token};
    const double start = now_s();
    double last_report = start;
    for (int64_t w0 = 0, window = 0; w0 < n; w0 += ctx, window++) {
        const int64_t w1 = n - w0 < ctx ? n : w0 + ctx;
        cn_kv_state_reset(&model_state);
        cn_kv_state_reset(&ref_state);
        for (int64_t c0 = w0; c0 < w1; c0 += chunk) {
            const int64_t len = w1 - c0 < chunk ? w1 - c0 : chunk;
            if (cn_model_forward(ref, &ref_state, ids + c0, len, ref_logits, NULL, &err) ||
                cn_model_forward(model, &model_state, ids + c0, len, model_logits, NULL, &err))
                goto fail;
            for (int64_t i = 0; i < len; i++) {
                const int64_t pos = c0 + i;
                if (cn_logit_stats_add(&stats, ref_logits + i * V, model_logits + i * V, V,
                                       pos + 1 < w1 ? ids[pos + 1] : -1, &err))
                    goto fail;
            }
        }
        const double t = now_s();
        if (run.windows > 1 && (t - last_report >= 1.0 || window + 1 == run.windows) && t - start >= 1.0) {
            fprintf(stderr, "eval: window %lld/%lld, %lld/%lld tokens, %.1f s, %.1f tokens/s\n", (long long)window + 1,
                    (long long)run.windows, (long long)w1, (long long)n, t - start, (double)w1 / (t - start));
            last_report = t;
        }
    }
    cn_logit_summary summary;
    if (cn_logit_stats_summary(&stats, &summary, &err)) goto fail;
    if (json_path && write_json(json_path, &run, &summary, &err)) goto fail;
    print_summary(&run, &summary);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet eval: %s\n", err.msg);
done:
    free(ids);
    free(model_logits);
    free(ref_logits);
    cn_logit_stats_free(&stats);
    cn_kv_state_free(&model_state);
    cn_kv_state_free(&ref_state);
    cn_model_close(model);
    cn_model_close(ref);
    return status;
}
