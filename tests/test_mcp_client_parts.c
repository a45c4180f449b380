/* The MCP client's byte-level pieces (src/agent/mcp_*.c): JSON-RPC line framing and message
 * classification on recorded server output (stdio lines as the fault server and the SDK write
 * them, split at every byte boundary), the SSE parser on a recorded streamable-HTTP reply of the
 * official SDK (event/id/data lines with CRLF) plus multi-line data and comments, the
 * --mcp-config checks, tool-name sanitising and the JSON Schema subset (tool_schema.h) on the
 * shapes pydantic emits. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "agent/mcp_config.h"
#include "agent/mcp_jsonrpc.h"
#include "agent/mcp_sse.h"
#include "agent/mcp_tools.h"
#include "agent/tool_schema.h"
#include "harness.h"

/* What an MCP stdio server wrote before answering tools/call (recorded from
 * tests/cli/mcp_fault_server.py): a notification, garbage, a server request, CRLF, the answer. */
static const char recorded_stdio[] =
    "{\"jsonrpc\": \"2.0\", \"method\": \"notifications/tools/list_changed\"}\n"
    "this is not json\n"
    "{\"jsonrpc\": \"2.0\", \"id\": 1000, \"method\": \"ping\"}\r\n"
    "[{\"jsonrpc\": \"2.0\", \"id\": 5, \"result\": {}}]\n"
    "{\"jsonrpc\": \"2.0\", \"id\": 9, \"error\": {\"code\": -32602, \"message\": \"unknown tool\"}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"a\\nb\"}],\"isError\":false}}\n";

static void test_lines_and_messages(void) {
    const cn_mcp_msg_kind want[] = {CN_MCP_MSG_NOTIFICATION, CN_MCP_MSG_INVALID, CN_MCP_MSG_REQUEST,
                                    CN_MCP_MSG_INVALID,      CN_MCP_MSG_ERROR,   CN_MCP_MSG_RESPONSE};
    size_t total = strlen(recorded_stdio);
    /* Every split point of the stream into two reads gives the same six messages. */
    for (size_t cut = 0; cut <= total; cut++) {
        cn_mcp_lines l = {.limit = 1 << 20};
        cn_error err = {0};
        CHECK(cn_mcp_lines_push(&l, recorded_stdio, cut, &err) == CN_OK);
        CHECK(cn_mcp_lines_push(&l, recorded_stdio + cut, total - cut, &err) == CN_OK);
        char *line;
        size_t len, n = 0;
        while (cn_mcp_lines_take(&l, &line, &len)) {
            CHECK(strlen(line) == len && !strchr(line, '\r'));
            cn_mcp_msg m;
            cn_mcp_msg_parse(line, len, &m);
            if (n < 6) CHECKF(m.kind == want[n], "cut %zu message %zu kind %d", cut, n, (int)m.kind);
            if (n == 2) CHECK(!strcmp(m.method, "ping") && cn_mcp_msg_id_is(&m, 1000));
            if (n == 4) CHECK(m.error_code == -32602 && !strcmp(m.error_message, "unknown tool") && cn_mcp_msg_id_is(&m, 9));
            if (n == 5) CHECK(cn_mcp_msg_id_is(&m, 2) && cJSON_IsArray(cJSON_GetObjectItem(m.result, "content")));
            cn_mcp_msg_free(&m);
            free(line);
            n++;
        }
        CHECKF(n == 6, "cut %zu: %zu lines", cut, n);
        CHECK(!cn_mcp_lines_take_rest(&l, &line, &len));
        cn_mcp_lines_free(&l);
    }
    /* A line longer than the limit is refused; shorter complete lines before it are not. */
    cn_mcp_lines l = {.limit = 16};
    cn_error err = {0};
    CHECK(cn_mcp_lines_push(&l, "short\n0123456789", 16, &err) == CN_OK);
    CHECK(cn_mcp_lines_push(&l, "0123456789", 10, &err) == CN_ERR_FORMAT && strstr(err.msg, "longer than 16"));
    cn_mcp_lines_free(&l);
    /* Builders: one line, parseable by the classifier, newline in a string escaped. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "text", "two\nlines");
    char *req = cn_mcp_request(7, "tools/call", params);
    CHECK(req && !strchr(req, '\n'));
    cn_mcp_msg m;
    cn_mcp_msg_parse(req, strlen(req), &m);
    CHECK(m.kind == CN_MCP_MSG_REQUEST && cn_mcp_msg_id_is(&m, 7) && !strcmp(m.method, "tools/call"));
    cn_mcp_msg_free(&m);
    free(req);
    cJSON *id = cJSON_CreateString("abc");
    char *reply = cn_mcp_error_reply(id, CN_MCP_METHOD_NOT_FOUND, "no");
    CHECK(reply && !strcmp(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"error\":{\"code\":-32601,\"message\":\"no\"}}"));
    free(reply);
    char *pong = cn_mcp_result(id, NULL);
    CHECK(pong && !strcmp(pong, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}"));
    free(pong);
    cJSON_Delete(id);
}

typedef struct {
    char events[8][512];
    int n;
} sse_events;

static cn_status collect(void *ctx, const char *data, size_t len, cn_error *err) {
    (void)err;
    sse_events *e = ctx;
    if (e->n < 8) snprintf(e->events[e->n], sizeof e->events[0], "%.*s", (int)len, data);
    e->n++;
    return CN_OK;
}

/* The official SDK's (mcp 2.3.0) reply to initialize over streamable HTTP, recorded; then a
 * multi-line event, a comment, and an event cut off by the end of the stream. */
static const char recorded_sse[] =
    "event: message\r\n"
    "id: 1\r\n"
    "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"}}\r\n"
    "\r\n"
    ": keep-alive\r\n"
    "event: message\n"
    "data: {\"jsonrpc\": \"2.0\",\n"
    "data:\"method\": \"notifications/message\"}\n"
    "\n"
    "retry: 1000\n"
    "\n"
    "data: {\"cut\": true}\n";

