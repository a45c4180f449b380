/* clawnet chat: an interactive conversation in DeepSeek-V4's chat format, streaming the answer,
 * reusing the sequence state across turns when the new prompt extends the old one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/chat_session.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "cli/line_input.h"
#include "cli/prompt_args.h"

static const char chat_usage[] =
    "usage: clawnet chat -m MODEL [--tokenizer PATH] [--system TEXT] [--think] [--effort low|high|max]\n"
    "                    [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [-t N]\n"
    "\n"
    "An interactive conversation in DeepSeek-V4's chat format. Each line you type is a user\n"
    "message; the answer streams as it is generated (reasoning dimmed, or after \"[think] \" when\n"
    "stdout is not a terminal; tool calls as JSON lines), then a statistics line on stderr. On a\n"
    "terminal lines can be edited and recalled (libedit); otherwise lines are read from stdin,\n"
    "so a pipe can drive it. The state is reused across turns when the new prompt extends the\n"
    "previous one.\n"
    "\n"
    "  -m, --model PATH   checkpoint directory or .gguf file\n"
    "  --tokenizer PATH   tokenizer.json, a directory holding one, or a GGUF;\n"
    "                     default MODEL/tokenizer.json, or MODEL itself if it is a GGUF\n"
    "  --system TEXT      a system message at the start of the conversation\n"
    "  --think            thinking mode (the answer starts with reasoning)\n"
    "  --effort E         reasoning effort in thinking mode: low (default), high or max\n"
    "  -n N               tokens to generate per answer at most (default 1024)\n"
    "  --temp, --top-k, --top-p, --seed   sampling as in clawnet run (default greedy)\n"
    "  --print-prompt-ids print each turn's prompt token ids on stderr\n"
    "  -t, --threads N    worker threads (default: all CPUs)\n"
    PROMPT_ARGS_KV_TYPE_HELP
    PROMPT_ARGS_ACT_HELP
    "\n"
    "Commands: /reset (new conversation), /save FILE, /load FILE (conversation and state; a file\n"
    "records the -m, --act, --kv-type and --kv-index-type it was saved with, and /load refuses\n"
    "other settings, naming the flags to restart with), /help, /quit. Ctrl-D also ends the session.\n";

typedef struct {
    char *data;
    size_t len, capacity;
} text_buffer;

static bool text_append(text_buffer *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : 256;
        while (capacity < t->len + n + 1) capacity *= 2;
        char *grown = realloc(t->data, capacity);
        if (!grown) return false;
        t->data = grown;
        t->capacity = capacity;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
    return true;
}

/* One answer being generated: ids -> text -> parser events -> the screen and the message. */
typedef struct {
    const cn_tokenizer *tok;
    int32_t eos;
    cn_detokenizer *detok;
    cn_output_parser *parser;
    bool dim, in_reasoning_display, out_of_memory;
    text_buffer content, reasoning;
    int32_t *generated;
    size_t n_generated, generated_capacity;
} chat_answer;

static void on_event(void *context, const cn_output_event *e) {
    chat_answer *a = context;
    bool reasoning = e->kind == CN_OUTPUT_REASONING_DELTA;
    if (reasoning != a->in_reasoning_display && (reasoning || e->kind == CN_OUTPUT_CONTENT_DELTA)) {
        if (reasoning) fputs(a->dim ? "\033[2m" : "[think] ", stdout);
        else fputs(a->dim ? "\033[0m\n" : "\n", stdout);
        a->in_reasoning_display = reasoning;
    }
    switch (e->kind) {
    case CN_OUTPUT_REASONING_DELTA:
        fwrite(e->text, 1, e->len, stdout);
        if (!text_append(&a->reasoning, e->text, e->len)) a->out_of_memory = true;
        break;
    case CN_OUTPUT_CONTENT_DELTA:
        fwrite(e->text, 1, e->len, stdout);
        if (!text_append(&a->content, e->text, e->len)) a->out_of_memory = true;
        break;
    case CN_OUTPUT_TOOL_CALL_END: {
        cn_output_call call;
        if (cn_output_parser_call(a->parser, (size_t)e->call_index, &call)) {
            cJSON *json = cJSON_CreateObject();
            cJSON_AddStringToObject(json, "name", call.name);
            cJSON *arguments = cJSON_ParseWithLength(call.arguments, call.arguments_len);
            if (arguments) cJSON_AddItemToObject(json, "arguments", arguments);
            char *text = cJSON_PrintUnformatted(json);
            if (text) printf("\n[tool call] %s\n", text);
            free(text);
            cJSON_Delete(json);
        }
        break;
    }
    case CN_OUTPUT_ERROR:
        fprintf(stderr, "[output parser: %s]\n", e->text);
        break;
    case CN_OUTPUT_END:
        if (a->in_reasoning_display && a->dim) fputs("\033[0m", stdout);
        a->in_reasoning_display = false;
        break;
    default:
        break;
    }
    fflush(stdout);
}

