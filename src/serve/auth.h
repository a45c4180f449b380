/* API keys of `clawnet serve`: read from a file and compared in constant time, so the time a
 * wrong key takes to refuse says nothing about how much of it was right. */
#ifndef CN_SERVE_AUTH_H
#define CN_SERVE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define SERVE_API_KEY_MAX 4096

/* The key is kept only as its BLAKE2b-256 digest; candidates are hashed the same way and the
 * digests compared with sodium_memcmp, which takes the same time whatever the lengths. */
typedef struct {
    unsigned char digest[32];
    bool set;
} serve_api_key;

/* The key on the first line of path (surrounding spaces, tabs and the line end removed). Refuses
 * a missing or unreadable file, an empty first line, a key longer than SERVE_API_KEY_MAX bytes
 * and control characters. *key is malloc'd. */
cn_status serve_api_key_read_file(const char *path, char **key, cn_error *err);

/* Sets k from a non-empty key. */
cn_status serve_api_key_init(serve_api_key *k, const char *key, cn_error *err);

/* True if candidate (len bytes) is the key. Constant time in the key and the candidate's content. */
bool serve_api_key_matches(const serve_api_key *k, const char *candidate, size_t len);

/* True if either header carries the key: "Authorization: Bearer KEY" (scheme case-insensitive,
 * RFC 7235) or "x-api-key: KEY" (Anthropic's header). Either may be NULL. */
bool serve_api_key_accepts(const serve_api_key *k, const char *authorization, const char *x_api_key);

#endif
