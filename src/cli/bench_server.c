/* clawnet bench --server URL (bench_server.h). Every request is a streamed POST
 * /v1/chat/completions (temperature 0, max_tokens N, stream_options.include_usage) sent with
 * libcurl from its own thread; the SSE chunks are parsed as they arrive so that the time of the
 * first content (or reasoning) delta is the client's time to first token, and the final usage
 * chunk gives the token counts the server itself reports (completion_tokens and
 * prompt_tokens_details.cached_tokens). */
#include "cli/bench_server.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "serve/auth.h"

#define MAX_USER_COUNTS 16
#define MAX_USERS 256
#define STREAM_LIMIT (64u << 20)

static void usage(FILE *f) {
    fputs("usage: clawnet bench --server URL [options]\n"
          "\n"
          "Measures a running OpenAI-compatible server (clawnet serve, or any other) from the client side:\n"
          "every request is a streamed POST URL/v1/chat/completions with temperature 0, max_tokens N and\n"
          "stream_options.include_usage, so the token counts are the server's own (the final usage chunk).\n"
          "\n"
          "Concurrency: for each user count U, U threads each send one request at the same moment, each\n"
          "with a prompt no other request shares (so a prefix cache cannot help), repeated -r times:\n"
          "  aggregate tok/s   completion tokens of all U requests / (last finish - first send)\n"
          "  per-user tok/s    median over the U requests of (tokens - 1) / (finish - first token): the\n"
          "                    decode rate one user sees once the first token has arrived\n"
          "  TTFT              send to the first content or reasoning delta, median over all requests\n"
          "Each is reported as the median over the repetitions with the min..max spread.\n"
          "\n"
          "Prefix cache: a conversation with a long prompt (P words) is sent cold, then sent again\n"
          "extended by the reply and one short user turn; the second request's prompt starts with the\n"
          "first one, so a server with prefix reuse answers it sooner. Both TTFTs are reported, with the\n"
          "cached_tokens the server reports for the second (prompt_tokens_details.cached_tokens).\n"
          "\n"
          "  --server URL         the server's base address, e.g. http://127.0.0.1:8080 (a trailing /v1\n"
          "                       is accepted)\n"
          "  --api-key-file FILE  send the first line of FILE as the bearer API key\n"
          "  --model NAME         the model name to send (default: the first of GET /v1/models)\n"
          "  --users A,B,...      concurrent user counts (default 1,2,4,8; at most 256 each)\n"
          "  -n N                 max_tokens of every request (default 64)\n"
          "  -p N                 words in each prompt (default 400)\n"
          "  -r N                 repetitions (default 3)\n"
          "  --json FILE          also write the results as JSON\n"
          "\n"
          "Requests that stop early (end of sequence) count the tokens they did produce. Exit status 1 if\n"
          "the server cannot be reached, answers an HTTP error (its message is printed) or sends a\n"
          "malformed stream.\n",
          f);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min, max;
    int n;
} spread;

/* Sorts v; n == 0 gives n = 0 (no value: printed as "-", null in JSON). */
static spread summarise(double *v, int n) {
    spread s = {0, 0, 0, n};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, compare_double);
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* ---- one streamed request ---- */

typedef struct {
    const char *url;     /* .../v1/chat/completions */
    const char *api_key; /* NULL: none */
    const char *body;    /* the request JSON */
    /* filled in */
    double t_send, t_first, t_end; /* t_first < 0: no content delta arrived */
    long http_status;
    int64_t deltas, completion_tokens, prompt_tokens, cached_tokens;
    bool got_usage, got_done;
    char *text; /* content deltas concatenated (the reply, for the next turn) */
    size_t text_len, text_cap;
    char *raw; /* unparsed bytes: a partial SSE line, or the whole body of an error reply */
    size_t raw_len, raw_cap;
    char error[512]; /* non-empty: the request failed */
    CURL *curl;
} bench_request;

static bool append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > STREAM_LIMIT) return false;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1) c *= 2;
        char *p = realloc(*buf, c);
        if (!p) return false;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
    return true;
}

