/* clawnet serve: the model over HTTP (OpenAI- and Anthropic-compatible APIs) until SIGINT or
 * SIGTERM. Opens the model and its tokenizer, starts the engine (serve/engine.h) and the HTTP
 * layer (serve/http.h), registers the routes, then waits for a signal in the main thread; every
 * other thread has the signals blocked, so the stop is orderly: HTTP first (open requests see
 * their client gone and cancel their tickets), then the engine, then the model. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "cli/prompt_args.h"
#include "model/weight_traffic.h"
#include "serve/app.h"
#include "serve/auth.h"
#include "serve/engine.h"
#include "text/token_bytes_export.h"
#include "serve/http.h"
#include "serve/reply_registry.h"
#include "serve/server_routes.h"
#include "serve/tool_call_registry.h"

static const char serve_usage[] =
    "usage: clawnet serve -m MODEL [--host ADDR] [--port N] [--api-key-file FILE] [--parallel N]\n"
    "                     [--queue N] [--ctx N] [--kv-dir DIR] [options]\n"
    "\n"
    "Serves MODEL over HTTP/1.1 (keep-alive, libmicrohttpd) until SIGINT or SIGTERM. Prints\n"
    "\"clawnet serve: listening on http://HOST:PORT (model NAME)\" on stderr once it accepts\n"
    "connections. Endpoints: GET /health, GET /v1/models, POST /tokenize, POST /detokenize,\n"
    "GET /metrics (Prometheus), and the API adapters' routes (POST /v1/chat/completions, /v1/completions,\n"
    "/v1/messages, /v1/messages/count_tokens, /v1/responses).\n"
    "See docs/serving.md.\n"
    "\n"
    "  -m, --model PATH      checkpoint directory or .gguf file\n"
    "  --tokenizer PATH      tokenizer.json, a directory holding one, or a GGUF;\n"
    "                        default MODEL/tokenizer.json, or MODEL itself if it is a GGUF\n"
    "  --model-name NAME     the model id clients see and send (default: MODEL's base name)\n"
    "  --host ADDR           address to listen on (default 127.0.0.1: this machine only; 0.0.0.0\n"
    "                        or :: for every interface, then use --api-key-file)\n"
    "  --port N              TCP port (default 8080; 0: any free port, printed when listening)\n"
    "  --api-key-file FILE   the API key is the first line of FILE; every route but /health then\n"
    "                        needs \"Authorization: Bearer KEY\" or \"x-api-key: KEY\" (else 401)\n"
    "  --parallel N          sequences decoded together (continuous batching; default 4)\n"
    "  --queue N             requests that may wait for a free sequence; more get 429 (default 32)\n"
    "  --ctx N               positions per sequence, prompt and answer (default: the model's\n"
    "                        max_position_embeddings, at most 65536)\n"
    "  --max-tokens N        answer length when a request sets none (default: up to --ctx)\n"
    "  --cache-size BYTES    in-memory prefix cache: states of earlier prompts (default 1G)\n"
    "  --kv-dir DIR          keep prefix states on disk under DIR, reused after restarts\n"
    "  --kv-dir-size BYTES   size bound of DIR, least recently used evicted (default 8G)\n"
    "  --max-body BYTES      larger request bodies get 413 before any work (default 16M)\n"
    "  --max-connections N   open connections at most, idle keep-alive ones included (default 128)\n"
    "  --timeout S           close a connection idle for S seconds (default 60)\n"
    "  -t, --threads N       worker threads of the model (default: all CPUs)\n"
    PROMPT_ARGS_KV_TYPE_HELP
    PROMPT_ARGS_ACT_HELP
    "\n"
    "BYTES take a K, M or G suffix (powers of 1024).\n";

/* "16M" -> 16 << 20 (suffixes K, M, G: powers of 1024); prints an error under option and returns
 * false on anything else. */
static bool parse_bytes(const char *option, const char *text, size_t min, size_t *out) {
    char *end;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    int shift = -1;
    if (text[0] >= '0' && text[0] <= '9') {
        const char *suffixes = "KMG";
        const char *s = end[0] && !end[1] ? strchr(suffixes, end[0] & ~0x20) : NULL;
        if (!end[0]) shift = 0;
        else if (s) shift = 10 * (int)(s - suffixes + 1);
    }
    if (shift < 0 || v > (SIZE_MAX >> shift) || (v << shift) < min) {
        fprintf(stderr, "clawnet serve: %s takes a size in bytes of at least %zu (K, M, G suffixes), not '%s'\n",
                option, min, text);
        return false;
    }
    *out = (size_t)(v << shift);
    return true;
}

/* The base name of the model path, without a trailing slash or ".gguf". */
static char *default_model_name(const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start && path[start - 1] != '/') start--;
    size_t n = len - start;
    if (n > 5 && !strncmp(path + len - 5, ".gguf", 5)) n -= 5;
    char *name = malloc(n + 1);
    if (name) {
        memcpy(name, path + start, n);
        name[n] = '\0';
    }
    return name;
}

