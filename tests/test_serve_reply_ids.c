/* The exact round trip of replies (serve/reply_registry.h) on DeepSeek-V4's real tokenizer: a reply
 * "sampled" as a split the tokenizer would never produce (one token per character, as a random or
 * constrained model writes) goes through the output side (serve/chat_output.h: deltas, tool-call
 * ids, the DSML registry), is remembered, and a follow-up request built by the OpenAI adapter
 * (serve_openai_parse_chat -> serve_chat_prompt) that re-sends it must extend the earlier prompt
 * plus those ids plus end-of-sentence, id for id: the sequence the engine has cached.
 *
 * Oracles: the earlier prompt's ids and the sampled ids themselves (a prefix compare), and the
 * follow-up without the registry (it must spell the same text: decode equal, ids different), so
 * the swap changes only how the text is split, never the text. Negative cases: an edited reply, a
 * reply whose ids hold a control token where the client's text can only be text, a turn rendered
 * without the reasoning the reply started with. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/chat_output.h"
#include "serve/chat_run.h"
#include "serve/openai.h"
#include "serve/reply_registry.h"
#include "serve/tool_call_registry.h"
#include "text/chat_tokens.h"
#include "text/output_parser_bytes.h"

#define DSML CN_CHAT_DSML

static cn_tokenizer *g_tok;

/* ---- a reply as the model might sample it ---- */

typedef struct {
    int32_t *ids;
    size_t n, cap;
} id_vec;

static void push(id_vec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->ids = realloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->n++] = id;
}

/* text's markup (DSML, <think>, </think>) as control ids, everything else one token per UTF-8
 * character: a valid sequence that spells the text, and not the tokenizer's own split. */
static id_vec sampled_split(const char *text) {
    id_vec v = {0};
    cn_chat_prompt p = {0};
    cn_error err = {0};
    CHECK(cn_chat_prompt_template(&p, text, &err) == CN_OK);
    for (size_t i = 0; i < p.segment_count; i++) {
        const cn_chat_segment *s = &p.segments[i];
        const char *bytes = p.text.data + s->offset;
        if (s->kind == CN_CHAT_SEGMENT_CONTROL) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)s->length, bytes);
            int32_t id = cn_tokenizer_token_id(g_tok, name);
            CHECKF(id >= 0, "control %s", name);
            push(&v, id);
            continue;
        }
        for (size_t at = 0; at < s->length;) {
            size_t len = 1;
            unsigned char c = (unsigned char)bytes[at];
            if (c >= 0xf0) len = 4;
            else if (c >= 0xe0) len = 3;
            else if (c >= 0xc0) len = 2;
            int32_t *ids = NULL;
            size_t n = 0;
            CHECK(cn_tokenizer_encode(g_tok, bytes + at, len, CN_ADDED_TOKENS_NONE, &ids, &n, &err) == CN_OK);
            for (size_t k = 0; k < n; k++) push(&v, ids[k]);
            free(ids);
            at += len;
        }
    }
    cn_chat_prompt_free(&p);
    return v;
}

/* ---- the output side: what the client gets back ---- */

typedef struct {
    cn_output_bytes content, reasoning;
    char call_id[2][SERVE_TOOL_CALL_ID_MAX];
    cn_output_bytes name[2], arguments[2];
    int calls;
} reply;

static bool collect(void *context, const serve_delta *d) {
    reply *r = context;
    switch (d->kind) {
    case SERVE_DELTA_CONTENT: cn_output_bytes_append(&r->content, d->text, d->len); break;
    case SERVE_DELTA_REASONING: cn_output_bytes_append(&r->reasoning, d->text, d->len); break;
    case SERVE_DELTA_TOOL_CALL:
        if (d->call_index < 2) {
            snprintf(r->call_id[d->call_index], SERVE_TOOL_CALL_ID_MAX, "%s", d->call_id);
            cn_output_bytes_append(&r->name[d->call_index], d->text, d->len);
            r->calls = d->call_index + 1;
        }
        break;
    case SERVE_DELTA_TOOL_ARGUMENTS:
        if (d->call_index < 2) cn_output_bytes_append(&r->arguments[d->call_index], d->text, d->len);
        break;
    case SERVE_DELTA_FINISH: break;
    }
    return true;
}

static void reply_free(reply *r) {
    cn_output_bytes_free(&r->content);
    cn_output_bytes_free(&r->reasoning);
    for (int i = 0; i < 2; i++) cn_output_bytes_free(&r->name[i]), cn_output_bytes_free(&r->arguments[i]);
}

/* What serve_run does with a reply the model ended with its stop id: the tokens through the output
 * side (tool calls remembered by id), then the ids remembered. */
