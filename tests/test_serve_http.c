/* The HTTP layer (serve/http.h) on libmicrohttpd, driven over loopback sockets by a small
 * client in this file, with test routes: whole answers and their bodies, keep-alive, the error
 * JSON of both APIs for 404/405/413/401/500 (parsed by cJSON), API keys in either header,
 * streams whose bytes reach the client while the handler still runs (a handshake, not a timer),
 * a client that disconnects making serve_stream_write fail, and destroy with open streams. The
 * Python test (tests/cli/test_serve_http.py) drives the real routes with http.client. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "serve/auth.h"
#include "serve/http.h"

/* ---- a minimal HTTP/1.1 client for the test ------------------------------------------- */

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t start, len;
} client;

typedef struct {
    int status;
    char headers[4096];
    char *body;
    size_t body_len;
    bool ok; /* a whole response was read */
} reply;

static bool client_open(client *c, int port) {
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0;
}

static void client_close(client *c) { close(c->fd); }

static bool send_all(client *c, const char *data, size_t n) {
    while (n) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        data += w;
        n -= (size_t)w;
    }
    return true;
}

/* Fills the buffer; false on EOF, error or timeout. */
static bool fill(client *c) {
    if (c->start) {
        memmove(c->buf, c->buf + c->start, c->len);
        c->start = 0;
    }
    if (c->len == sizeof c->buf) return false;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0) return false;
    c->len += (size_t)r;
    return true;
}

/* One line without its CRLF into out. */
static bool read_line(client *c, char *out, size_t size) {
    for (;;) {
        char *p = memchr(c->buf + c->start, '\n', c->len);
        if (p) {
            size_t n = (size_t)(p - (c->buf + c->start)) + 1;
            size_t copy = n - 1;
            if (copy && c->buf[c->start + copy - 1] == '\r') copy--;
            if (copy >= size) copy = size - 1;
            memcpy(out, c->buf + c->start, copy);
            out[copy] = '\0';
            c->start += n;
            c->len -= n;
            return true;
        }
        if (!fill(c)) return false;
    }
}

static bool read_bytes(client *c, char *out, size_t n) {
    while (c->len < n)
        if (!fill(c)) return false;
    memcpy(out, c->buf + c->start, n);
    c->start += n;
    c->len -= n;
    return true;
}

static const char *header_value(const reply *r, const char *name) {
    static __thread char value[512];
    const char *p = r->headers;
    size_t n = strlen(name);
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') v++;
            size_t len = (size_t)(eol - v);
            if (len >= sizeof value) len = sizeof value - 1;
            memcpy(value, v, len);
            value[len] = '\0';
            return value;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Status line and headers. */
static bool read_head(client *c, reply *r) {
    memset(r, 0, sizeof *r);
    char line[2048];
    if (!read_line(c, line, sizeof line) || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1) return false;
    size_t used = 0;
    while (read_line(c, line, sizeof line)) {
        if (!line[0]) return true;
        used += (size_t)snprintf(r->headers + used, sizeof r->headers - used, "%s\n", line);
        if (used >= sizeof r->headers) return false;
    }
    return false;
}

/* The next chunk of a chunked body into out (NUL-terminated); its size, 0 at the end, -1 on error. */
static long read_chunk(client *c, char *out, size_t size) {
    char line[64];
    if (!read_line(c, line, sizeof line)) return -1;
    long n = strtol(line, NULL, 16);
    if (n < 0 || (size_t)n >= size) return -1;
    if (!read_bytes(c, out, (size_t)n)) return -1;
    out[n] = '\0';
    if (!read_line(c, line, sizeof line)) return -1;
    if (n == 0) return 0;
    return n;
}

static bool read_reply(client *c, reply *r, bool head_only) {
    if (!read_head(c, r)) return false;
    const char *te = header_value(r, "Transfer-Encoding");
    if (te && !strcasecmp(te, "chunked")) {
        char chunk[1 << 16];
        long n;
        while ((n = read_chunk(c, chunk, sizeof chunk)) > 0) {
            r->body = realloc(r->body, r->body_len + (size_t)n + 1);
            memcpy(r->body + r->body_len, chunk, (size_t)n);
            r->body_len += (size_t)n;
            r->body[r->body_len] = '\0';
        }
        r->ok = n == 0;
        return r->ok;
    }
    const char *cl = header_value(r, "Content-Length");
    size_t n = cl && !head_only ? strtoul(cl, NULL, 10) : 0;
    r->body = calloc(n + 1, 1);
    r->body_len = n;
    r->ok = read_bytes(c, r->body, n);
    return r->ok;
}

static void reply_free(reply *r) { free(r->body); }

/* One request: method, path, extra header lines (each ending in \r\n) and a body. */
static bool send_request(client *c, const char *method, const char *path, const char *headers, const char *body) {
    char head[4096];
    size_t n = body ? strlen(body) : 0;
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: test\r\n%s%s%zu\r\n\r\n", method, path, headers ? headers : "",
             body ? "Content-Length: " : "Content-Length: ", n);
    return send_all(c, head, strlen(head)) && (!n || send_all(c, body, n));
}

