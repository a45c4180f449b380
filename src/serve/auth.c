/* API keys: see auth.h. */
#include "serve/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

cn_status serve_api_key_read_file(const char *path, char **key, cn_error *err) {
    *key = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cn_fail(err, CN_ERR_IO, "cannot open the API key file %s: %s", path, strerror(errno));
    char line[SERVE_API_KEY_MAX + 3];
    size_t n = 0;
    int c;
    bool too_long = false;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (n < sizeof line - 1) line[n++] = (char)c;
        else too_long = true;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) return cn_fail(err, CN_ERR_IO, "cannot read the API key file %s", path);
    line[n] = '\0';
    if (n && line[n - 1] == '\r') line[--n] = '\0';
    size_t start = 0;
    while (start < n && is_blank(line[start])) start++;
    while (n > start && is_blank(line[n - 1])) line[--n] = '\0';
    size_t len = n - start;
    if (too_long || len > SERVE_API_KEY_MAX)
        return cn_fail(err, CN_ERR_FORMAT, "the API key in %s is longer than %d bytes", path, SERVE_API_KEY_MAX);
    if (!len) return cn_fail(err, CN_ERR_FORMAT, "the first line of the API key file %s is empty", path);
    for (size_t i = start; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            return cn_fail(err, CN_ERR_FORMAT, "the API key in %s has a control character at byte %zu", path, i);
    *key = malloc(len + 1);
    if (!*key) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    memcpy(*key, line + start, len + 1);
    sodium_memzero(line, sizeof line);
    return CN_OK;
}

static void key_digest(const char *text, size_t len, unsigned char digest[32]) {
    crypto_generichash(digest, 32, (const unsigned char *)text, len, NULL, 0);
}

cn_status serve_api_key_init(serve_api_key *k, const char *key, cn_error *err) {
    memset(k, 0, sizeof *k);
    if (!key || !*key) return cn_fail(err, CN_ERR_ARG, "the API key is empty");
    if (sodium_init() < 0) return cn_fail(err, CN_ERR_UNSUPPORTED, "libsodium failed to initialise");
    key_digest(key, strlen(key), k->digest);
    k->set = true;
    return CN_OK;
}

bool serve_api_key_matches(const serve_api_key *k, const char *candidate, size_t len) {
    if (!k->set) return false;
    unsigned char digest[32];
    key_digest(candidate, len, digest);
    return sodium_memcmp(digest, k->digest, sizeof digest) == 0;
}

/* The credentials of "Bearer KEY", or NULL when the scheme is another. */
static const char *bearer_token(const char *authorization, size_t *len) {
    while (is_blank(*authorization)) authorization++;
    if (strncasecmp(authorization, "Bearer", 6) || !is_blank(authorization[6])) return NULL;
    const char *token = authorization + 6;
    while (is_blank(*token)) token++;
    size_t n = strlen(token);
    while (n && is_blank(token[n - 1])) n--;
    *len = n;
    return token;
}

bool serve_api_key_accepts(const serve_api_key *k, const char *authorization, const char *x_api_key) {
    bool ok = false;
    size_t len;
    const char *token;
    if (authorization && (token = bearer_token(authorization, &len))) ok |= serve_api_key_matches(k, token, len);
    if (x_api_key) {
        while (is_blank(*x_api_key)) x_api_key++;
        size_t n = strlen(x_api_key);
        while (n && is_blank(x_api_key[n - 1])) n--;
        ok |= serve_api_key_matches(k, x_api_key, n);
    }
    return ok;
}