static void answer(serve_app *app, const id_vec *ids, cn_output_start start, reply *out) {
    cn_error err = {0};
    serve_output_options o = {.tokenizer = g_tok, .parse = true, .start = start, .registry = app->tool_calls,
                              .sink = collect, .sink_context = out};
    serve_output *output = NULL;
    CHECK(serve_output_create(&o, &output, &err) == CN_OK);
    for (size_t i = 0; output && i < ids->n; i++) {
        cn_engine_event e = {.kind = CN_ENGINE_TOKEN, .token = ids->ids[i]};
        bool stopped = false;
        CHECK(serve_output_token(output, &e, &stopped, &err) == CN_OK && !stopped);
    }
    serve_usage usage = {0};
    if (output) CHECK(serve_output_finish(output, SERVE_FINISH_STOP, &usage, &err) == CN_OK);
    serve_output_free(output);
    if (app->replies) CHECKF(serve_replies_put(app->replies, ids->ids, ids->n, &err) == CN_OK, "%s", err.msg);
}

/* ---- requests through the OpenAI adapter ---- */

static const char TOOLS[] =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}}}}}]";

static id_vec prompt_of(serve_app *app, const char *body, cn_output_start *start) {
    serve_chat_request r;
    serve_openai_fault f;
    id_vec v = {0};
    cn_status st = serve_openai_parse_chat(body, strlen(body), &r, &f);
    CHECKF(st == CN_OK, "%s", f.error.msg);
    cn_output_start s = CN_OUTPUT_START_IN_CONTENT;
    cn_error err = {0};
    if (st == CN_OK) CHECKF(serve_chat_prompt(app, &r, &v.ids, &v.n, &s, &err) == CN_OK, "%s", err.msg);
    if (start) *start = s;
    serve_chat_request_free(&r);
    return v;
}

/* JSON string literal of s (cJSON escaping). */
static char *quoted(const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *q = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return q;
}

/* follow has first + reply + EOS as its first ids. */
static bool extends(const id_vec *follow, const id_vec *first, const id_vec *reply_ids, int32_t eos, size_t *at) {
    size_t n = first->n + reply_ids->n + 1;
    for (*at = 0; *at < n && *at < follow->n; (*at)++) {
        int32_t want = *at < first->n ? first->ids[*at]
                       : *at < first->n + reply_ids->n ? reply_ids->ids[*at - first->n]
                                                      : eos;
        if (follow->ids[*at] != want) return false;
    }
    return *at == n;
}

static char *decode(const id_vec *v) {
    char *text = NULL;
    size_t len = 0;
    cn_error err = {0};
    CHECK(cn_tokenizer_decode(g_tok, v->ids, v->n, &text, &len, &err) == CN_OK);
    return text;
}

/* The follow-up with and without the registry spells the same text. */
static void check_same_text(serve_app *app, const char *body, const id_vec *with) {
    serve_replies *saved = app->replies;
    app->replies = NULL;
    id_vec without = prompt_of(app, body, NULL);
    app->replies = saved;
    char *a = decode(with), *b = decode(&without);
    CHECKF(a && b && strcmp(a, b) == 0, "the swap changed the text:\n%s\n%s", a ? a : "", b ? b : "");
    CHECK(without.n != with->n || memcmp(without.ids, with->ids, with->n * sizeof *with->ids) != 0);
    free(a), free(b), free(without.ids);
}