/* One `data: {...}` payload of the stream (OpenAI chat.completion.chunk). */
static bool handle_event(bench_request *r, const char *payload) {
    if (!strcmp(payload, "[DONE]")) {
        r->got_done = true;
        return true;
    }
    cJSON *j = cJSON_Parse(payload);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(r->error, sizeof r->error, "malformed stream: a data line is not a JSON object: %.200s", payload);
        cJSON_Delete(j);
        return false;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (error) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        snprintf(r->error, sizeof r->error, "the server reported an error in the stream: %.300s",
                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        cJSON_Delete(j);
        return false;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *choice;
    cJSON_ArrayForEach(choice, choices) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
        const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(delta, "reasoning_content");
        bool has_content = cJSON_IsString(content) && content->valuestring[0];
        bool has_reasoning = cJSON_IsString(reasoning) && reasoning->valuestring[0];
        if (has_content || has_reasoning) {
            if (r->t_first < 0) r->t_first = now_seconds();
            r->deltas++;
        }
        if (has_content &&
            !append(&r->text, &r->text_len, &r->text_cap, content->valuestring, strlen(content->valuestring))) {
            snprintf(r->error, sizeof r->error, "reply too large or out of memory");
            cJSON_Delete(j);
            return false;
        }
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage)) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
        const cJSON *cached = cJSON_GetObjectItemCaseSensitive(details, "cached_tokens");
        if (!cJSON_IsNumber(ct) || !cJSON_IsNumber(pt)) {
            snprintf(r->error, sizeof r->error, "malformed stream: usage without completion_tokens/prompt_tokens");
            cJSON_Delete(j);
            return false;
        }
        r->completion_tokens = (int64_t)ct->valuedouble;
        r->prompt_tokens = (int64_t)pt->valuedouble;
        r->cached_tokens = cJSON_IsNumber(cached) ? (int64_t)cached->valuedouble : 0;
        r->got_usage = true;
    }
    cJSON_Delete(j);
    return true;
}

/* Splits the SSE stream into lines; blank lines, comments (":") and other fields (event:, id:)
 * carry nothing a chat completion needs. An error status keeps the whole body for its message. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx) {
    bench_request *r = ctx;
    size_t n = size * nmemb;
    if (r->http_status == 0) curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->http_status);
    if (!append(&r->raw, &r->raw_len, &r->raw_cap, ptr, n)) {
        snprintf(r->error, sizeof r->error, "reply larger than %u MiB or out of memory", STREAM_LIMIT >> 20);
        return 0;
    }
    if (r->http_status < 200 || r->http_status > 299) return n;
    size_t start = 0;
    for (size_t i = 0; i < r->raw_len; i++) {
        if (r->raw[i] != '\n') continue;
        size_t end = i > start && r->raw[i - 1] == '\r' ? i - 1 : i;
        r->raw[end] = 0;
        const char *line = r->raw + start;
        start = i + 1;
        if (!strncmp(line, "data:", 5)) {
            line += 5;
            if (*line == ' ') line++;
            if (!handle_event(r, line)) return 0;
        }
    }
    memmove(r->raw, r->raw + start, r->raw_len - start);
    r->raw_len -= start;
    r->raw[r->raw_len] = 0;
    return n;
}

/* The server's message from an OpenAI (or Anthropic) error body, else the body itself. */
static void error_message(const char *body, char *out, size_t cap) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(m))
        snprintf(out, cap, "%.400s", m->valuestring);
    else
        snprintf(out, cap, "%.400s", body[0] ? body : "(empty body)");
    cJSON_Delete(j);
}

static struct curl_slist *auth_headers(const char *api_key, bool json) {
    struct curl_slist *h = json ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    if (api_key) {
        size_t n = strlen(api_key) + 32;
        char *line = malloc(n);
        if (line) {
            snprintf(line, n, "Authorization: Bearer %s", api_key);
            h = curl_slist_append(h, line);
            memset(line, 0, n);
            free(line);
        }
    }
    return h;
}