static bool roundtrip(int port, const char *method, const char *path, const char *headers, const char *body, reply *r) {
    client c;
    bool ok = client_open(&c, port) && send_request(&c, method, path, headers, body) &&
              read_reply(&c, r, !strcmp(method, "HEAD"));
    client_close(&c);
    return ok;
}

/* ---- test routes ------------------------------------------------------------------------ */

typedef struct {
    sem_t first_read;      /* the client has the stream's first bytes */
    sem_t stream_ended;    /* a stream handler returned */
    int writes_after_gone; /* writes the disconnected stream made before one failed */
    bool saw_gone;         /* serve_response_client_gone was true after the failed write */
} test_state;

static void echo(void *ctx, const serve_request *req, serve_response *resp) {
    size_t len;
    const char *body = serve_request_body(req, &len);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "method", serve_request_method(req));
    cJSON_AddStringToObject(j, "path", serve_request_path(req));
    cJSON_AddNumberToObject(j, "len", (double)len);
    cJSON_AddBoolToObject(j, "nul_terminated", body[len] == '\0');
    const char *x = serve_request_header(req, "X-Test");
    if (x) cJSON_AddStringToObject(j, "x_test", x);
    cJSON *parsed = cJSON_ParseWithLength(body, len);
    if (parsed) cJSON_AddItemToObject(j, "json", parsed);
    serve_response_header(resp, "X-Echo", "yes");
    serve_response_header(resp, "X-Bad", "a\r\nInjected: 1"); /* refused: CR LF */
    serve_respond_json(resp, 200, j);
    serve_respond(resp, 500, "text/plain", "second", 6); /* ignored: answered already */
    cJSON_Delete(j);
}

static void no_answer(void *ctx, const serve_request *req, serve_response *resp) {}

static void bad_request(void *ctx, const serve_request *req, serve_response *resp) {
    serve_respond_error(resp, 400, "bad things");
}

/* Writes "first", waits until the client has read it, then writes "second": the client can
 * only see "first" before the handler returns if bytes stream. */
static void handshake_stream(void *ctx, const serve_request *req, serve_response *resp) {
    test_state *t = ctx;
    serve_stream_begin(resp, 200, "text/event-stream");
    serve_stream_write(resp, "data: first\n\n", 13);
    sem_wait(&t->first_read);
    serve_stream_write(resp, "data: second\n\n", 14);
}

/* Writes until a write fails (the client left), then notes what it saw. */
static void endless_stream(void *ctx, const serve_request *req, serve_response *resp) {
    test_state *t = ctx;
    serve_stream_begin(resp, 200, "text/event-stream");
    char line[64];
    int i = 0;
    for (;; i++) {
        int n = snprintf(line, sizeof line, "data: %d\n\n", i);
        if (!serve_stream_write(resp, line, (size_t)n)) break;
        if (i == 0) sem_post(&t->first_read);
        usleep(1000);
    }
    t->writes_after_gone = i;
    t->saw_gone = serve_response_client_gone(resp);
    sem_post(&t->stream_ended);
}