static void test_sse(void) {
    size_t total = strlen(recorded_sse);
    for (size_t cut = 0; cut <= total; cut++) {
        cn_mcp_sse p;
        cn_mcp_sse_init(&p, 1 << 20);
        sse_events e = {0};
        cn_error err = {0};
        CHECK(cn_mcp_sse_feed(&p, recorded_sse, cut, collect, &e, &err) == CN_OK);
        CHECK(cn_mcp_sse_feed(&p, recorded_sse + cut, total - cut, collect, &e, &err) == CN_OK);
        CHECKF(e.n == 2, "cut %zu: %d events", cut, e.n);
        CHECK(!strcmp(e.events[0], "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"}}"));
        CHECK(!strcmp(e.events[1], "{\"jsonrpc\": \"2.0\",\n\"method\": \"notifications/message\"}"));
        CHECK(!strcmp(p.last_event_id, "1"));
        cn_mcp_msg m;
        cn_mcp_msg_parse(e.events[1], strlen(e.events[1]), &m);
        CHECK(m.kind == CN_MCP_MSG_NOTIFICATION);
        cn_mcp_msg_free(&m);
        cn_mcp_sse_free(&p);
    }
}

/* The SDK (mcp 2.3.0, an event store configured) breaking a tools/call reply on purpose
 * (ctx.close_sse_stream), recorded with curl: the POST's stream holds only the priming event (id,
 * empty data); the GET with Last-Event-ID: 3 replays the answer, then primes again. */
static const char recorded_sdk_post[] = "id: 3\r\ndata: \r\n\r\n";
static const char recorded_sdk_resumed[] =
    "id: 4\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"text\":\"answered after "
    "the break\",\"type\":\"text\"}],\"isError\":false,\"structuredContent\":{\"result\":\"answered after the "
    "break\"}}}\r\n\r\nid: 5\r\ndata: \r\n\r\n";

/* Feeds text split at cut; returns the events. */
static sse_events feed_split(cn_mcp_sse *p, const char *text, size_t cut) {
    sse_events e = {0};
    cn_error err = {0};
    size_t total = strlen(text);
    CHECK(cn_mcp_sse_feed(p, text, cut, collect, &e, &err) == CN_OK);
    CHECK(cn_mcp_sse_feed(p, text + cut, total - cut, collect, &e, &err) == CN_OK);
    return e;
}