/* Sends r->body and reads the stream to its end; r->error is set on any failure. */
static void run_request(bench_request *r) {
    r->t_first = -1;
    r->curl = curl_easy_init();
    if (!r->curl) {
        snprintf(r->error, sizeof r->error, "curl_easy_init failed");
        return;
    }
    struct curl_slist *headers = auth_headers(r->api_key, true);
    char curl_msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 3600L);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, curl_msg);
    r->t_send = now_seconds();
    CURLcode rc = curl_easy_perform(r->curl);
    r->t_end = now_seconds();
    if (r->http_status == 0) curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->http_status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(r->curl);
    r->curl = NULL;
    if (r->error[0]) return; /* set by the stream parser */
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "cannot reach %s: %s", r->url, curl_msg[0] ? curl_msg : curl_easy_strerror(rc));
    } else if (r->http_status < 200 || r->http_status > 299) {
        char msg[420];
        error_message(r->raw ? r->raw : "", msg, sizeof msg);
        snprintf(r->error, sizeof r->error, "%s answered HTTP %ld: %s", r->url, r->http_status, msg);
    } else if (!r->got_usage) {
        snprintf(r->error, sizeof r->error, "malformed stream: no usage chunk (stream_options.include_usage) before the end");
    } else if (!r->got_done) {
        snprintf(r->error, sizeof r->error, "malformed stream: it ended without data: [DONE]");
    }
}

static void request_free(bench_request *r) {
    free(r->text);
    free(r->raw);
    free((char *)r->body);
}

/* ---- prompts ---- */

static const char *const WORDS[] = {
    "river", "stone", "lantern", "orbit", "quiet", "harvest", "signal", "meadow", "copper", "window",
    "thunder", "garden", "ladder", "silver", "compass", "valley", "engine", "feather", "harbor", "candle",
    "mirror", "forest", "bridge", "planet", "winter", "anchor", "market", "puzzle", "castle", "rocket",
};

/* P words from an LCG seeded by `seed`, after a line that names the seed: different seeds give
 * prompts that differ from their first word, so no request shares a cached prefix. */
static char *make_prompt(uint64_t seed, int64_t words) {
    size_t cap = 64 + (size_t)words * 10;
    char *p = malloc(cap);
    if (!p) return NULL;
    size_t len = (size_t)snprintf(p, cap, "Note %016llx: ", (unsigned long long)seed);
    uint64_t x = seed;
    for (int64_t i = 0; i < words; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        len += (size_t)snprintf(p + len, cap - len, "%s%s", i ? " " : "", WORDS[(x >> 33) % (sizeof WORDS / sizeof *WORDS)]);
    }
    return p;
}

typedef struct {
    const char *url, *api_key, *model;
    int64_t n_decode, prompt_words;
    uint64_t seed_base, seed_next;
} bench_config;

/* The request body: messages as given (role, content pairs), streamed with usage. */
static char *make_body(const bench_config *c, const char *const *roles, const char *const *contents, int n) {
    cJSON *j = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(j, "messages");
    cJSON_AddStringToObject(j, "model", c->model);
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", roles[i]);
        cJSON_AddStringToObject(m, "content", contents[i]);
        cJSON_AddItemToArray(msgs, m);
    }
    cJSON_AddNumberToObject(j, "max_tokens", (double)c->n_decode);
    cJSON_AddNumberToObject(j, "temperature", 0);
    cJSON_AddBoolToObject(j, "stream", 1);
    cJSON *so = cJSON_AddObjectToObject(j, "stream_options");
    cJSON_AddBoolToObject(so, "include_usage", 1);
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return body;
}

static char *make_single_body(bench_config *c) {
    char *prompt = make_prompt(c->seed_base + c->seed_next++, c->prompt_words);
    if (!prompt) return NULL;
    const char *role = "user", *content = prompt;
    char *body = make_body(c, &role, &content, 1);
    free(prompt);
    return body;
}

/* ---- concurrency ---- */

typedef struct {
    bench_request *req;
    pthread_barrier_t *start;
} user_thread;

static void *user_main(void *arg) {
    user_thread *u = arg;
    pthread_barrier_wait(u->start);
    run_request(u->req);
    return NULL;
}

typedef struct {
    int users;
    spread aggregate, per_user, ttft_ms;
    int64_t requests, completion_tokens;
} concurrency_result;