/* Large stream: more than the stream buffer, so the writer waits for the reader. */
static void big_stream(void *ctx, const serve_request *req, serve_response *resp) {
    serve_stream_begin(resp, 200, "application/octet-stream");
    char block[1000];
    for (int i = 0; i < 300; i++) {
        memset(block, 'a' + i % 26, sizeof block);
        if (!serve_stream_write(resp, block, sizeof block)) return;
    }
}

static cJSON *parse_body(const reply *r) { return r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL; }

/* The OpenAI error shape: {"error":{"message":str,"type":str,"param":null,"code":...}}. */
static bool is_openai_error(const reply *r, const char *type) {
    cJSON *j = parse_body(r), *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    bool ok = cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) &&
              cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "param")) &&
              cJSON_HasObjectItem(e, "code") &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type")) ?: "", type);
    cJSON_Delete(j);
    return ok;
}

static bool is_anthropic_error(const reply *r, const char *type) {
    cJSON *j = parse_body(r), *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    bool ok = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type")) ?: "", "error") &&
              cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type")) ?: "", type);
    cJSON_Delete(j);
    return ok;
}

static serve_http *start(const serve_http_options *o, test_state *t) {
    serve_http *http = NULL;
    cn_error err = {0};
    CHECKF(serve_http_create(o, &http, &err) == CN_OK, "%s", err.msg);
    if (!http) return NULL;
    CHECK(serve_http_route(http, "POST", "/echo", echo, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/echo", echo, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/health", echo, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "POST", "/v1/messages", bad_request, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "POST", "/v1/chat/completions", bad_request, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/none", no_answer, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/handshake", handshake_stream, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/endless", endless_stream, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/big", big_stream, t, &err) == CN_OK);
    CHECK(serve_http_route(http, "GET", "/echo", echo, t, &err) == CN_ERR_ARG); /* twice */
    CHECK(serve_http_route(http, "GET", "no-slash", echo, t, &err) == CN_ERR_ARG);
    CHECKF(serve_http_start(http, &err) == CN_OK, "%s", err.msg);
    CHECK(serve_http_route(http, "GET", "/late", echo, t, &err) == CN_ERR_ARG); /* after start */
    CHECK(serve_http_port(http) > 0);
    return http;
}