static void test_tool_call_round_trip(serve_app *app, int32_t eos) {
    char first_body[2048];
    snprintf(first_body, sizeof first_body,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Hong Kong?\"}],%s}", TOOLS);
    id_vec first = prompt_of(app, first_body, NULL);
    /* Two calls; "3" and the non-ASCII city keep spellings json.dumps would change nothing about,
       so what differs without the registry is the split into tokens alone. */
    id_vec sampled = sampled_split(
        "Checking \xe5\xa4\xa9\xe6\xb0\xa3.\n\n<" DSML "tool_calls>\n<" DSML "invoke name=\"get_weather\">\n<" DSML
        "parameter name=\"city\" string=\"true\">\xe9\xa6\x99\xe6\xb8\xaf Island</" DSML "parameter>\n<" DSML
        "parameter name=\"days\" string=\"false\">3</" DSML "parameter>\n</" DSML "invoke>\n<" DSML
        "invoke name=\"get_weather\">\n<" DSML "parameter name=\"city\" string=\"true\">Kowloon</" DSML
        "parameter>\n</" DSML "invoke>\n</" DSML "tool_calls>");
    reply r = {0};
    answer(app, &sampled, CN_OUTPUT_START_IN_CONTENT, &r);
    CHECKF(r.calls == 2, "%d calls", r.calls);
    CHECKF(strcmp(cn_output_bytes_str(&r.content), "Checking \xe5\xa4\xa9\xe6\xb0\xa3.") == 0, "%s",
           cn_output_bytes_str(&r.content));

    char *content = quoted(cn_output_bytes_str(&r.content));
    char *args0 = quoted(cn_output_bytes_str(&r.arguments[0])), *args1 = quoted(cn_output_bytes_str(&r.arguments[1]));
    char body[8192];
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Hong Kong?\"},"
             "{\"role\":\"assistant\",\"content\":%s,\"tool_calls\":["
             "{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":%s}},"
             "{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":%s}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"18C\"},"
             "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"19C\"},"
             "{\"role\":\"user\",\"content\":\"And tomorrow?\"}],%s}",
             content, r.call_id[0], args0, r.call_id[1], args1, r.call_id[0], r.call_id[1], TOOLS);
    uint64_t swaps = serve_replies_swaps(app->replies);
    id_vec follow = prompt_of(app, body, NULL);
    size_t at = 0;
    CHECKF(extends(&follow, &first, &sampled, eos, &at),
           "the follow-up leaves the sampled sequence at id %zu (first prompt %zu, reply %zu ids)", at, first.n, sampled.n);
    CHECK(serve_replies_swaps(app->replies) == swaps + 1);
    check_same_text(app, body, &follow);

    /* An edited reply is rendered from its text: no swap, and the prefix ends inside the reply. */
    char edited[8192];
    snprintf(edited, sizeof edited,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Hong Kong?\"},"
             "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
             "{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":%s}},"
             "{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":%s}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"18C\"},"
             "{\"role\":\"user\",\"content\":\"And tomorrow?\"}],%s}",
             r.call_id[0], args0, r.call_id[1], args1, r.call_id[0], TOOLS);
    id_vec other = prompt_of(app, edited, NULL);
    CHECK(!extends(&other, &first, &sampled, eos, &at) && at >= first.n && at < first.n + sampled.n);
    CHECK(serve_replies_swaps(app->replies) == swaps + 1);

    free(content), free(args0), free(args1);
    free(first.ids), free(sampled.ids), free(follow.ids), free(other.ids);
    reply_free(&r);
}

/* Plain text replies: chat mode; thinking mode with the reasoning kept (tools in the request keep
 * every turn's reasoning); thinking mode without tools, where the next user turn drops the
 * reasoning, so the turn no longer spells the reply and nothing is swapped. */
static void test_text_replies(serve_app *app, int32_t eos) {
    static const struct {
        const char *thinking; /* the request's "thinking" */
        bool tools, swapped;
        const char *reply;
    } cases[] = {
        {"false", false, true, "Victoria Harbour is deep \xe2\x80\x94 and busy."},
        {"true", true, true, "The user asks about ferries.</think>The Star Ferry crosses in ten minutes."},
        {"true", false, false, "The user asks about ferries.</think>The Star Ferry crosses in ten minutes."},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char first_body[2048];
        snprintf(first_body, sizeof first_body,
                 "{\"model\":\"m\",\"thinking\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"Ferries?\"}]%s%s}",
                 cases[c].thinking, cases[c].tools ? "," : "", cases[c].tools ? TOOLS : "");
        cn_output_start start;
        id_vec first = prompt_of(app, first_body, &start);
        id_vec sampled = sampled_split(cases[c].reply);
        reply r = {0};
        answer(app, &sampled, start, &r);
        char *content = quoted(cn_output_bytes_str(&r.content));
        char *reasoning = quoted(cn_output_bytes_str(&r.reasoning));
        char body[4096];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"thinking\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"Ferries?\"},"
                 "{\"role\":\"assistant\",\"content\":%s,\"reasoning_content\":%s},"
                 "{\"role\":\"user\",\"content\":\"Thanks.\"}]%s%s}",
                 cases[c].thinking, content, reasoning, cases[c].tools ? "," : "", cases[c].tools ? TOOLS : "");
        uint64_t swaps = serve_replies_swaps(app->replies);
        id_vec follow = prompt_of(app, body, NULL);
        size_t at = 0;
        bool ok = extends(&follow, &first, &sampled, eos, &at);
        CHECKF(ok == cases[c].swapped, "case %zu: extends %d at %zu (first %zu, reply %zu)", c, ok, at, first.n, sampled.n);
        CHECKF(serve_replies_swaps(app->replies) == swaps + (cases[c].swapped ? 1 : 0), "case %zu swaps", c);
        if (cases[c].swapped) check_same_text(app, body, &follow);
        free(content), free(reasoning);
        free(first.ids), free(sampled.ids), free(follow.ids);
        reply_free(&r);
    }
}

/* A reply whose ids hold an added token inside its content ("<｜User｜>" sampled as the control id)
 * spells a control token there; the client's content can only be text, so the turn never matches:
 * the swap would otherwise feed the model a control token the client never sent. */