/* 127.0.0.0/8, ::1 and "localhost": reachable from this machine only. */
static bool is_loopback(const char *host) {
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

/* A key file others can read gives the key away; say so (the server still starts). */
static void check_key_file_mode(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "clawnet serve: warning: the API key file %s can be read by other users (chmod 600 %s)\n", path,
                path);
}

typedef struct {
    prompt_args pa;
    const char *tokenizer_path, *model_name, *host, *api_key_file, *kv_dir;
    int64_t port, parallel, queue, ctx, max_tokens, max_connections, timeout_s;
    size_t cache_bytes, kv_dir_bytes, max_body;
} serve_args;

/* 0 to go on, else the exit status. */
static int parse_args(serve_args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *v;
        int shared = prompt_args_parse(&a->pa, argc, argv, &i);
        if (shared < 0) return 2;
        if (shared) {
            if (a->pa.ids_text) {
                fputs("clawnet serve: --ids is for clawnet run\n", stderr);
                return 2;
            }
            continue;
        }
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(serve_usage, stdout);
            return -1;
        }
        static const char *const valued[] = {"--tokenizer", "--model-name", "--host", "--api-key-file", "--kv-dir",
                                             "--port", "--parallel", "--queue", "--ctx", "--max-tokens",
                                             "--max-connections", "--timeout", "--cache-size", "--kv-dir-size",
                                             "--max-body"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(opt, valued[k]);
        if (!known) {
            fprintf(stderr, "clawnet serve: unknown option %s (see clawnet serve --help)\n", opt);
            return 2;
        }
        if (!(v = cn_option_value(argc, argv, &i))) return 2;
        bool ok = true;
        if (!strcmp(opt, "--tokenizer")) a->tokenizer_path = v;
        else if (!strcmp(opt, "--model-name")) a->model_name = v;
        else if (!strcmp(opt, "--host")) a->host = v;
        else if (!strcmp(opt, "--api-key-file")) a->api_key_file = v;
        else if (!strcmp(opt, "--kv-dir")) a->kv_dir = v;
        else if (!strcmp(opt, "--port")) ok = cn_parse_int(opt, v, 0, 65535, &a->port);
        else if (!strcmp(opt, "--parallel")) ok = cn_parse_int(opt, v, 1, 1024, &a->parallel);
        else if (!strcmp(opt, "--queue")) ok = cn_parse_int(opt, v, 0, 1 << 20, &a->queue);
        else if (!strcmp(opt, "--ctx")) ok = cn_parse_int(opt, v, 2, (int64_t)1 << 40, &a->ctx);
        else if (!strcmp(opt, "--max-tokens")) ok = cn_parse_int(opt, v, 1, (int64_t)1 << 40, &a->max_tokens);
        else if (!strcmp(opt, "--max-connections")) ok = cn_parse_int(opt, v, 1, 1 << 16, &a->max_connections);
        else if (!strcmp(opt, "--timeout")) ok = cn_parse_int(opt, v, 1, 86400, &a->timeout_s);
        else if (!strcmp(opt, "--cache-size")) ok = parse_bytes(opt, v, 0, &a->cache_bytes);
        else if (!strcmp(opt, "--kv-dir-size")) ok = parse_bytes(opt, v, 1 << 20, &a->kv_dir_bytes);
        else ok = parse_bytes(opt, v, 1, &a->max_body); /* --max-body */
        if (!ok) return 2;
    }
    if (!a->pa.model_path) {
        fputs("clawnet serve: -m MODEL is required (see clawnet serve --help)\n", stderr);
        return 2;
    }
    if (a->model_name && !*a->model_name) {
        fputs("clawnet serve: --model-name is empty\n", stderr);
        return 2;
    }
    return 0;
}

