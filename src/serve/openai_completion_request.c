/* The Completions API's request bodies -> serve_completion_request, every field checked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/openai.h"
#include "serve/request_fields.h"
#include "text/chat_json.h"

#define COMPLETION_DEFAULT_MAX_TOKENS 16 /* the API reference's default */

static cn_status parse_prompt(const cJSON *prompt, serve_completion_request *r, serve_openai_fault *f) {
    /* ["text"] and [[ids]] are a batch of one: accepted as the single prompt. */
    if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 1 &&
        (cJSON_IsString(prompt->child) || cJSON_IsArray(prompt->child)))
        prompt = prompt->child;
    if (cJSON_IsString(prompt)) {
        if (!prompt->valuestring[0]) return serve_openai_bad(f, "prompt", "prompt must not be empty");
        if (!(r->prompt_text = strdup(prompt->valuestring))) return serve_openai_bad(f, "", "out of memory");
        return CN_OK;
    }
    if (!cJSON_IsArray(prompt) || !prompt->child)
        return serve_openai_bad(f, "prompt", "prompt must be a non-empty string or array of token ids (one prompt per request)");
    size_t n = (size_t)cJSON_GetArraySize(prompt);
    if (!(r->prompt_ids = malloc(n * sizeof *r->prompt_ids))) return serve_openai_bad(f, "", "out of memory");
    for (const cJSON *id = prompt->child; id; id = id->next) {
        if (!serve_json_is_integer(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX)
            return serve_openai_bad(f, "prompt", "prompt[%zu] is not a token id (one prompt per request)", r->n_prompt_ids);
        r->prompt_ids[r->n_prompt_ids++] = (int32_t)id->valuedouble;
    }
    return CN_OK;
}

static cn_status parse_rest(const cJSON *body, serve_completion_request *r, serve_openai_fault *f) {
    double temperature = r->sampling.temperature, top_p = r->sampling.top_p;
    cn_status st = serve_openai_number(body, "temperature", 0, 2, false, &temperature, f);
    if (st == CN_OK) st = serve_openai_number(body, "top_p", 0, 1, true, &top_p, f);
    if (st != CN_OK) return st;
    r->sampling.temperature = (float)temperature;
    r->sampling.top_p = (float)top_p;
    const cJSON *seed = serve_json_field(body, "seed");
    if (seed && (!serve_json_is_integer(seed) || fabs(seed->valuedouble) > 9.2e18)) return serve_openai_bad(f, "seed", "seed must be an integer");
    if (seed) r->sampling.seed = (uint64_t)(int64_t)seed->valuedouble;
    const cJSON *max_tokens = serve_json_field(body, "max_tokens");
    if (max_tokens && (!serve_json_is_integer(max_tokens) || max_tokens->valuedouble < 1 || max_tokens->valuedouble > 1e9))
        return serve_openai_bad(f, "max_tokens", "max_tokens must be an integer >= 1");
    r->max_tokens = max_tokens ? (int64_t)max_tokens->valuedouble : COMPLETION_DEFAULT_MAX_TOKENS;
    const cJSON *stop = serve_json_field(body, "stop");
    serve_chat_request scratch = {0};
    if (cJSON_IsString(stop)) st = serve_chat_request_add_stop(&scratch, stop->valuestring, &f->error);
    else if (cJSON_IsArray(stop))
        for (const cJSON *s = stop->child; s && st == CN_OK; s = s->next)
            st = cJSON_IsString(s) ? serve_chat_request_add_stop(&scratch, s->valuestring, &f->error)
                                   : cn_fail(&f->error, CN_ERR_ARG, "stop must hold strings only");
    else if (stop) st = cn_fail(&f->error, CN_ERR_ARG, "stop must be a string or an array of strings");
    for (size_t i = 0; i < scratch.n_stop; i++) r->stop[i] = scratch.stop[i];
    r->n_stop = scratch.n_stop;
    if (st != CN_OK) return serve_openai_bad(f, "stop", "%s", f->error.msg);
    const cJSON *logprobs = serve_json_field(body, "logprobs");
    if (logprobs && (!serve_json_is_integer(logprobs) || logprobs->valuedouble < 0 || logprobs->valuedouble > CN_ENGINE_MAX_TOP_LOGPROBS))
        return serve_openai_bad(f, "logprobs", "logprobs must be an integer from 0 to %d", CN_ENGINE_MAX_TOP_LOGPROBS);
    r->logprobs = logprobs ? (int)logprobs->valuedouble : -1;
    const cJSON *stream = serve_json_field(body, "stream");
    if (stream && !cJSON_IsBool(stream)) return serve_openai_bad(f, "stream", "stream must be a boolean");
    r->stream = cJSON_IsTrue(stream);
    const cJSON *options = serve_json_field(body, "stream_options");
    if (options) {
        const cJSON *usage = serve_json_field(options, "include_usage");
        if (!r->stream) return serve_openai_bad(f, "stream_options", "stream_options is only allowed with stream: true");
        if (!cJSON_IsObject(options) || (usage && !cJSON_IsBool(usage)))
            return serve_openai_bad(f, "stream_options", "stream_options must be {\"include_usage\": boolean}");
        r->include_usage = cJSON_IsTrue(usage);
    }
    const cJSON *echo = serve_json_field(body, "echo");
    if (echo && !cJSON_IsFalse(echo)) return serve_openai_bad(f, "echo", "echo is not supported");
    if (serve_json_field(body, "suffix")) return serve_openai_bad(f, "suffix", "suffix is not supported");
    static const char *const ones[] = {"n", "best_of"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = serve_json_field(body, ones[i]);
        if (v && (!serve_json_is_integer(v) || v->valuedouble != 1)) return serve_openai_bad(f, ones[i], "only %s = 1 is supported", ones[i]);
    }
    static const char *const penalties[] = {"frequency_penalty", "presence_penalty"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = serve_json_field(body, penalties[i]);
        if (v && (!cJSON_IsNumber(v) || v->valuedouble != 0))
            return serve_openai_bad(f, penalties[i], "%s is not supported (only 0)", penalties[i]);
    }
    const cJSON *bias = serve_json_field(body, "logit_bias");
    if (bias && (!cJSON_IsObject(bias) || bias->child)) return serve_openai_bad(f, "logit_bias", "logit_bias is not supported");
    return CN_OK;
}

cn_status serve_openai_parse_completion(const char *text, size_t len, serve_completion_request *r,
                                        serve_openai_fault *f) {
    memset(f, 0, sizeof *f);
    serve_chat_request defaults;
    memset(r, 0, sizeof *r);
    r->logprobs = -1;
    if (serve_chat_request_init(&defaults, &f->error) != CN_OK) {
        f->status = 500;
        return CN_ERR_IO;
    }
    r->sampling = defaults.sampling;
    cJSON *body = NULL;
    if (cn_chat_json_parse(text, len, &body, &f->error) != CN_OK)
        return serve_openai_bad(f, "", "the request body is not valid JSON: %s", f->error.msg);
    cn_status st = cJSON_IsObject(body) ? CN_OK : serve_openai_bad(f, "", "the request body must be a JSON object");
    if (st == CN_OK && !cJSON_IsString(serve_json_field(body, "model"))) st = serve_openai_bad(f, "model", "\"model\" must be a string");
    if (st == CN_OK) st = parse_prompt(serve_json_field(body, "prompt"), r, f);
    if (st == CN_OK) st = parse_rest(body, r, f);
    cJSON_Delete(body);
    return st;
}

void serve_completion_request_free(serve_completion_request *r) {
    free(r->prompt_text);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}