static void test_control_in_text(serve_app *app, int32_t eos) {
    const char *first_body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Say it.\"}]}";
    id_vec first = prompt_of(app, first_body, NULL);
    id_vec sampled = sampled_split("I say ");
    push(&sampled, cn_tokenizer_token_id(g_tok, CN_CHAT_USER));
    reply r = {0};
    answer(app, &sampled, CN_OUTPUT_START_IN_CONTENT, &r);
    char *content = quoted(cn_output_bytes_str(&r.content));
    CHECKF(strcmp(cn_output_bytes_str(&r.content), "I say " CN_CHAT_USER) == 0, "%s", cn_output_bytes_str(&r.content));
    char body[2048];
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Say it.\"},{\"role\":\"assistant\",\"content\":%s},"
             "{\"role\":\"user\",\"content\":\"Again.\"}]}",
             content);
    uint64_t swaps = serve_replies_swaps(app->replies);
    id_vec follow = prompt_of(app, body, NULL);
    size_t at = 0;
    CHECK(!extends(&follow, &first, &sampled, eos, &at));
    CHECK(serve_replies_swaps(app->replies) == swaps);
    free(content);
    free(first.ids), free(sampled.ids), free(follow.ids);
    reply_free(&r);
}

static void test_registry_bounds(void) {
    cn_error err = {0};
    serve_replies *r = NULL;
    CHECK(serve_replies_create(NULL, 2, 100, &r, &err) == CN_ERR_ARG);
    CHECK(serve_replies_create(g_tok, 2, 200, &r, &err) == CN_OK);
    id_vec a = sampled_split("alpha"), b = sampled_split("beta"), c = sampled_split("gamma");
    CHECK(serve_replies_put(r, a.ids, a.n, &err) == CN_OK);
    CHECK(serve_replies_put(r, b.ids, b.n, &err) == CN_OK);
    CHECK(serve_replies_put(r, a.ids, a.n, &err) == CN_OK); /* same segments: replaced, a is now the newest */
    CHECK(serve_replies_count(r) == 2);
    CHECK(serve_replies_put(r, c.ids, c.n, &err) == CN_OK); /* evicts b */
    CHECK(serve_replies_count(r) == 2);
    const char *words[] = {"alpha", "beta", "gamma"};
    const bool kept[] = {true, false, true};
    for (int i = 0; i < 3; i++) {
        cn_chat_prompt p = {0};
        CHECK(cn_chat_prompt_control(&p, CN_CHAT_ASSISTANT, &err) == CN_OK && cn_chat_prompt_text(&p, words[i], &err) == CN_OK);
        CHECK(serve_replies_swap_body(r, &p, 1, &err) == CN_OK);
        CHECKF((p.segment_count == 2 && p.segments[1].kind == CN_CHAT_SEGMENT_IDS) == kept[i], "%s", words[i]);
        /* The flat text is kept whole either way. */
        CHECK(p.text.length == strlen(CN_CHAT_ASSISTANT) + strlen(words[i]));
        cn_chat_prompt_free(&p);
    }
    CHECK(serve_replies_put(r, a.ids, 0, &err) == CN_ERR_ARG);
    int32_t bad = cn_tokenizer_id_count(g_tok) + 5;
    CHECK(serve_replies_put(r, &bad, 1, &err) == CN_ERR_ARG);
    id_vec big = sampled_split("a reply far longer than the registry's two hundred byte budget allows for one entry");
    CHECK(serve_replies_put(r, big.ids, big.n, &err) == CN_ERR_ARG);
    serve_replies_free(r);
    free(a.ids), free(b.ids), free(c.ids), free(big.ids);
}

int main(void) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    cn_error err = {0};
    if (!path || !*path || cn_tokenizer_load(path, &g_tok, &err) != CN_OK) {
        fprintf(stderr, "test_serve_reply_ids: no tokenizer (CLAWNET_TOKENIZER_JSON=%s): %s\n", path ? path : "", err.msg);
        return 1;
    }
    serve_app app = {.tokenizer = g_tok};
    CHECK(serve_tool_calls_create(64, 1 << 20, &app.tool_calls, &err) == CN_OK);
    CHECK(serve_replies_create(g_tok, 64, 1 << 20, &app.replies, &err) == CN_OK);
    int32_t eos = cn_tokenizer_token_id(g_tok, CN_CHAT_EOS);
    test_tool_call_round_trip(&app, eos);
    test_text_replies(&app, eos);
    test_control_in_text(&app, eos);
    test_registry_bounds();
    serve_tool_calls_free(app.tool_calls);
    serve_replies_free(app.replies);
    cn_tokenizer_free(g_tok);
    return cn_test_finish("test_serve_reply_ids");
}
