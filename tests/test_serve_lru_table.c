/* The keyed LRU table both round-trip registries share (serve/lru_table.h): eviction by last use,
 * the byte budget, replacement of an equal key, refusal of one value over the budget, byte-string
 * keys (NUL bytes, prefixes, the empty key) told apart when their hashes are forced equal, get's
 * filter, and every value freed exactly once. Last, a seeded random run against a reference
 * written here as an ordered list (move to the back on use, drop from the front), a different
 * structure from the table's stamped slots. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/lru_table.h"

typedef struct {
    int tag;
    int *frees; /* counts this value's release */
} tracked;

static void free_tracked(void *value) {
    tracked *v = value;
    (*v->frees)++;
    free(v);
}

static cn_status put(serve_lru_table *t, const char *key, size_t key_len, size_t cost, int tag, int *frees,
                     cn_error *err) {
    tracked *v = malloc(sizeof *v);
    if (!v) return CN_ERR_NOMEM;
    *v = (tracked){.tag = tag, .frees = frees};
    return serve_lru_table_put(t, key, key_len, v, cost, err);
}

/* The tag stored under a NUL-terminated key (marking it used), or -1. */
static int get_tag(serve_lru_table *t, const char *key) {
    const tracked *v = serve_lru_table_get(t, key, strlen(key), NULL, NULL);
    return v ? v->tag : -1;
}

static bool reject(const void *value, const void *context) {
    (void)value;
    (void)context;
    return false;
}

static bool tag_is(const void *value, const void *context) { return ((const tracked *)value)->tag == *(const int *)context; }

static uint64_t same_hash(const void *key, size_t key_len) {
    (void)key;
    (void)key_len;
    return 42;
}

static void test_create_refusals(void) {
    cn_error err = {0};
    serve_lru_table *t = (serve_lru_table *)&err;
    CHECK(serve_lru_table_create(0, 100, free_tracked, &t, &err) == CN_ERR_ARG && t == NULL);
    CHECKF(strstr(err.msg, "capacity"), "%s", err.msg);
    CHECK(serve_lru_table_create(4, 0, free_tracked, &t, &err) == CN_ERR_ARG && t == NULL);
    CHECK(serve_lru_table_create(4, 100, NULL, &t, &err) == CN_ERR_ARG && t == NULL);
}

static void test_eviction_by_last_use(void) {
    cn_error err = {0};
    int frees = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(3, 1000, free_tracked, &t, &err) == CN_OK);
    CHECK(put(t, "a", 1, 1, 1, &frees, &err) == CN_OK);
    CHECK(put(t, "b", 1, 1, 2, &frees, &err) == CN_OK);
    CHECK(put(t, "c", 1, 1, 3, &frees, &err) == CN_OK);
    /* a was put first but is used last: b is now the least recently used and goes first. */
    CHECK(get_tag(t, "c") == 3 && get_tag(t, "a") == 1);
    CHECK(put(t, "d", 1, 1, 4, &frees, &err) == CN_OK);
    CHECK(serve_lru_table_count(t) == 3 && frees == 1);
    CHECK(get_tag(t, "b") == -1);
    /* Order of use now c, a, d; using c and a again leaves d the least recent. */
    CHECK(get_tag(t, "c") == 3 && get_tag(t, "a") == 1);
    CHECK(put(t, "e", 1, 1, 5, &frees, &err) == CN_OK);
    CHECK(get_tag(t, "d") == -1 && get_tag(t, "c") == 3 && get_tag(t, "a") == 1 && get_tag(t, "e") == 5);
    serve_lru_table_free(t);
    CHECK(frees == 5);
}

static void test_byte_budget(void) {
    cn_error err = {0};
    int frees = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(10, 100, free_tracked, &t, &err) == CN_OK);
    CHECK(put(t, "a", 1, 40, 1, &frees, &err) == CN_OK);
    CHECK(put(t, "b", 1, 40, 2, &frees, &err) == CN_OK);
    CHECK(get_tag(t, "a") == 1); /* b is now least recent */
    CHECK(put(t, "c", 1, 40, 3, &frees, &err) == CN_OK);
    CHECK(serve_lru_table_count(t) == 2 && serve_lru_table_bytes(t) == 80);
    CHECK(get_tag(t, "b") == -1 && get_tag(t, "a") == 1 && get_tag(t, "c") == 3);
    CHECK(put(t, "d", 1, 20, 4, &frees, &err) == CN_OK); /* exactly at the budget: nothing dropped */
    CHECK(serve_lru_table_count(t) == 3 && serve_lru_table_bytes(t) == 100 && frees == 1);
    CHECK(put(t, "e", 1, 100, 5, &frees, &err) == CN_OK); /* the whole budget: everything else goes */
    CHECK(serve_lru_table_count(t) == 1 && serve_lru_table_bytes(t) == 100 && frees == 4);
    CHECK(get_tag(t, "e") == 5);
    CHECK(put(t, "f", 1, 0, 6, &frees, &err) == CN_OK); /* a free entry fits beside it */
    CHECK(serve_lru_table_count(t) == 2 && get_tag(t, "e") == 5);
    serve_lru_table_free(t);
    CHECK(frees == 6);
}