static bool on_token(void *context, int32_t id, cn_error *err) {
    chat_answer *a = context;
    if (a->n_generated == a->generated_capacity) {
        size_t capacity = a->generated_capacity ? 2 * a->generated_capacity : 256;
        int32_t *grown = realloc(a->generated, capacity * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory"), false;
        a->generated = grown;
        a->generated_capacity = capacity;
    }
    a->generated[a->n_generated++] = id;
    if (id == a->eos) return true; /* the end marker, not text */
    const char *text;
    size_t len;
    if (cn_detokenizer_push(a->detok, id, &text, &len, err) != CN_OK) return false;
    if (cn_output_parser_feed(a->parser, text, len, err) != CN_OK) return false;
    if (a->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "out of memory"), false;
    return true;
}

static void answer_free(chat_answer *a) {
    cn_detokenizer_free(a->detok);
    cn_output_parser_free(a->parser);
    free(a->content.data);
    free(a->reasoning.data);
    free(a->generated);
}

typedef struct {
    cn_model *model;
    cn_tokenizer *tok;
    cn_sampler sampler;
    chat_session session;
    cn_chat_options options;
    const char *system;
    int64_t max_new_tokens;
    bool print_prompt_ids;
} chat_context;

/* Appends the prompt ids that are not in the state yet after encoding the conversation. */
static cn_status prompt_ids(chat_context *c, int32_t **ids, size_t *n, cn_error *err) {
    cn_chat_prompt prompt;
    cn_status st = cn_chat_encode(c->session.messages, &c->options, &prompt, err);
    if (st == CN_OK) st = cn_chat_prompt_tokenize(c->tok, &prompt, ids, n, err);
    cn_chat_prompt_free(&prompt);
    return st;
}

/* One user turn. On failure the conversation is as before the turn. */
static cn_status chat_turn(chat_context *c, const char *user_text, cn_error *err) {
    chat_answer a = {.tok = c->tok, .eos = (int32_t)c->model->cfg->eos_token_id, .dim = isatty(STDOUT_FILENO)};
    int32_t *ids = NULL;
    size_t n = 0;
    cn_status st = chat_session_append(&c->session, "user", user_text, NULL, err);
    if (st) return st;
    if ((st = prompt_ids(c, &ids, &n, err))) goto fail;
    if (c->print_prompt_ids) {
        fputs("prompt ids:", stderr);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    size_t reused = chat_session_reuse(&c->session, ids, n);
    cn_output_start start = c->options.thinking ? CN_OUTPUT_START_IN_REASONING : CN_OUTPUT_START_IN_CONTENT;
    if ((st = cn_detokenizer_new(c->tok, &a.detok, err)) ||
        (st = cn_output_parser_create(start, on_event, &a, &a.parser, err)))
        goto fail;
    cli_generation g = {c->model, &c->session.state, &c->sampler, c->max_new_tokens, true, on_token, &a};
    cli_generation_stats stats;
    if ((st = cli_generate(&g, ids + reused, (int64_t)(n - reused), &stats, err))) goto fail_state;
    stats.prompt_tokens = (int64_t)n;
    const char *tail;
    size_t len;
    cn_detokenizer_finish(a.detok, &tail, &len);
    if ((st = cn_output_parser_feed(a.parser, tail, len, err)) || (st = cn_output_parser_finish(a.parser, err)))
        goto fail_state;
    fputc('\n', stdout);
    fflush(stdout);
    /* The state now holds the prompt and every generated id but the last. */
    size_t fed = a.n_generated ? a.n_generated - 1 : 0;
    if ((st = chat_session_record(&c->session, ids + reused, n - reused, err)) ||
        (st = chat_session_record(&c->session, a.generated, fed, err)))
        goto fail_state;
    if ((st = chat_session_append(&c->session, "assistant", a.content.data ? a.content.data : "",
                                  c->options.thinking ? (a.reasoning.data ? a.reasoning.data : "") : NULL, err)))
        goto fail_state;
    cli_print_stats(&stats);
    free(ids);
    answer_free(&a);
    return CN_OK;
fail_state:
    /* The state may hold part of this turn: start the next turn from a fresh prefill. */
    cn_kv_state_reset(&c->session.state);
    c->session.n_ids = 0;
fail:
    chat_session_pop(&c->session);
    free(ids);
    answer_free(&a);
    return st;
}

static const char *command_argument(const char *line, const char *command) {
    size_t n = strlen(command);
    if (strncmp(line, command, n) || (line[n] && line[n] != ' ')) return NULL;
    line += n;
    while (*line == ' ') line++;
    return line;
}

/* Returns false when the session should end. */
static bool chat_command(chat_context *c, const char *line) {
    cn_error err = {0};
    const char *arg;
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return false;
    if (!strcmp(line, "/help")) {
        fputs(chat_usage, stderr);
    } else if (!strcmp(line, "/reset")) {
        if (chat_session_reset(&c->session, c->system, &err)) fprintf(stderr, "clawnet chat: %s\n", err.msg);
        else fputs("[new conversation]\n", stderr);
    } else if ((arg = command_argument(line, "/save"))) {
        if (!*arg) fputs("clawnet chat: /save needs a file name\n", stderr);
        else if (chat_session_save(&c->session, c->sampler.rng_state, arg, &err))
            fprintf(stderr, "clawnet chat: %s\n", err.msg);
        else fprintf(stderr, "[saved to %s]\n", arg);
    } else if ((arg = command_argument(line, "/load"))) {
        uint64_t rng;
        int format;
        if (!*arg) fputs("clawnet chat: /load needs a file name\n", stderr);
        else if (chat_session_load(&c->session, c->model, &rng, &format, arg, &err))
            fprintf(stderr, "clawnet chat: %s\n", err.msg);
        else {
            c->sampler.rng_state = rng;
            fprintf(stderr, "[loaded %s: %d messages, %zu tokens]\n", arg, cJSON_GetArraySize(c->session.messages),
                    c->session.n_ids);
            if (format == 1)
                fprintf(stderr,
                        "clawnet chat: note: %s predates identity records (format 01): its KV row types match this "
                        "chat, but the model and --act it was saved with are not recorded and were not checked; "
                        "/save writes the current format\n",
                        arg);
        }
    } else {
        fprintf(stderr, "clawnet chat: unknown command %s (/help lists them)\n", line);
    }
    return true;
}

int cn_cmd_chat(int argc, char **argv) {
    prompt_args pa = {.command = "chat"};
    chat_context c = {.max_new_tokens = 1024};
    const char *tokenizer_path = NULL;
    cn_sampler_params sp = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 0}; /* greedy */
    int sampling;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int shared = prompt_args_parse(&pa, argc, argv, &i);
        if (shared < 0) return 2;
        if (shared) {
            if (pa.ids_text) {
                fputs("clawnet chat: --ids is for clawnet run\n", stderr);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(chat_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--think")) {
            c.options.thinking = true;
        } else if (!strcmp(a, "--print-prompt-ids")) {
            c.print_prompt_ids = true;
        } else if (!(v = cn_option_value(argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "--tokenizer")) {
            tokenizer_path = v;
        } else if (!strcmp(a, "--system")) {
            c.system = v;
        } else if (!strcmp(a, "--effort")) {
            cn_error err = {0};
            if (cn_chat_effort_parse(v, &c.options.reasoning_effort, &err)) {
                fprintf(stderr, "clawnet chat: --effort: %s\n", err.msg);
                return 2;
            }
        } else if (!strcmp(a, "-n")) {
            if (!cn_parse_int(a, v, 1, 1 << 24, &c.max_new_tokens)) return 2;
        } else if ((sampling = cn_parse_sampling_option(a, v, &sp)) != 0) {
            if (sampling < 0) return 2;
        } else {
            fprintf(stderr, "clawnet chat: unknown option %s (see clawnet chat --help)\n", a);
            return 2;
        }
    }
    if (!pa.model_path) {
        fputs("clawnet chat: -m MODEL is required (see clawnet chat --help)\n", stderr);
        return 2;
    }
    if (c.options.reasoning_effort != CN_CHAT_EFFORT_DEFAULT && !c.options.thinking) {
        fputs("clawnet chat: --effort applies to thinking mode: add --think\n", stderr);
        return 2;
    }
    cn_error err = {0};
    int status = 1;
    if (cn_model_open(pa.model_path, (int)pa.threads, &c.model, &err)) goto fail;
    prompt_args_apply_act(c.model, pa.act);
    if (!(c.tok = cli_tokenizer_open(tokenizer_path, pa.model_path, c.model, "chat"))) goto done;
    const chat_session_identity identity = {pa.model_path, pa.act, prompt_kv_options(&pa.kv)};
    if (cn_sampler_init(&c.sampler, &sp, &err) || chat_session_init(&c.session, c.model, c.system, &identity, &err))
        goto fail;
    if (line_input_interactive()) fputs("clawnet chat: /help for commands, Ctrl-D or /quit to leave\n", stderr);
    for (;;) {
        char *line = line_input_read("> ");
        if (!line) {
            if (line_input_interactive()) fputc('\n', stderr);
            break;
        }
        bool go_on = true;
        if (line[0] == '/') {
            go_on = chat_command(&c, line);
        } else if (line[0]) {
            cn_error turn_err = {0};
            if (chat_turn(&c, line, &turn_err)) fprintf(stderr, "clawnet chat: %s\n", turn_err.msg);
        }
        free(line);
        if (!go_on) break;
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "clawnet chat: %s\n", err.msg);
done:
    chat_session_free(&c.session);
    cn_sampler_free(&c.sampler);
    cn_tokenizer_free(c.tok);
    cn_model_close(c.model);
    return status;
}