/* Prints the first failure of reqs (if any) and returns whether all succeeded. */
static bool all_ok(const bench_request *reqs, int n) {
    for (int i = 0; i < n; i++)
        if (reqs[i].error[0]) {
            fprintf(stderr, "clawnet bench: %s\n", reqs[i].error);
            return false;
        }
    return true;
}

static bool bench_concurrency(bench_config *c, int users, int64_t repeats, concurrency_result *out) {
    memset(out, 0, sizeof *out);
    out->users = users;
    double *agg = calloc((size_t)repeats, sizeof *agg), *per = calloc((size_t)repeats, sizeof *per);
    double *ttft = calloc((size_t)(repeats * users), sizeof *ttft), *rates = calloc((size_t)users, sizeof *rates);
    bench_request *reqs = calloc((size_t)users, sizeof *reqs);
    user_thread *threads = calloc((size_t)users, sizeof *threads);
    pthread_t *tids = calloc((size_t)users, sizeof *tids);
    bool ok = agg && per && ttft && rates && reqs && threads && tids;
    if (!ok) fputs("clawnet bench: out of memory\n", stderr);
    int n_agg = 0, n_per = 0, n_ttft = 0;
    for (int64_t rep = 0; rep < repeats && ok; rep++) {
        memset(reqs, 0, (size_t)users * sizeof *reqs);
        for (int u = 0; u < users && ok; u++) {
            reqs[u] = (bench_request){.url = c->url, .api_key = c->api_key, .body = make_single_body(c)};
            ok = reqs[u].body != NULL;
        }
        pthread_barrier_t start;
        int started = 0;
        if (ok && pthread_barrier_init(&start, NULL, (unsigned)users + 1) == 0) {
            for (; started < users; started++) {
                threads[started] = (user_thread){&reqs[started], &start};
                if (pthread_create(&tids[started], NULL, user_main, &threads[started])) break;
            }
            if (started < users) {
                /* cannot happen for small counts; the barrier would wait forever */
                fputs("clawnet bench: cannot start a thread\n", stderr);
                exit(1);
            }
            pthread_barrier_wait(&start);
            for (int u = 0; u < users; u++) pthread_join(tids[u], NULL);
            pthread_barrier_destroy(&start);
        } else if (ok) {
            fputs("clawnet bench: cannot create a barrier\n", stderr);
            ok = false;
        }
        ok = ok && all_ok(reqs, users);
        if (ok) {
            double first_send = reqs[0].t_send, last_end = reqs[0].t_end;
            int64_t tokens = 0;
            int n_rates = 0;
            for (int u = 0; u < users; u++) {
                const bench_request *r = &reqs[u];
                first_send = r->t_send < first_send ? r->t_send : first_send;
                last_end = r->t_end > last_end ? r->t_end : last_end;
                tokens += r->completion_tokens;
                if (r->t_first >= 0) ttft[n_ttft++] = 1e3 * (r->t_first - r->t_send);
                if (r->t_first >= 0 && r->completion_tokens >= 2 && r->t_end > r->t_first)
                    rates[n_rates++] = (double)(r->completion_tokens - 1) / (r->t_end - r->t_first);
            }
            out->requests += users;
            out->completion_tokens += tokens;
            agg[n_agg++] = (double)tokens / (last_end - first_send);
            if (n_rates) per[n_per++] = summarise(rates, n_rates).median;
        }
        for (int u = 0; u < users; u++) request_free(&reqs[u]);
    }
    if (ok) {
        out->aggregate = summarise(agg, n_agg);
        out->per_user = summarise(per, n_per);
        out->ttft_ms = summarise(ttft, n_ttft);
    }
    free(agg);
    free(per);
    free(ttft);
    free(rates);
    free(reqs);
    free(threads);
    free(tids);
    return ok;
}

/* ---- prefix cache: cold versus extended conversation ---- */

typedef struct {
    spread cold_ms, cached_ms;
    int64_t requests, completion_tokens, prompt_tokens, cached_tokens, cold_prompt_tokens, cold_cached_tokens;
} prefix_result;