static void test_replace_equal_key(void) {
    cn_error err = {0};
    int frees = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(2, 100, free_tracked, &t, &err) == CN_OK);
    CHECK(put(t, "a", 1, 30, 1, &frees, &err) == CN_OK);
    CHECK(put(t, "b", 1, 30, 2, &frees, &err) == CN_OK);
    CHECK(put(t, "a", 1, 50, 3, &frees, &err) == CN_OK); /* replaces a (freed), nothing evicted */
    CHECK(serve_lru_table_count(t) == 2 && serve_lru_table_bytes(t) == 80 && frees == 1);
    CHECK(put(t, "c", 1, 10, 4, &frees, &err) == CN_OK); /* the replacement made a newest: b goes */
    CHECK(get_tag(t, "b") == -1 && get_tag(t, "a") == 3 && get_tag(t, "c") == 4);
    CHECK(serve_lru_table_bytes(t) == 60 && frees == 2);
    serve_lru_table_free(t);
    CHECK(frees == 4);
}

static void test_over_budget_refused(void) {
    cn_error err = {0};
    int frees = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(4, 100, free_tracked, &t, &err) == CN_OK);
    CHECK(put(t, "a", 1, 60, 1, &frees, &err) == CN_OK);
    CHECK(put(t, "b", 1, 101, 2, &frees, &err) == CN_ERR_ARG);
    CHECKF(strcmp(err.msg, "101 bytes exceed the registry's budget of 100") == 0, "%s", err.msg);
    CHECK(frees == 1); /* the refused value was freed */
    /* A refused replacement leaves the entry it would have replaced, and nothing is evicted. */
    CHECK(put(t, "a", 1, 500, 3, &frees, &err) == CN_ERR_ARG);
    CHECK(frees == 2 && serve_lru_table_count(t) == 1 && serve_lru_table_bytes(t) == 60 && get_tag(t, "a") == 1);
    CHECK(get_tag(t, "b") == -1);
    serve_lru_table_free(t);
    CHECK(frees == 3);
}

/* Keys that differ only after a NUL, by a prefix, or not at all in hash (forced). */
static void check_byte_keys(serve_lru_table *t, int *frees) {
    static const struct {
        const char *bytes;
        size_t len;
    } keys[] = {{"", 0}, {"a", 1}, {"a\0b", 3}, {"a\0c", 3}, {"ab", 2}, {"abc", 3}, {"\0", 1}};
    const size_t n = sizeof keys / sizeof keys[0];
    cn_error err = {0};
    for (size_t i = 0; i < n; i++) CHECK(put(t, keys[i].bytes, keys[i].len, 1, (int)i, frees, &err) == CN_OK);
    CHECK(serve_lru_table_count(t) == n);
    for (size_t i = 0; i < n; i++) {
        const tracked *v = serve_lru_table_get(t, keys[i].bytes, keys[i].len, NULL, NULL);
        CHECKF(v && v->tag == (int)i, "key %zu", i);
    }
    CHECK(serve_lru_table_get(t, "a\0d", 3, NULL, NULL) == NULL && serve_lru_table_get(t, "abcd", 4, NULL, NULL) == NULL);
    /* Replacing one key touches no other. */
    CHECK(put(t, "a\0c", 3, 1, 100, frees, &err) == CN_OK);
    CHECK(serve_lru_table_count(t) == n);
    for (size_t i = 0; i < n; i++) {
        const tracked *v = serve_lru_table_get(t, keys[i].bytes, keys[i].len, NULL, NULL);
        CHECKF(v && v->tag == (i == 3 ? 100 : (int)i), "key %zu after replacing key 3", i);
    }
}

static void test_byte_string_keys(void) {
    cn_error err = {0};
    for (int forced = 0; forced < 2; forced++) {
        int frees = 0;
        serve_lru_table *t = NULL;
        CHECK(serve_lru_table_create(8, 100, free_tracked, &t, &err) == CN_OK);
        if (forced) serve_lru_table_set_hash_for_tests(t, same_hash); /* every key collides */
        check_byte_keys(t, &frees);
        serve_lru_table_free(t);
        CHECKF(frees == 8, "forced=%d frees=%d", forced, frees);
    }
}