static void test_basics(void) {
    test_state t = {0};
    sem_init(&t.first_read, 0, 0);
    sem_init(&t.stream_ended, 0, 0);
    serve_http_options o = {.host = "127.0.0.1", .port = 0, .max_body_bytes = 1000, .quiet = true};
    serve_http *http = start(&o, &t);
    if (!http) return;
    int port = serve_http_port(http);
    reply r;

    /* A whole answer: the handler sees method, path (no query), body NUL-terminated, headers
     * case-insensitively; its extra header is sent, the injected one is not, the second answer
     * is ignored. */
    CHECK(roundtrip(port, "POST", "/echo?x=1", "x-test: hello\r\nContent-Type: application/json\r\n", "{\"a\":[1,2]}", &r));
    CHECKF(r.status == 200, "%d", r.status);
    cJSON *j = parse_body(&r);
    CHECK(j && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "path")) ?: "", "/echo"));
    CHECK(j && cJSON_GetNumberValue(cJSON_GetObjectItem(j, "len")) == 11);
    CHECK(j && cJSON_IsTrue(cJSON_GetObjectItem(j, "nul_terminated")));
    CHECK(j && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "x_test")) ?: "", "hello"));
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "json"), "a")) == 2);
    CHECK(header_value(&r, "X-Echo") && !strcmp(header_value(&r, "X-Echo"), "yes"));
    CHECK(!header_value(&r, "X-Bad") && !header_value(&r, "Injected"));
    CHECK(header_value(&r, "Content-Type") && !strcmp(header_value(&r, "Content-Type"), "application/json"));
    cJSON_Delete(j);
    reply_free(&r);

    /* Keep-alive: several requests on one connection, answered in order. */
    client c;
    CHECK(client_open(&c, port));
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        CHECK(send_request(&c, "POST", "/echo", NULL, body) && read_reply(&c, &r, false));
        j = parse_body(&r);
        CHECKF(r.status == 200 && j && cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "json"), "i")) == i,
               "keep-alive request %d", i);
        cJSON_Delete(j);
        reply_free(&r);
    }
    client_close(&c);

    /* Errors in each API's format. */
    CHECK(roundtrip(port, "GET", "/nowhere", NULL, NULL, &r) && r.status == 404 && is_openai_error(&r, "invalid_request_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "GET", "/v1/messages/nothing", NULL, NULL, &r) && r.status == 404 && is_anthropic_error(&r, "not_found_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "DELETE", "/echo", NULL, NULL, &r) && r.status == 405 && is_openai_error(&r, "invalid_request_error"));
    CHECK(header_value(&r, "Allow") && !strcmp(header_value(&r, "Allow"), "POST, GET"));
    reply_free(&r);
    CHECK(roundtrip(port, "GET", "/v1/messages", NULL, NULL, &r) && r.status == 405 && is_anthropic_error(&r, "invalid_request_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "POST", "/v1/messages", NULL, "{}", &r) && r.status == 400 && is_anthropic_error(&r, "invalid_request_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "POST", "/v1/chat/completions", NULL, "{}", &r) && r.status == 400 && is_openai_error(&r, "invalid_request_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "GET", "/none", NULL, NULL, &r) && r.status == 500 && is_openai_error(&r, "server_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "HEAD", "/echo", NULL, NULL, &r) && r.status == 200 && r.body_len == 0);
    reply_free(&r);

    /* 413: a declared length over the limit is refused before the body is read; a chunked body
     * that grows past it is read, dropped and refused, and the connection goes on. */
    char *big = malloc(1002);
    memset(big, 'x', 1001);
    big[1001] = '\0';
    CHECK(roundtrip(port, "POST", "/echo", NULL, big, &r) && r.status == 413 && is_openai_error(&r, "invalid_request_error"));
    reply_free(&r);
    CHECK(roundtrip(port, "POST", "/v1/messages", NULL, big, &r) && r.status == 413 && is_anthropic_error(&r, "request_too_large"));
    reply_free(&r);
    big[1000] = '\0';
    CHECK(roundtrip(port, "POST", "/echo", NULL, big, &r) && r.status == 200); /* exactly the limit */
    reply_free(&r);
    CHECK(client_open(&c, port));
    const char *chunked_head = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(send_all(&c, chunked_head, strlen(chunked_head)));
    for (int i = 0; i < 3; i++) CHECK(send_all(&c, "1f4\r\n", 5) && send_all(&c, big, 500) && send_all(&c, "\r\n", 2));
    CHECK(send_all(&c, "0\r\n\r\n", 5));
    CHECK(read_reply(&c, &r, false) && r.status == 413);
    reply_free(&r);
    CHECK(send_request(&c, "GET", "/echo", NULL, NULL) && read_reply(&c, &r, false) && r.status == 200);
    reply_free(&r);
    client_close(&c);
    free(big);

    /* A stream: "first" arrives while the handler is still waiting, then "second", then the end;
     * the connection is kept. */
    CHECK(client_open(&c, port));
    CHECK(send_request(&c, "GET", "/handshake", NULL, NULL) && read_head(&c, &r));
    CHECKF(r.status == 200, "%d", r.status);
    CHECK(header_value(&r, "Transfer-Encoding") && !strcasecmp(header_value(&r, "Transfer-Encoding"), "chunked"));
    CHECK(header_value(&r, "Content-Type") && !strcmp(header_value(&r, "Content-Type"), "text/event-stream"));
    char chunk[256];
    CHECK(read_chunk(&c, chunk, sizeof chunk) > 0 && !strcmp(chunk, "data: first\n\n"));
    sem_post(&t.first_read);
    char all[256] = "";
    long n;
    while ((n = read_chunk(&c, chunk, sizeof chunk)) > 0) strncat(all, chunk, sizeof all - strlen(all) - 1);
    CHECK(n == 0 && !strcmp(all, "data: second\n\n"));
    CHECK(send_request(&c, "GET", "/echo", NULL, NULL) && read_reply(&c, &r, false) && r.status == 200);
    reply_free(&r);
    client_close(&c);

    /* A stream larger than the stream buffer arrives whole and in order. */
    CHECK(client_open(&c, port));
    CHECK(send_request(&c, "GET", "/big", NULL, NULL) && read_reply(&c, &r, false) && r.body_len == 300000);
    bool order = r.body_len == 300000;
    for (size_t i = 0; order && i < r.body_len; i++) order = r.body[i] == 'a' + (char)(i / 1000 % 26);
    CHECK(order);
    reply_free(&r);
    client_close(&c);

    /* A client that leaves mid-stream: the handler's next writes fail and it sees the client gone. */
    CHECK(client_open(&c, port));
    CHECK(send_request(&c, "GET", "/endless", NULL, NULL));
    sem_wait(&t.first_read);
    client_close(&c);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    CHECK(sem_timedwait(&t.stream_ended, &deadline) == 0);
    CHECK(t.saw_gone);

    /* The disconnect is counted once the connection thread has joined the handler. */
    serve_http_stats stats;
    for (int i = 0; i < 1000; i++) {
        serve_http_stats_get(http, &stats);
        if (stats.client_disconnects) break;
        usleep(10000);
    }
    CHECKF(stats.requests_total >= 20 && stats.responses_by_class[2] >= 10 && stats.responses_by_class[4] >= 8 &&
               stats.client_disconnects >= 1,
           "total %llu 2xx %llu 4xx %llu gone %llu", (unsigned long long)stats.requests_total,
           (unsigned long long)stats.responses_by_class[2], (unsigned long long)stats.responses_by_class[4],
           (unsigned long long)stats.client_disconnects);

    /* Destroy with a stream open: the handler's writes fail and destroy returns. */
    CHECK(client_open(&c, port));
    CHECK(send_request(&c, "GET", "/endless", NULL, NULL));
    sem_wait(&t.first_read);
    serve_http_destroy(http);
    CHECK(sem_trywait(&t.stream_ended) == 0);
    client_close(&c);
    sem_destroy(&t.first_read);
    sem_destroy(&t.stream_ended);
}

