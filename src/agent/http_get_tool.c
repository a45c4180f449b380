/* The http_get tool (shell_tool.h): GET of an allow-listed host over libcurl. The URL is parsed
 * once with curl's URL API and that same parsed handle is what curl fetches (CURLOPT_CURLU), so
 * the host checked is the host connected to; redirects are not followed (the model gets the
 * status and Location and may ask for it, which is checked again). */
#include "agent/shell_tool.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/tool_text.h"

typedef struct {
    char *data;
    size_t len, limit;
    bool over;
} body_buf;

static size_t collect(char *p, size_t size, size_t n, void *ctx) {
    body_buf *b = ctx;
    size_t bytes = size * n, room = b->limit - b->len;
    if (bytes > room) {
        memcpy(b->data + b->len, p, room);
        b->len += room;
        b->over = true;
        return 0; /* stop the transfer: the body is larger than the limit */
    }
    memcpy(b->data + b->len, p, bytes);
    b->len += bytes;
    return bytes;
}

static cn_status set_error(cn_tool_result *r, cn_error *err, const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    if (!(r->content = malloc(n))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    snprintf(r->content, n, fmt, a, b);
    r->is_error = true;
    return CN_OK;
}

static bool host_allowed(const cn_policy *p, const char *host) {
    for (size_t i = 0; i < p->n_http_get_hosts; i++)
        if (!strcasecmp(p->http_get_hosts[i], host)) return true;
    return false;
}

/* Media types that are never text, whatever their bytes look like. */
static bool binary_type(const char *ct) {
    static const char *const prefixes[] = {"image/", "audio/", "video/", "font/", "application/octet-stream",
                                           "application/zip", "application/gzip", "application/pdf"};
    for (size_t i = 0; ct && i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncasecmp(ct, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

static char *result_json(long status, const char *content_type, const char *location, const body_buf *b) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status", (double)status);
    if (content_type) cJSON_AddStringToObject(o, "content_type", content_type);
    if (location && status >= 300 && status < 400) {
        cJSON_AddStringToObject(o, "location", location);
        cJSON_AddStringToObject(o, "note", "redirects are not followed; call http_get on the location if its host "
                                           "is allowed");
    }
    char *text = cn_tool_text_lossy(b->data, b->len);
    cJSON_AddStringToObject(o, "body", text ? text : "");
    free(text);
    if (b->over) {
        char note[96];
        snprintf(note, sizeof note, "body truncated at the limit of %zu bytes", b->limit);
        cJSON_AddStringToObject(o, "truncated", note);
    }
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return json;
}

static cn_status run_http_get(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r,
                              cn_error *err) {
    const cn_policy *p = self->impl;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(args, "url");
    const char *url = cJSON_IsString(u) ? u->valuestring : "";
    CURLU *h = curl_url();
    if (!h) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    char *scheme = NULL, *host = NULL;
    cn_status s = CN_OK;
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        s = set_error(r, err, "not a valid absolute URL (%s): %s", curl_url_strerror(uc), url);
    } else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        s = set_error(r, err, "only http and https URLs are allowed%s%s", "", "");
    } else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host_allowed(p, host)) {
        s = set_error(r, err, "host %s is not allowed by the policy (http_get_hosts)%s", host ? host : "(none)", "");
    }
    curl_free(scheme);
    curl_free(host);
    if (s != CN_OK || r->content) {
        curl_url_cleanup(h);
        return s;
    }
    body_buf b = {.limit = (size_t)p->limits.output_bytes};
    CURL *curl = curl_easy_init();
    if (!curl || !(b.data = malloc(b.limit + 1))) {
        curl_easy_cleanup(curl);
        curl_url_cleanup(h);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double timeout = (double)p->limits.timeout_s, left = env->call_deadline - ((double)ts.tv_sec + ts.tv_nsec * 1e-9);
    if (env->call_deadline > 0 && left < timeout) timeout = left > 0.001 ? left : 0.001;
    char curl_msg[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_CURLU, h);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "clawnet-agent-http_get");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_msg);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    char *ct = NULL, *location = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && b.over)) {
        s = set_error(r, err, "GET %s failed: %s", url, curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
    } else if (binary_type(ct) || !cn_tool_text_is_text(b.data, b.len)) {
        s = set_error(r, err, "binary content refused (Content-Type: %s); http_get returns text only%s",
                      ct ? ct : "none", "");
    } else if (!(r->content = result_json(status, ct, location, &b))) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    curl_easy_cleanup(curl);
    curl_url_cleanup(h);
    free(b.data);
    return s;
}

static const char http_get_schema[] =
    "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\",\"description\":"
    "\"an http or https URL whose host is allowed by the run's policy\"}},"
    "\"required\":[\"url\"],\"additionalProperties\":false}";

cn_status cn_http_get_tool_add(cn_toolbox *tb, const cn_policy *policy, cn_error *err) {
    if (policy->n_http_get_hosts == 0) return CN_OK;
    char description[1024];
    int at = snprintf(description, sizeof description,
                      "HTTP GET of a text resource (redirects not followed, body limited to %lld bytes). Allowed hosts:",
                      (long long)policy->limits.output_bytes);
    for (size_t i = 0; i < policy->n_http_get_hosts && at < (int)sizeof description; i++)
        at += snprintf(description + at, sizeof description - (size_t)at, " %s", policy->http_get_hosts[i]);
    return cn_toolbox_add(tb, "http_get", description, http_get_schema, CN_TOOL_READ_ONLY, run_http_get,
                          (void *)policy, err);
}
