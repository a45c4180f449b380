/* A small keyed LRU table: byte-string keys, owned opaque values, bounded by an entry count and a
 * byte budget, least recently used dropped first. What the server's two round-trip registries
 * share (serve/tool_call_registry.h: call id -> DSML bytes; serve/reply_registry.h: reply
 * segments -> sampled ids).
 *
 * No lock inside: each registry holds its own mutex around every call, and does its own work on
 * a value (copying it out, comparing it) under that same lock. A value returned by get stays
 * valid until the next put or free. */
#ifndef CN_SERVE_LRU_TABLE_H
#define CN_SERVE_LRU_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct serve_lru_table serve_lru_table;

/* Frees one value the table owns (on eviction, replacement, refusal and serve_lru_table_free). */
typedef void (*serve_lru_free_fn)(void *value);

/* Whether a found value may be used (get's optional filter; context is get's). */
typedef bool (*serve_lru_accept_fn)(const void *value, const void *context);

/* At most capacity entries and max_bytes of cost (both > 0). free_value must not be NULL. */
cn_status serve_lru_table_create(size_t capacity, size_t max_bytes, serve_lru_free_fn free_value, serve_lru_table **out,
                                 cn_error *err);
void serve_lru_table_free(serve_lru_table *table);

/* Stores value under a copy of key, charging cost bytes (whatever the caller counts: the key is
 * not added). Takes ownership of value whatever it returns. An entry with an equal key is
 * replaced; then least recently used entries are dropped until both bounds hold. CN_ERR_ARG for a
 * cost over max_bytes ("N bytes exceed the registry's budget of M"; the table is left as it was),
 * CN_ERR_NOMEM if the key cannot be copied. */
cn_status serve_lru_table_put(serve_lru_table *table, const void *key, size_t key_len, void *value, size_t cost,
                              cn_error *err);

/* The value stored under key, or NULL; when accept is NULL or returns true for it, it becomes the
 * most recently used, otherwise NULL is returned and the order of use is left alone. */
void *serve_lru_table_get(serve_lru_table *table, const void *key, size_t key_len, serve_lru_accept_fn accept,
                          const void *context);

size_t serve_lru_table_count(const serve_lru_table *table);

/* The summed cost of the entries held (at most max_bytes). */
size_t serve_lru_table_bytes(const serve_lru_table *table);

/* Test hook: replaces the key hash (FNV-1a) so that tests can force equal hashes of different keys
 * and check that keys are still told apart by length and bytes. Call on an empty table. */
typedef uint64_t (*serve_lru_hash_fn)(const void *key, size_t key_len);
void serve_lru_table_set_hash_for_tests(serve_lru_table *table, serve_lru_hash_fn hash);

#endif