static void test_api_key(void) {
    test_state t = {0};
    sem_init(&t.first_read, 0, 0);
    sem_init(&t.stream_ended, 0, 0);
    serve_http_options o = {.port = 0, .api_key = "s3cret-key", .quiet = true};
    serve_http *http = start(&o, &t);
    if (!http) return;
    int port = serve_http_port(http);
    reply r;
    struct {
        const char *path, *headers;
        int status;
    } cases[] = {
        {"/echo", NULL, 401},
        {"/echo", "Authorization: Bearer s3cret-key\r\n", 200},
        {"/echo", "Authorization: bearer   s3cret-key  \r\n", 200},
        {"/echo", "x-api-key: s3cret-key\r\n", 200},
        {"/echo", "Authorization: Bearer s3cret-ke\r\n", 401},
        {"/echo", "Authorization: Bearer s3cret-key2\r\n", 401},
        {"/echo", "Authorization: Basic s3cret-key\r\n", 401},
        {"/echo", "Authorization: Bearers3cret-key\r\n", 401},
        {"/echo", "x-api-key: S3CRET-KEY\r\n", 401},
        {"/echo", "Authorization: Bearer wrong\r\nx-api-key: s3cret-key\r\n", 200},
        {"/nowhere", NULL, 401}, /* nothing is revealed without the key */
        {"/health", NULL, 200},  /* except health */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(roundtrip(port, "GET", cases[i].path, cases[i].headers, NULL, &r));
        CHECKF(r.status == cases[i].status, "case %zu: %d", i, r.status);
        if (r.status == 401) CHECK(is_openai_error(&r, "invalid_request_error"));
        reply_free(&r);
    }
    CHECK(roundtrip(port, "POST", "/v1/messages", NULL, "{}", &r) && r.status == 401 &&
          is_anthropic_error(&r, "authentication_error"));
    reply_free(&r);
    /* A 401 with a body and 100-continue: answered before the body is sent. */
    client c;
    CHECK(client_open(&c, port));
    const char *head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    CHECK(send_all(&c, head, strlen(head)) && read_reply(&c, &r, false) && r.status == 401);
    reply_free(&r);
    client_close(&c);
    serve_http_destroy(http);
    sem_destroy(&t.first_read);
    sem_destroy(&t.stream_ended);
}