static void test_sse_resumption(void) {
    for (size_t cut = 0; cut <= strlen(recorded_sdk_post); cut++) {
        cn_mcp_sse p;
        cn_mcp_sse_init(&p, 1 << 20);
        sse_events e = feed_split(&p, recorded_sdk_post, cut);
        CHECKF(e.n == 0 && !strcmp(p.last_event_id, "3"), "cut %zu: a priming event moves the id only (%d, %s)", cut,
               e.n, p.last_event_id);
        /* The resumed stream at every split (after the first POST split; one pass otherwise). */
        for (size_t cut2 = 0; cut2 <= strlen(recorded_sdk_resumed); cut2 += cut ? strlen(recorded_sdk_resumed) + 1 : 1) {
            cn_mcp_sse q = p;
            q.lines = (cn_mcp_lines){0};
            q.data = NULL;
            q.data_len = q.data_cap = 0;
            cn_mcp_sse_restart(&q);
            CHECK(!strcmp(q.last_event_id, "3"));
            sse_events r = feed_split(&q, recorded_sdk_resumed, cut2);
            CHECKF(r.n == 1 && strstr(r.events[0], "\"id\":2,\"result\"") && !strcmp(q.last_event_id, "5"),
                   "resumed cut %zu: %d events, last id %s", cut2, r.n, q.last_event_id);
            cn_mcp_sse_free(&q);
        }
        cn_mcp_sse_free(&p);
    }
    /* A stream cut inside an event: its id must not become the last event id (the event is
     * discarded; a reconnection has to replay it), at every cut point inside it. */
    static const char two[] = "id: a1\r\ndata: {\"n\":1}\r\n\r\nid: a2\r\nretry: 250\r\ndata: {\"n\":2}\r\n\r\n";
    size_t first_end = strstr(two, "id: a2") - two, total = strlen(two);
    for (size_t cut = 0; cut <= total; cut++) {
        cn_mcp_sse p;
        cn_mcp_sse_init(&p, 1 << 20);
        sse_events e = {0};
        cn_error err = {0};
        CHECK(cn_mcp_sse_feed(&p, two, cut, collect, &e, &err) == CN_OK);
        const char *want = cut < first_end ? "" : cut < total ? "a1" : "a2";
        CHECKF(!strcmp(p.last_event_id, want) && e.n == (cut < first_end ? 0 : cut < total ? 1 : 2),
               "cut %zu: last id %s want %s, %d events", cut, p.last_event_id, want, e.n);
        CHECKF(p.retry_ms == (cut >= first_end + 20 ? 250 : -1), "cut %zu: retry %ld", cut, p.retry_ms);
        cn_mcp_sse_free(&p);
    }
    cn_mcp_sse p;
    cn_mcp_sse_init(&p, 1 << 20);
    sse_events e = {0};
    cn_error err = {0};
    CHECK(cn_mcp_sse_feed(&p, "retry: 15x\n\nretry:\n\n", 20, collect, &e, &err) == CN_OK && p.retry_ms == -1);
    cn_mcp_sse_free(&p);
}

static void expect_config_error(const char *json, const char *needle) {
    cn_mcp_config c;
    cn_error err = {0};
    CHECKF(cn_mcp_config_parse(json, &c, &err) != CN_OK && strstr(err.msg, needle), "%s -> %s", json, err.msg);
    CHECK(c.n == 0 && !c.servers);
}

static void test_config(void) {
    cn_mcp_config c;
    cn_error err = {0};
    CHECK(cn_mcp_config_parse("{\"mcpServers\": {\"a\": {\"command\": \"srv\", \"args\": [\"-x\", \"y\"], \"env\": {\"K\": "
                              "\"V\"}, \"cwd\": \"/tmp\", \"timeout_s\": 2.5},"
                              " \"b\": {\"url\": \"http://127.0.0.1:1/mcp\", \"headers\": {\"Authorization\": \"Bearer t\"},"
                              " \"type\": \"http\"}}}",
                              &c, &err) == CN_OK);
    CHECK(c.n == 2 && !strcmp(c.servers[0].name, "a") && c.servers[0].n_args == 2 && !strcmp(c.servers[0].args[1], "y"));
    CHECK(c.servers[0].timeout_s == 2.5 && !strcmp(c.servers[0].env[0].value, "V") && !strcmp(c.servers[0].cwd, "/tmp"));
    CHECK(!strcmp(c.servers[1].url, "http://127.0.0.1:1/mcp") && c.servers[1].n_headers == 1);
    CHECK(c.servers[1].timeout_s == CN_MCP_DEFAULT_TIMEOUT_S);
    cn_mcp_config_free(&c);
    expect_config_error("[]", "not a JSON object");
    expect_config_error("{\"servers\": {}}", "unknown top-level key \"servers\"");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"argz\": []}}}", "unknown key \"argz\"");
    expect_config_error("{\"mcpServers\": {\"a\": {\"args\": []}}}", "exactly one of");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"url\": \"http://h\"}}}", "exactly one of");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": [1]}}}", "args[0] must be a string");
    expect_config_error("{\"mcpServers\": {\"a\": {\"url\": \"ftp://h\"}}}", "must start with http");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"timeout_s\": 0}}}", "timeout_s");
    expect_config_error("{\"mcpServers\": {\"a\": {\"url\": \"http://h\", \"env\": {}}}}", "\"command\" servers only");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"type\": \"http\"}}}", "does not match");
    expect_config_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"K\": 1}}}}", "env.K must be a string");
}

static void test_names(void) {
    char name[65];
    cn_mcp_tool_name("fs", "read_file", name);
    CHECK(!strcmp(name, "fs__read_file"));
    cn_mcp_tool_name("my server", "odd.name/x", name);
    CHECK(!strcmp(name, "my_server__odd_name_x"));
    cn_mcp_tool_name("s", "0123456789012345678901234567890123456789012345678901234567890123456789", name);
    CHECK(strlen(name) == 64 && !strncmp(name, "s__0123", 7));
}