static void test_get_filter(void) {
    cn_error err = {0};
    int frees = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(2, 100, free_tracked, &t, &err) == CN_OK);
    CHECK(put(t, "a", 1, 1, 1, &frees, &err) == CN_OK);
    CHECK(put(t, "b", 1, 1, 2, &frees, &err) == CN_OK);
    int want = 2;
    CHECK(serve_lru_table_get(t, "a", 1, reject, NULL) == NULL);
    CHECK(serve_lru_table_get(t, "a", 1, tag_is, &want) == NULL); /* a holds 1 */
    CHECK(put(t, "c", 1, 1, 3, &frees, &err) == CN_OK);      /* the refused lookups did not save a */
    CHECK(get_tag(t, "a") == -1);
    want = 2;
    const tracked *b = serve_lru_table_get(t, "b", 1, tag_is, &want);
    CHECK(b && b->tag == 2); /* accepted: b is now the most recent */
    CHECK(put(t, "d", 1, 1, 4, &frees, &err) == CN_OK);
    CHECK(get_tag(t, "c") == -1 && get_tag(t, "b") == 2);
    serve_lru_table_free(t);
    CHECK(frees == 4);
}

/* The reference: entries in order of use, least recent first. */
typedef struct {
    int key;
    size_t cost;
    int tag;
} ref_entry;

typedef struct {
    ref_entry e[16];
    size_t n, capacity, budget;
} ref_lru;

static size_t ref_bytes(const ref_lru *r) {
    size_t b = 0;
    for (size_t i = 0; i < r->n; i++) b += r->e[i].cost;
    return b;
}

static void ref_remove(ref_lru *r, size_t i) {
    memmove(&r->e[i], &r->e[i + 1], (r->n - i - 1) * sizeof r->e[0]);
    r->n--;
}

static int ref_find(const ref_lru *r, int key) {
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].key == key) return (int)i;
    return -1;
}

static bool ref_put(ref_lru *r, int key, size_t cost, int tag) {
    if (cost > r->budget) return false;
    int i = ref_find(r, key);
    if (i >= 0) ref_remove(r, (size_t)i);
    while (r->n > 0 && (r->n == r->capacity || ref_bytes(r) + cost > r->budget)) ref_remove(r, 0);
    r->e[r->n++] = (ref_entry){key, cost, tag};
    return true;
}

static int ref_get(ref_lru *r, int key) {
    int i = ref_find(r, key);
    if (i < 0) return -1;
    ref_entry e = r->e[i];
    ref_remove(r, (size_t)i);
    r->e[r->n++] = e;
    return e.tag;
}

static uint32_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

static void test_against_reference(bool forced_hash) {
    cn_error err = {0};
    int frees = 0, puts = 0;
    serve_lru_table *t = NULL;
    CHECK(serve_lru_table_create(5, 100, free_tracked, &t, &err) == CN_OK);
    if (forced_hash) serve_lru_table_set_hash_for_tests(t, same_hash);
    ref_lru ref = {.capacity = 5, .budget = 100};
    uint64_t state = forced_hash ? 7 : 1;
    int mismatches = 0;
    for (int step = 0; step < 20000 && mismatches < 5; step++) {
        int key = (int)(next_random(&state) % 12);
        char bytes[2] = {(char)('a' + key % 6), (char)(key - 6)}; /* "a".."f", then each with a second byte 0..5 */
        size_t len = key < 6 ? 1 : 2;
        if (next_random(&state) % 2) {
            size_t cost = next_random(&state) % 50 == 0 ? 101 + next_random(&state) % 10 : next_random(&state) % 45;
            bool want = ref_put(&ref, key, cost, step);
            bool got = put(t, bytes, len, cost, step, &frees, &err) == CN_OK;
            puts++;
            if (got != want) {
                mismatches++;
                fprintf(stderr, "step %d: put %d cost %zu: %d, want %d\n", step, key, cost, got, want);
            }
        } else {
            const tracked *v = serve_lru_table_get(t, bytes, len, NULL, NULL);
            int got = v ? v->tag : -1, want = ref_get(&ref, key);
            if (got != want) {
                mismatches++;
                fprintf(stderr, "step %d: get %d: %d, want %d\n", step, key, got, want);
            }
        }
        if (serve_lru_table_count(t) != ref.n || serve_lru_table_bytes(t) != ref_bytes(&ref)) {
            mismatches++;
            fprintf(stderr, "step %d: %zu entries of %zu bytes, want %zu of %zu\n", step, serve_lru_table_count(t),
                    serve_lru_table_bytes(t), ref.n, ref_bytes(&ref));
        }
    }
    CHECKF(mismatches == 0, "forced_hash=%d: %d mismatches", forced_hash, mismatches);
    CHECK(frees == puts - (int)ref.n); /* every value evicted, replaced or refused was freed once */
    serve_lru_table_free(t);
    CHECK(frees == puts);
}

int main(void) {
    test_create_refusals();
    test_eviction_by_last_use();
    test_byte_budget();
    test_replace_equal_key();
    test_over_budget_refused();
    test_byte_string_keys();
    test_get_filter();
    test_against_reference(false);
    test_against_reference(true);
    return cn_test_finish("test_serve_lru_table");
}