static bool bench_prefix(bench_config *c, int64_t repeats, prefix_result *out) {
    memset(out, 0, sizeof *out);
    double *cold = calloc((size_t)repeats, sizeof *cold), *warm = calloc((size_t)repeats, sizeof *warm);
    bool ok = cold && warm;
    int n_cold = 0, n_warm = 0;
    for (int64_t rep = 0; rep < repeats && ok; rep++) {
        char *prompt = make_prompt(c->seed_base + c->seed_next++, c->prompt_words);
        ok = prompt != NULL;
        bench_request first = {.url = c->url, .api_key = c->api_key}, second = first;
        if (ok) {
            const char *role = "user", *content = prompt;
            first.body = make_body(c, &role, &content, 1);
            ok = first.body != NULL;
        }
        if (ok) run_request(&first);
        ok = ok && all_ok(&first, 1);
        if (ok) {
            const char *roles[3] = {"user", "assistant", "user"};
            const char *contents[3] = {prompt, first.text ? first.text : "", "Go on."};
            second.body = make_body(c, roles, contents, 3);
            ok = second.body != NULL;
        }
        if (ok) run_request(&second);
        ok = ok && all_ok(&second, 1);
        if (ok) {
            out->requests += 2;
            out->completion_tokens += first.completion_tokens + second.completion_tokens;
            out->prompt_tokens = second.prompt_tokens;
            out->cached_tokens = second.cached_tokens;
            out->cold_prompt_tokens = first.prompt_tokens;
            out->cold_cached_tokens = first.cached_tokens;
            if (first.t_first >= 0) cold[n_cold++] = 1e3 * (first.t_first - first.t_send);
            if (second.t_first >= 0) warm[n_warm++] = 1e3 * (second.t_first - second.t_send);
        }
        request_free(&first);
        request_free(&second);
        free(prompt);
    }
    if (ok) {
        out->cold_ms = summarise(cold, n_cold);
        out->cached_ms = summarise(warm, n_warm);
    }
    free(cold);
    free(warm);
    return ok;
}

/* ---- setup ---- */

typedef struct {
    char *data;
    size_t len, cap;
} body_buffer;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ctx) {
    body_buffer *b = ctx;
    return append(&b->data, &b->len, &b->cap, ptr, size * nmemb) ? size * nmemb : 0;
}

/* GET base/v1/models: checks the server answers and picks the first model id. */
static bool first_model(const char *base, const char *api_key, char **model) {
    size_t n = strlen(base) + 16;
    char *url = malloc(n);
    CURL *curl = curl_easy_init();
    if (!url || !curl) {
        free(url);
        curl_easy_cleanup(curl);
        fputs("clawnet bench: out of memory\n", stderr);
        return false;
    }
    snprintf(url, n, "%s/v1/models", base);
    struct curl_slist *headers = auth_headers(api_key, false);
    body_buffer b = {0};
    char curl_msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_msg);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    bool ok = false;
    if (rc != CURLE_OK) {
        fprintf(stderr, "clawnet bench: cannot reach %s: %s\n", url, curl_msg[0] ? curl_msg : curl_easy_strerror(rc));
    } else if (status < 200 || status > 299) {
        char msg[420];
        error_message(b.data ? b.data : "", msg, sizeof msg);
        fprintf(stderr, "clawnet bench: %s answered HTTP %ld: %s\n", url, status, msg);
    } else {
        cJSON *j = cJSON_Parse(b.data ? b.data : "");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "id");
        if (cJSON_IsString(id)) {
            *model = strdup(id->valuestring);
            ok = *model != NULL;
        } else {
            fprintf(stderr, "clawnet bench: %s did not list a model (give one with --model)\n", url);
        }
        cJSON_Delete(j);
    }
    free(b.data);
    free(url);
    return ok;
}

static bool parse_users(const char *text, int *users, int *n) {
    int32_t *ids = NULL;
    int64_t count = 0;
    bool parsed = cn_parse_ids(text, &ids, &count);
    bool ok = parsed && count >= 1 && count <= MAX_USER_COUNTS;
    for (int64_t i = 0; i < count && ok; i++) ok = ids[i] >= 1 && ids[i] <= MAX_USERS;
    if (!ok)
        fprintf(stderr, "clawnet bench: --users takes 1 to %d comma-separated counts from 1 to %d\n", MAX_USER_COUNTS,
                MAX_USERS);
    for (int64_t i = 0; i < count && ok; i++) users[i] = (int)ids[i];
    if (ok) *n = (int)count;
    if (parsed) free(ids);
    return ok;
}