static bool valid(const char *schema_json, const char *args_json, const char *msg_needle) {
    cJSON *schema = cJSON_Parse(schema_json), *args = cJSON_Parse(args_json);
    char msg[300] = "";
    bool ok = cn_tool_schema_validate(schema, args, msg, sizeof msg);
    if (msg_needle && !strstr(msg, msg_needle)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, msg_needle);
        cn_test_failures++;
    }
    cJSON_Delete(schema);
    cJSON_Delete(args);
    return ok;
}

/* The schema pydantic 2 generates for measure() in tests/cli/mcp_sdk_server.py. */
static const char measure_schema[] =
    "{\"properties\": {\"points\": {\"items\": {\"$ref\": \"#/$defs/Point\"}, \"type\": \"array\"},"
    " \"unit\": {\"default\": \"m\", \"enum\": [\"m\", \"km\"], \"type\": \"string\"},"
    " \"scale\": {\"default\": 1, \"maximum\": 4, \"minimum\": 0.5, \"type\": \"number\"},"
    " \"label\": {\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}], \"default\": null}},"
    " \"required\": [\"points\"], \"type\": \"object\","
    " \"$defs\": {\"Point\": {\"properties\": {\"x\": {\"type\": \"number\"}, \"y\": {\"type\": \"number\"}},"
    " \"required\": [\"x\", \"y\"], \"type\": \"object\"}}}";

static void test_schema(void) {
    CHECK(valid(measure_schema, "{\"points\": [{\"x\": 1, \"y\": 2}], \"unit\": \"km\", \"scale\": 4, \"label\": null}", NULL));
    CHECK(valid(measure_schema, "{\"points\": [], \"label\": \"p\"}", NULL));
    CHECK(!valid(measure_schema, "{\"points\": [{\"x\": 1}]}", "missing required argument \"points[0].y\""));
    CHECK(!valid(measure_schema, "{\"points\": [{\"x\": 1, \"y\": \"2\"}]}", "\"points[0].y\" must be of type number"));
    CHECK(!valid(measure_schema, "{\"points\": [], \"unit\": \"mm\"}", "\"unit\" must be one of [\"m\",\"km\"]"));
    CHECK(!valid(measure_schema, "{\"points\": [], \"scale\": 0.25}", "\"scale\" must be >= 0.5"));
    CHECK(!valid(measure_schema, "{\"points\": [], \"label\": 3}", "alternative of anyOf"));
    CHECK(!valid(measure_schema, "{\"points\": {}}", "must be of type array"));
    CHECK(!valid(measure_schema, "[]", "must be a JSON object"));
    CHECK(valid("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": [\"integer\", \"null\"], \"exclusiveMinimum\": 0}}}",
                "{\"n\": null}", NULL));
    CHECK(!valid("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": [\"integer\", \"null\"]}}}", "{\"n\": 1.5}",
                 "must be of type integer or null"));
    CHECK(!valid("{\"properties\": {\"n\": {\"exclusiveMinimum\": 0}}}", "{\"n\": 0}", "must be > 0"));
    CHECK(!valid("{\"properties\": {\"s\": {\"maxLength\": 3}}}", "{\"s\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", "too long"));
    CHECK(valid("{\"properties\": {\"s\": {\"maxLength\": 3}}}", "{\"s\": \"\xc3\xa9\xc3\xa9\xc3\xa9\"}", NULL));
    CHECK(!valid("{\"properties\": {\"t\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"uniqueItems\": true}}}",
                 "{\"t\": [\"a\", \"a\"]}", "must not repeat"));
    CHECK(!valid("{\"additionalProperties\": {\"type\": \"integer\"}}", "{\"k\": \"v\"}", "\"k\" must be of type integer"));
    CHECK(!valid("{\"properties\": {}, \"additionalProperties\": false}", "{\"k\": 1}", "unknown argument \"k\""));
    CHECK(!valid("{\"properties\": {\"c\": {\"const\": \"x\"}}}", "{\"c\": \"y\"}", "const"));
    CHECK(!valid("{\"properties\": {\"o\": {\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}}}", "{\"o\": 2}",
                 "more than one"));
    /* Ignored keywords constrain nothing (documented in tool_schema.h). */
    CHECK(valid("{\"properties\": {\"s\": {\"type\": \"string\", \"pattern\": \"^a$\", \"format\": \"email\"}}}",
                "{\"s\": \"zzz\"}", NULL));
    /* A $ref cycle ends at the depth bound instead of recursing forever. */
    CHECK(!valid("{\"$ref\": \"#\"}", "{}", "nests deeper"));
}

int main(void) {
    test_lines_and_messages();
    test_sse();
    test_sse_resumption();
    test_config();
    test_names();
    test_schema();
    return cn_test_finish("test_mcp_client_parts");
}