int cn_cmd_serve(int argc, char **argv) {
    serve_args a = {.pa = {.command = "serve"}, .host = "127.0.0.1", .port = 8080, .parallel = 4, .queue = 32,
                    .max_connections = 128, .timeout_s = 60, .cache_bytes = (size_t)1 << 30, .max_body = (size_t)16 << 20};
    int status = parse_args(&a, argc, argv);
    if (status) return status < 0 ? 0 : status;

    /* Block the stop signals before any thread exists, so they all inherit the mask and only
     * sigwait below takes them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    cn_error err = {0};
    cn_model *model = NULL;
    cn_tokenizer *tok = NULL;
    cn_engine *engine = NULL;
    serve_tool_calls *tool_calls = NULL;
    serve_replies *replies = NULL;
    cn_token_bytes *token_bytes = NULL;
    cn_constraint_vocab *constraint_vocab = NULL;
    serve_http *http = NULL;
    char *api_key = NULL, *name = NULL, *identity = NULL;
    status = 1;
    if (cn_model_open(a.pa.model_path, (int)a.pa.threads, &model, &err)) goto fail;
    prompt_args_apply_act(model, a.pa.act);
    if (!(tok = cli_tokenizer_open(a.tokenizer_path, a.pa.model_path, model, "serve"))) goto done;
    if (a.api_key_file) {
        if (serve_api_key_read_file(a.api_key_file, &api_key, &err)) goto fail;
        check_key_file_mode(a.api_key_file);
    }
    name = a.model_name ? strdup(a.model_name) : default_model_name(a.pa.model_path);
    if (!name || !*name) {
        fputs("clawnet serve: cannot name the model: give --model-name\n", stderr);
        goto done;
    }
    /* The prefix store (--kv-dir) keeps states the model computed: named by the weights and the
     * activations that computed them (prompt_args.h). */
    if (!(identity = prompt_model_identity(a.pa.model_path, a.pa.act))) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t ctx = a.ctx;
    if (!ctx) {
        ctx = model->cfg->max_position_embeddings;
        if (ctx <= 0 || ctx > 65536) ctx = 65536;
    }
    cn_engine_options eo = {
        .parallel = (int)a.parallel,
        .queue_limit = (int)a.queue,
        .ctx = ctx,
        .kv = prompt_kv_options(&a.pa.kv),
        .cache_bytes = a.cache_bytes,
        .kv_dir = a.kv_dir,
        .kv_dir_bytes = a.kv_dir_bytes,
        .model_identity = identity,
    };
    if (cn_engine_start(model, &eo, &engine, &err)) goto fail;
    if (serve_tool_calls_create(4096, (size_t)64 << 20, &tool_calls, &err)) goto fail;
    if (serve_replies_create(tok, 4096, (size_t)128 << 20, &replies, &err)) goto fail;
    /* Built once, shared read-only by every constrained request (sample/constraint_vocab.h). */
    if (cn_token_bytes_from_tokenizer(tok, &token_bytes, &err) ||
        cn_constraint_vocab_create(token_bytes, &constraint_vocab, &err))
        goto fail;
    serve_app app = {
        .model = model,
        .tokenizer = tok,
        .engine = engine,
        .tool_calls = tool_calls,
        .replies = replies,
        .constraint_vocab = constraint_vocab,
        .model_name = name,
        .ctx = ctx,
        .default_max_tokens = a.max_tokens ? a.max_tokens : ctx,
    };
    serve_http_options ho = {
        .host = a.host,
        .port = (int)a.port,
        .max_body_bytes = a.max_body,
        .max_connections = (int)a.max_connections,
        .connection_timeout_s = (int)a.timeout_s,
        .api_key = api_key,
    };
    serve_server_context server = {.app = &app, .created = (int64_t)time(NULL)};
    if (serve_http_create(&ho, &http, &err)) goto fail;
    server.http = http;
    if (serve_server_routes(http, &server, &err) || serve_openai_routes(http, &app, &err) ||
        serve_anthropic_routes(http, &app, &err) || serve_responses_routes(http, &app, &err) ||
        serve_http_start(http, &err))
        goto fail;
    if (!api_key && !is_loopback(a.host))
        fprintf(stderr, "clawnet serve: warning: listening on %s without --api-key-file: anyone who can reach this "
                        "address can use the model\n", a.host);
    const cn_weight_traffic traffic = cn_model_weight_traffic(model);
    fprintf(stderr, "clawnet serve: activations %s: int8 dots on %.1f %% of the weight bytes per token%s\n",
            prompt_act_name(a.pa.act), 100.0 * traffic.int8_dot / traffic.per_token,
            a.pa.act == PROMPT_ACT_Q8 ? " (--act f32 for exact f32 activations)" : "");
    bool v6 = strchr(a.host, ':') != NULL;
    fprintf(stderr, "clawnet serve: listening on http://%s%s%s:%d (model %s)\n", v6 ? "[" : "", a.host, v6 ? "]" : "",
            serve_http_port(http), name);
    fflush(stderr);

    int sig = 0;
    while (sigwait(&stop_signals, &sig)) {
    }
    fprintf(stderr, "clawnet serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet serve: %s\n", err.msg);
done:
    serve_http_destroy(http); /* first: handlers stop and release their tickets */
    if (engine) cn_engine_stop(engine);
    serve_tool_calls_free(tool_calls);
    serve_replies_free(replies);
    cn_constraint_vocab_free(constraint_vocab);
    cn_token_bytes_free(token_bytes);
    cn_tokenizer_free(tok);
    cn_model_close(model);
    if (api_key) {
        memset(api_key, 0, strlen(api_key));
        free(api_key);
    }
    free(name);
    free(identity);
    return status;
}