static void test_key_file(void) {
    char path[] = "/tmp/clawnet_key_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "  k3y-from-file \r\nsecond line\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char *key = NULL;
    cn_error err = {0};
    CHECKF(serve_api_key_read_file(path, &key, &err) == CN_OK && key && !strcmp(key, "k3y-from-file"), "%s", err.msg);
    serve_api_key k;
    CHECK(serve_api_key_init(&k, key, &err) == CN_OK);
    CHECK(serve_api_key_matches(&k, "k3y-from-file", 13));
    CHECK(!serve_api_key_matches(&k, "k3y-from-file", 12));
    CHECK(!serve_api_key_matches(&k, "", 0));
    free(key);
    FILE *f = fopen(path, "w");
    fputs("\nkey on line two\n", f);
    fclose(f);
    CHECK(serve_api_key_read_file(path, &key, &err) == CN_ERR_FORMAT && strstr(err.msg, "empty") && !key);
    f = fopen(path, "w");
    fputs("bad\x01key\n", f);
    fclose(f);
    CHECK(serve_api_key_read_file(path, &key, &err) == CN_ERR_FORMAT && strstr(err.msg, "control"));
    unlink(path);
    CHECK(serve_api_key_read_file(path, &key, &err) == CN_ERR_IO);
    CHECK(serve_api_key_init(&k, "", &err) == CN_ERR_ARG);
}

static void test_bad_options(void) {
    serve_http *http = NULL;
    cn_error err = {0};
    CHECK(serve_http_create(&(serve_http_options){.port = 70000}, &http, &err) == CN_ERR_ARG && !http);
    CHECK(serve_http_create(&(serve_http_options){.host = "no.such.host.invalid", .quiet = true}, &http, &err) == CN_OK);
    CHECK(serve_http_start(http, &err) == CN_ERR_ARG && strstr(err.msg, "no.such.host.invalid"));
    serve_http_destroy(http);
    /* Two servers on one port: the second says why it cannot listen. */
    serve_http *a = NULL, *b = NULL;
    CHECK(serve_http_create(&(serve_http_options){.quiet = true}, &a, &err) == CN_OK && serve_http_start(a, &err) == CN_OK);
    CHECK(serve_http_create(&(serve_http_options){.port = serve_http_port(a), .quiet = true}, &b, &err) == CN_OK);
    CHECKF(serve_http_start(b, &err) == CN_ERR_IO && strstr(err.msg, "cannot listen"), "%s", err.msg);
    serve_http_destroy(b);
    serve_http_destroy(a);
}

int main(void) {
    test_basics();
    test_api_key();
    test_key_file();
    test_bad_options();
    return cn_test_finish("test_serve_http");
}