int bench_server_wanted(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--server")) return 1;
    return 0;
}

/* "median (min..max)" with `decimals` digits, right-aligned in 26 columns. */
static void print_spread(int decimals, spread s) {
    if (!s.n) {
        printf("%26s", "-");
        return;
    }
    char buf[96];
    snprintf(buf, sizeof buf, "%.*f (%.*f..%.*f)", decimals, s.median, decimals, s.min, decimals, s.max);
    printf("%26s", buf);
}

static cJSON *spread_json(spread s) {
    if (!s.n) return cJSON_CreateNull();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "median", s.median);
    cJSON_AddNumberToObject(j, "min", s.min);
    cJSON_AddNumberToObject(j, "max", s.max);
    cJSON_AddNumberToObject(j, "samples", s.n);
    return j;
}

int bench_server_main(int argc, char **argv) {
    const char *server = NULL, *key_file = NULL, *model_arg = NULL, *json_path = NULL;
    int64_t n_decode = 64, prompt_words = 400, repeats = 3;
    int users[MAX_USER_COUNTS] = {1, 2, 4, 8}, n_users = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "--server")) {
            server = v;
        } else if (!strcmp(a, "--api-key-file")) {
            key_file = v;
        } else if (!strcmp(a, "--model")) {
            model_arg = v;
        } else if (!strcmp(a, "--users")) {
            if (!parse_users(v, users, &n_users)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!cn_parse_int(a, v, 1, 1 << 20, &n_decode)) return 2;
        } else if (!strcmp(a, "-p")) {
            if (!cn_parse_int(a, v, 1, 1 << 20, &prompt_words)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!cn_parse_int(a, v, 1, 1000, &repeats)) return 2;
        } else if (!strcmp(a, "--json")) {
            json_path = v;
        } else {
            fprintf(stderr, "clawnet bench: %s is not an option of bench --server (see clawnet bench --server URL --help)\n", a);
            return 2;
        }
    }
    if (!server) {
        fputs("clawnet bench: --server URL is required here (see clawnet bench --server URL --help)\n", stderr);
        return 2;
    }
    if (strncmp(server, "http://", 7) && strncmp(server, "https://", 8)) {
        fprintf(stderr, "clawnet bench: --server takes an http:// or https:// address, not '%s'\n", server);
        return 2;
    }
    /* The base address without a trailing / or /v1. */
    char *base = strdup(server);
    if (!base) return 1;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') base[--bl] = 0;
    if (bl >= 3 && !strcmp(base + bl - 3, "/v1")) base[bl -= 3] = 0;
    char *api_key = NULL, *model = NULL, *url = NULL;
    int status = 1;
    if (key_file) {
        cn_error err = {0};
        if (serve_api_key_read_file(key_file, &api_key, &err)) {
            fprintf(stderr, "clawnet bench: %s\n", err.msg);
            free(base);
            return 2;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fputs("clawnet bench: curl_global_init failed\n", stderr);
        goto done;
    }
    if (model_arg)
        model = strdup(model_arg);
    else if (!first_model(base, api_key, &model))
        goto done_curl;
    url = malloc(bl + 32);
    if (!model || !url) goto done_curl;
    snprintf(url, bl + 32, "%s/v1/chat/completions", base);
    bench_config c = {.url = url, .api_key = api_key, .model = model, .n_decode = n_decode,
                      .prompt_words = prompt_words, .seed_base = (uint64_t)time(NULL) * 1000003ull + (uint64_t)clock()};
    printf("server %s, model %s: max_tokens %lld, prompts of %lld words, %lld repetitions\n", base, model,
           (long long)n_decode, (long long)prompt_words, (long long)repeats);
    printf("%6s %26s %26s %26s\n", "users", "aggregate tok/s", "per-user tok/s", "TTFT ms");
    concurrency_result results[MAX_USER_COUNTS];
    int64_t total_requests = 0, total_tokens = 0;
    for (int i = 0; i < n_users; i++) {
        if (!bench_concurrency(&c, users[i], repeats, &results[i])) goto done_curl;
        total_requests += results[i].requests;
        total_tokens += results[i].completion_tokens;
        printf("%6d ", users[i]);
        print_spread(2, results[i].aggregate);
        putchar(' ');
        print_spread(2, results[i].per_user);
        putchar(' ');
        print_spread(0, results[i].ttft_ms);
        putchar('\n');
        fflush(stdout);
    }
    prefix_result prefix;
    if (!bench_prefix(&c, repeats, &prefix)) goto done_curl;
    total_requests += prefix.requests;
    total_tokens += prefix.completion_tokens;
    printf("TTFT cold   ");
    print_spread(0, prefix.cold_ms);
    printf(" ms  (%lld prompt tokens, %lld cached)\nTTFT cached ", (long long)prefix.cold_prompt_tokens,
           (long long)prefix.cold_cached_tokens);
    print_spread(0, prefix.cached_ms);
    printf(" ms  (%lld of %lld prompt tokens cached)\n", (long long)prefix.cached_tokens, (long long)prefix.prompt_tokens);
    if (prefix.cached_tokens == 0)
        fputs("clawnet bench: warning: the server reported no cached prompt tokens for the extended conversation\n",
              stderr);
    printf("%lld requests, %lld completion tokens\n", (long long)total_requests, (long long)total_tokens);
    status = 0;
    if (json_path) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "server", base);
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddNumberToObject(j, "max_tokens", (double)n_decode);
        cJSON_AddNumberToObject(j, "prompt_words", (double)prompt_words);
        cJSON_AddNumberToObject(j, "repeats", (double)repeats);
        cJSON *conc = cJSON_AddArrayToObject(j, "concurrency");
        for (int i = 0; i < n_users; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "users", results[i].users);
            cJSON_AddNumberToObject(o, "requests", (double)results[i].requests);
            cJSON_AddNumberToObject(o, "completion_tokens", (double)results[i].completion_tokens);
            cJSON_AddItemToObject(o, "aggregate_tokens_per_s", spread_json(results[i].aggregate));
            cJSON_AddItemToObject(o, "per_user_tokens_per_s", spread_json(results[i].per_user));
            cJSON_AddItemToObject(o, "ttft_ms", spread_json(results[i].ttft_ms));
            cJSON_AddItemToArray(conc, o);
        }
        cJSON *p = cJSON_AddObjectToObject(j, "prefix_cache");
        cJSON_AddItemToObject(p, "cold_ttft_ms", spread_json(prefix.cold_ms));
        cJSON_AddItemToObject(p, "cached_ttft_ms", spread_json(prefix.cached_ms));
        cJSON_AddNumberToObject(p, "prompt_tokens", (double)prefix.prompt_tokens);
        cJSON_AddNumberToObject(p, "cached_tokens", (double)prefix.cached_tokens);
        cJSON_AddNumberToObject(p, "cold_prompt_tokens", (double)prefix.cold_prompt_tokens);
        cJSON_AddNumberToObject(p, "cold_cached_tokens", (double)prefix.cold_cached_tokens);
        cJSON_AddNumberToObject(p, "requests", (double)prefix.requests);
        cJSON_AddNumberToObject(p, "completion_tokens", (double)prefix.completion_tokens);
        cJSON_AddNumberToObject(j, "requests_total", (double)total_requests);
        cJSON_AddNumberToObject(j, "completion_tokens_total", (double)total_tokens);
        char *text = cJSON_Print(j);
        cJSON_Delete(j);
        FILE *f = text ? fopen(json_path, "w") : NULL;
        if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF) {
            fprintf(stderr, "clawnet bench: cannot write %s\n", json_path);
            status = 1;
        }
        if (f && fclose(f)) status = 1;
        free(text);
    }
done_curl:
    curl_global_cleanup();
done:
    if (api_key) {
        memset(api_key, 0, strlen(api_key));
        free(api_key);
    }
    free(model);
    free(url);
    free(base);
    return status;
}
