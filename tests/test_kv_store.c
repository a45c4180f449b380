/* The persistent prefix store (kv/store.h) on the tiny fixture, with chunks of 128 positions:
 * - restore after a restart (a new store object) at every boundary class continues bitwise like
 *   the uninterrupted run;
 * - the longest stored prefix is found among several conversations, shared chunks stored once;
 * - damaged stores (flipped bytes, truncation, swapped chunks, stale or garbage journals, foreign
 *   files) are 100% detected: the restored length is exactly the longest entry whose files are
 *   intact, and what is restored continues bitwise;
 * - a crash after every step of the commit protocol recovers to the last commit, never beyond,
 *   and leaves no stray files; failed steps leave the store usable;
 * - the byte budget holds (measured with stat) and eviction keeps the most recently used entries.
 * The oracle throughout is the uninterrupted forward pass of the same ids. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kv/store.h"
#include "model/model.h"

#define SPAN 128
#define S 330
#define NEXT 20 /* tokens compared after a restore */

static const char *fixture = "tests/fixtures/tiny";

typedef struct {
    cn_model *m;
    int64_t V;
    int32_t ids[S];
    float *want; /* [S][V]: the uninterrupted run of ids */
} ctx;

static void forward(ctx *c, cn_kv_state *st, const int32_t *ids, int64_t n, float *logits) {
    cn_error err = {0};
    CHECKF(cn_model_forward(c->m, st, ids, n, logits, NULL, &err) == CN_OK, "%s", err.msg);
}

/* A state of ids[0..n) made by running the model. */
static void state_at(ctx *c, const int32_t *ids, int64_t n, cn_kv_state *st) {
    cn_error err = {0};
    CHECK(cn_model_state_init(c->m, st, &err) == CN_OK);
    forward(c, st, ids, n, NULL);
}

/* st holds c->ids[0..k): its next tokens must give the uninterrupted run's logits, bit for bit. */
static bool continues_exactly(ctx *c, cn_kv_state *st, int64_t k) {
    const int64_t n = S - k < NEXT ? S - k : NEXT;
    if (n <= 0) return true;
    float *got = malloc((size_t)(n * c->V) * sizeof(float));
    forward(c, st, c->ids + k, n, got);
    bool same = memcmp(got, c->want + k * c->V, (size_t)(n * c->V) * sizeof(float)) == 0;
    free(got);
    return same;
}

/* ---- directory helpers ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}
static void rm_tree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static char *make_root(void) {
    char *dir = strdup("/tmp/cn_kv_store_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    return dir;
}

static void join(char *out, size_t n, const char *a, const char *b) {
    const size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > n) {
        out[0] = 0;
        return;
    }
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
}

/* Files in dir starting with prefix: count and total bytes. */
static int count_files(const char *dir, const char *prefix, size_t *bytes) {
    DIR *d = opendir(dir);
    int n = 0;
    if (bytes) *bytes = 0;
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0) continue;
        char p[1024];
        join(p, sizeof p, dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            n++;
            if (bytes) *bytes += (size_t)sb.st_size;
        }
    }
    closedir(d);
    return n;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    void *data = cn_test_read_file(from, &n);
    CHECKF(data != NULL, "reading %s", from);
    FILE *f = fopen(to, "wb");
    CHECK(f != NULL);
    if (f && data) CHECK(fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
    free(data);
}

/* Copies the store directory `from` (flat) to `to` (created). */
static void copy_dir(const char *from, const char *to) {
    mkdir(to, 0700);
    DIR *d = opendir(from);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char a[1024], b[1024];
        join(a, sizeof a, from, de->d_name);
        join(b, sizeof b, to, de->d_name);
        copy_file(a, b);
    }
    if (d) closedir(d);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- store helpers ------------------------------------------------------------------------------ */

static cn_kv_store *open_store(ctx *c, const char *root, const char *identity, const cn_kv_store_options *o) {
    cn_error err = {0};
    cn_kv_state like;
    CHECK(cn_model_state_init(c->m, &like, &err) == CN_OK);
    cn_kv_store_options d = {.chunk_tokens = SPAN};
    cn_kv_store *s = NULL;
    CHECKF(cn_kv_store_open_opts(root, identity, &like, o ? o : &d, &s, &err) == CN_OK, "%s", err.msg);
    cn_kv_state_free(&like);
    return s;
}

static void save(ctx *c, cn_kv_store *s, const int32_t *ids, int64_t n) {
    cn_error err = {0};
    cn_kv_state st;
    state_at(c, ids, n, &st);
    CHECKF(cn_kv_store_save(s, ids, (size_t)n, &st, &err) == CN_OK, "save %lld: %s", (long long)n, err.msg);
    cn_kv_state_free(&st);
}

/* Restores the longest stored prefix of ids[0..n) and returns its length (st freed). */
static size_t restore(ctx *c, cn_kv_store *s, const int32_t *ids, int64_t n, bool check_continuation) {
    cn_error err = {0};
    cn_kv_state st;
    CHECK(cn_model_state_init(c->m, &st, &err) == CN_OK);
    size_t matched = 99999;
    CHECKF(cn_kv_store_restore_longest(s, ids, (size_t)n, &st, &matched, &err) == CN_OK, "%s", err.msg);
    CHECK(st.n_tokens == (int64_t)matched);
    if (check_continuation && matched > 0)
        CHECKF(continues_exactly(c, &st, (int64_t)matched), "restored %zu positions do not continue bitwise", matched);
    cn_kv_state_free(&st);
    return matched;
}

/* ---- tests -------------------------------------------------------------------------------------- */

static const int64_t boundary_lengths[] = {1, 4, 127, 128, 129, 200, 255, 256, 257, 300};
#define N_BOUNDARY (sizeof boundary_lengths / sizeof boundary_lengths[0])

static void test_restart_at_boundaries(ctx *c) {
    char *root = make_root();
    cn_kv_store *s = open_store(c, root, "tiny", NULL);
    for (size_t i = 0; i < N_BOUNDARY; i++) save(c, s, c->ids, boundary_lengths[i]);
    save(c, s, c->ids, 129); /* stored already: only marked used */
    cn_kv_store_stats stats;
    cn_kv_store_stats_get(s, &stats);
    CHECK(stats.saves == N_BOUNDARY);
    char path[1024];
    snprintf(path, sizeof path, "%s", cn_kv_store_path(s));
    cn_kv_store_close(s);
    /* every save is a prefix of the same ids: two chunks in all, one checkpoint per save */
    CHECK(count_files(path, "c-", NULL) == 2);
    CHECK(count_files(path, "k-", NULL) == (int)N_BOUNDARY);
    CHECK(count_files(path, "tmp-", NULL) == 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    DIR *d = opendir(path);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) { /* private files */
        char f[1200];
        join(f, sizeof f, path, de->d_name);
        if (de->d_name[0] != '.') CHECKF(stat(f, &sb) == 0 && (sb.st_mode & 0077) == 0, "%s is not private", de->d_name);
    }
    if (d) closedir(d);

    s = open_store(c, root, "tiny", NULL); /* a restart */
    for (size_t i = 0; i < N_BOUNDARY; i++) {
        const int64_t L = boundary_lengths[i];
        CHECKF(restore(c, s, c->ids, L, true) == (size_t)L, "restore at %lld", (long long)L);
        /* a prompt one longer than a stored prefix finds that prefix (or the next stored one) */
        const int64_t want = i + 1 < N_BOUNDARY && boundary_lengths[i + 1] == L + 1 ? L + 1 : L;
        CHECKF(restore(c, s, c->ids, L + 1, false) == (size_t)want, "restore of %lld + 1", (long long)L);
    }
    CHECK(restore(c, s, c->ids, S, true) == 300);
    cn_kv_store_stats_get(s, &stats);
    CHECK(stats.rejected == 0 && stats.hits == 2 * N_BOUNDARY + 1 && stats.misses == 0);
    /* another model identity: another directory, nothing found */
    cn_kv_store *other = open_store(c, root, "another model", NULL);
    CHECK(restore(c, other, c->ids, S, false) == 0);
    CHECK(strcmp(cn_kv_store_path(other), cn_kv_store_path(s)) != 0);
    /* a second store over the same directory is refused while the first is open */
    cn_error err = {0};
    cn_kv_state like;
    CHECK(cn_model_state_init(c->m, &like, &err) == CN_OK);
    cn_kv_store_options o = {.chunk_tokens = SPAN};
    cn_kv_store *twice = NULL;
    CHECK(cn_kv_store_open_opts(root, "tiny", &like, &o, &twice, &err) == CN_ERR_BUSY);
    /* a state of another encoding is refused */
    cn_kv_state bf16;
    cn_kv_options opts = {CN_KV_BF16, CN_KV_BF16};
    CHECK(cn_model_state_init_opts(c->m, &bf16, &opts, &err) == CN_OK);
    size_t matched = 0;
    CHECK(cn_kv_store_restore_longest(s, c->ids, S, &bf16, &matched, &err) == CN_ERR_ARG);
    cn_kv_state_free(&bf16);
    cn_kv_state_free(&like);
    cn_kv_store_close(other);
    cn_kv_store_close(s);
    rm_tree(root);
    free(root);
}

static void test_longest_among_conversations(ctx *c) {
    /* conv1 = c->ids; conv2 shares its first 200 ids; conv3 shares nothing. */
    int32_t conv2[S], conv3[S], query[S];
    memcpy(conv2, c->ids, sizeof conv2);
    for (int i = 200; i < S; i++) conv2[i] = (int32_t)((i * 53 + 7) % c->V);
    for (int i = 0; i < S; i++) conv3[i] = (int32_t)((i * 29 + 101) % c->V);
    char *root = make_root();
    cn_kv_store *s = open_store(c, root, "tiny", NULL);
    save(c, s, c->ids, 300);
    save(c, s, c->ids, 260);
    save(c, s, conv2, 280);
    save(c, s, c->ids, 130);
    save(c, s, conv3, 150);
    char path[1024];
    snprintf(path, sizeof path, "%s", cn_kv_store_path(s));
    /* chunk 0 of conv1 = conv2 = the 130 prefix; chunk 1 differs between conv1 and conv2; conv3's own */
    CHECK(count_files(path, "c-", NULL) == 4);
    cn_kv_store_close(s);

    s = open_store(c, root, "tiny", NULL);
    CHECK(restore(c, s, c->ids, S, true) == 300);
    CHECK(restore(c, s, c->ids, 299, true) == 260);
    CHECK(restore(c, s, conv2, S, false) == 280);
    CHECK(restore(c, s, conv2, 279, true) == 130); /* 130 is a prefix of conv2 too */
    memcpy(query, c->ids, sizeof query);
    for (int i = 210; i < S; i++) query[i] = (int32_t)((i * 17 + 3) % c->V);
    CHECK(restore(c, s, query, S, true) == 130); /* diverges from conv1 at 210, from conv2 at 200 */
    CHECK(restore(c, s, conv3, 149, false) == 0);
    CHECK(restore(c, s, conv3, S, false) == 150);
    query[0] ^= 1;
    CHECK(restore(c, s, query, S, false) == 0);
    cn_kv_store_close(s);
    rm_tree(root);
    free(root);
}

/* ---- damage ---------------------------------------------------------------------------------------- */

/* The pristine store for the damage and crash tests: entries 129 (chunk 0), 257 and 300 (chunks 0, 1). */
typedef struct {
    char *root;
    char dir[1024];    /* root/<fingerprint> */
    char k[3][80];     /* checkpoint names of 129, 257, 300 */
    char chunk[2][80]; /* chunk names of chunks 0, 1 */
    char journal2[1024]; /* a copy of the journal after the first two commits */
} pristine;

static const int64_t pristine_len[3] = {129, 257, 300};

/* Names the files of the pristine store by the order they appeared. */
static void newest_file(const char *dir, const char *prefix, char *known, size_t n_known, char out[80]) {
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, 2) != 0) continue;
        bool seen = false;
        for (size_t i = 0; i < n_known; i++) seen = seen || strcmp(known + 80 * i, de->d_name) == 0;
        if (!seen && strlen(de->d_name) < 80) memcpy(out, de->d_name, strlen(de->d_name) + 1);
    }
    if (d) closedir(d);
}

static void make_pristine(ctx *c, pristine *p) {
    p->root = make_root();
    cn_kv_store *s = open_store(c, p->root, "tiny", NULL);
    snprintf(p->dir, sizeof p->dir, "%s", cn_kv_store_path(s));
    save(c, s, c->ids, 129);
    newest_file(p->dir, "k-", NULL, 0, p->k[0]);
    newest_file(p->dir, "c-", NULL, 0, p->chunk[0]);
    save(c, s, c->ids, 257);
    newest_file(p->dir, "k-", &p->k[0][0], 1, p->k[1]);
    newest_file(p->dir, "c-", &p->chunk[0][0], 1, p->chunk[1]);
    char j[1200];
    join(j, sizeof j, p->dir, "journal");
    snprintf(p->journal2, sizeof p->journal2, "%s/journal2", p->root);
    copy_file(j, p->journal2);
    save(c, s, c->ids, 300);
    newest_file(p->dir, "k-", &p->k[0][0], 2, p->k[2]);
    cn_kv_store_close(s);
}

/* The files each pristine entry needs. */
static bool entry_uses(const pristine *p, int e, const char *name) {
    if (strcmp(name, p->k[e]) == 0 || strcmp(name, p->chunk[0]) == 0) return true;
    return e > 0 && strcmp(name, p->chunk[1]) == 0;
}

/* Longest pristine entry of at most `limit` positions that uses none of the damaged files. */
static size_t expected_after(const pristine *p, const char *const *damaged, int n_damaged, int64_t limit) {
    for (int e = 2; e >= 0; e--) {
        bool hit = pristine_len[e] > limit;
        for (int i = 0; i < n_damaged; i++) hit = hit || entry_uses(p, e, damaged[i]);
        if (!hit) return (size_t)pristine_len[e];
    }
    return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64: the damage is reproducible */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A fresh copy of the pristine store under a new root; returns the root and its store dir. */
static char *trial_copy(const pristine *p, char dir[1024]) {
    char *root = make_root();
    join(dir, 1024, root, base_name(p->dir));
    copy_dir(p->dir, dir);
    return root;
}

/* Opens the damaged copy and restores the longest prefix of ids[0..q) for q = S, 299 and 256 (so
 * every entry is read): each must be the longest intact entry; then a second restart finds the
 * same and nothing more to reject (the damage was removed). */
static void check_damaged(ctx *c, const pristine *p, const char *root, const char *const *damaged, int n_damaged,
                          const char *what) {
    static const int64_t queries[3] = {S, 299, 256};
    for (int pass = 0; pass < 2; pass++) {
        cn_kv_store *s = open_store(c, root, "tiny", NULL);
        if (!s) return;
        for (int q = 0; q < 3; q++) {
            const size_t want = expected_after(p, damaged, n_damaged, queries[q]);
            const size_t got = restore(c, s, c->ids, queries[q], true);
            CHECKF(got == want, "%s (pass %d): restored %zu of %lld, expected %zu", what, pass, got, (long long)queries[q], want);
        }
        cn_kv_store_stats stats;
        cn_kv_store_stats_get(s, &stats);
        if (pass == 0) CHECKF(stats.rejected >= 1, "%s: damage not counted", what);
        else CHECKF(stats.rejected == 0, "%s: damage left behind", what);
        cn_kv_store_close(s);
    }
}

static void test_damage(ctx *c, const pristine *p) {
    const char *files[5] = {p->k[0], p->k[1], p->k[2], p->chunk[0], p->chunk[1]};
    char dir[1024], path[1200], what[256];
    for (int trial = 0; trial < 40; trial++) { /* flipped bytes anywhere in a file */
        const char *f = files[trial % 5];
        char *root = trial_copy(p, dir);
        join(path, sizeof path, dir, f);
        size_t n = 0;
        uint8_t *data = cn_test_read_file(path, &n);
        const size_t at = (size_t)(rnd() % n);
        data[at] ^= (uint8_t)(1u << (rnd() % 8));
        FILE *out = fopen(path, "wb");
        fwrite(data, 1, n, out);
        fclose(out);
        free(data);
        snprintf(what, sizeof what, "bit flip in %.2s at %zu of %zu", f, at, n);
        check_damaged(c, p, root, &f, 1, what);
        rm_tree(root);
        free(root);
    }
    for (int trial = 0; trial < 20; trial++) { /* truncation at random lengths */
        const char *f = files[trial % 5];
        char *root = trial_copy(p, dir);
        join(path, sizeof path, dir, f);
        struct stat sb;
        stat(path, &sb);
        const off_t len = (off_t)(rnd() % (uint64_t)sb.st_size);
        CHECK(truncate(path, len) == 0);
        snprintf(what, sizeof what, "%.2s truncated to %lld", f, (long long)len);
        check_damaged(c, p, root, &f, 1, what);
        rm_tree(root);
        free(root);
    }
    { /* the two chunks swapped (same size) */
        char *root = trial_copy(p, dir);
        char a[1200], b[1200], t[1200];
        join(a, sizeof a, dir, p->chunk[0]);
        join(b, sizeof b, dir, p->chunk[1]);
        join(t, sizeof t, dir, "swap");
        CHECK(rename(a, t) == 0 && rename(b, a) == 0 && rename(t, b) == 0);
        const char *both[2] = {p->chunk[0], p->chunk[1]};
        check_damaged(c, p, root, both, 2, "swapped chunks");
        rm_tree(root);
        free(root);
    }
    { /* one chunk duplicated over the other */
        char *root = trial_copy(p, dir);
        char a[1200], b[1200];
        join(a, sizeof a, dir, p->chunk[0]);
        join(b, sizeof b, dir, p->chunk[1]);
        copy_file(a, b);
        const char *damaged = p->chunk[1];
        check_damaged(c, p, root, &damaged, 1, "duplicated chunk");
        rm_tree(root);
        free(root);
    }
    { /* checkpoints swapped: 257's state under 300's name and back */
        char *root = trial_copy(p, dir);
        char a[1200], b[1200], t[1200];
        join(a, sizeof a, dir, p->k[1]);
        join(b, sizeof b, dir, p->k[2]);
        join(t, sizeof t, dir, "swap");
        CHECK(rename(a, t) == 0 && rename(b, a) == 0 && rename(t, b) == 0);
        const char *both[2] = {p->k[1], p->k[2]};
        check_damaged(c, p, root, both, 2, "swapped checkpoints");
        rm_tree(root);
        free(root);
    }
    { /* a stale journal (from before the last commit): recovery to what it says, 300's files removed */
        char *root = trial_copy(p, dir);
        join(path, sizeof path, dir, "journal");
        copy_file(p->journal2, path);
        cn_kv_store *s = open_store(c, root, "tiny", NULL);
        CHECK(restore(c, s, c->ids, S, true) == 257);
        cn_kv_store_close(s);
        join(path, sizeof path, dir, p->k[2]);
        CHECK(access(path, F_OK) != 0);
        rm_tree(root);
        free(root);
    }
    for (int trial = 0; trial < 12; trial++) { /* journal: flipped bytes, truncation, garbage tail */
        char *root = trial_copy(p, dir);
        join(path, sizeof path, dir, "journal");
        size_t n = 0;
        uint8_t *data = cn_test_read_file(path, &n);
        FILE *out = fopen(path, "wb");
        if (trial % 3 == 0) {
            data[rnd() % n] ^= 0x10;
            fwrite(data, 1, n, out);
        } else if (trial % 3 == 1) {
            fwrite(data, 1, (size_t)(rnd() % n), out);
        } else {
            fwrite(data, 1, n, out);
            for (int i = 0; i < 50; i++) fputc((int)(rnd() & 0xff), out);
        }
        fclose(out);
        free(data);
        cn_kv_store *s = open_store(c, root, "tiny", NULL);
        size_t got = restore(c, s, c->ids, S, true); /* continuation checked inside */
        cn_kv_store_stats stats;
        cn_kv_store_stats_get(s, &stats);
        /* a cut exactly at a record boundary is an older journal, not damage */
        if (trial % 3 != 1) CHECKF(stats.rejected >= 1, "journal damage %d not detected", trial);
        CHECKF(got == 0 || got == 129 || got == 257 || (trial % 3 == 2 && got == 300), "journal damage %d: %zu", trial, got);
        cn_kv_store_close(s);
        rm_tree(root);
        free(root);
    }
    { /* foreign files: another model's checkpoint and journal under our names */
        char *root = trial_copy(p, dir);
        cn_kv_store *o = open_store(c, root, "another model", NULL);
        char odir[1024];
        snprintf(odir, sizeof odir, "%s", cn_kv_store_path(o));
        save(c, o, c->ids, 300);
        cn_kv_store_close(o);
        char a[1200], b[1200];
        char okname[80];
        newest_file(odir, "k-", NULL, 0, okname);
        join(a, sizeof a, odir, okname);
        join(b, sizeof b, dir, p->k[2]);
        copy_file(a, b); /* same size: found at restore by its fingerprint */
        const char *damaged = p->k[2];
        check_damaged(c, p, root, &damaged, 1, "foreign checkpoint");
        join(a, sizeof a, odir, "journal");
        join(b, sizeof b, dir, "journal");
        copy_file(a, b);
        const char *all[5] = {p->k[0], p->k[1], p->k[2], p->chunk[0], p->chunk[1]};
        check_damaged(c, p, root, all, 5, "foreign journal");
        CHECK(count_files(dir, "c-", NULL) == 0 && count_files(dir, "k-", NULL) == 0);
        rm_tree(root);
        free(root);
    }
}

/* ---- crash points and failed steps ------------------------------------------------------------------- */

typedef struct {
    int target, count;
    cn_kv_store_fault action;
    cn_kv_store_step at;
} fault_plan;

static cn_kv_store_fault fault_hook(void *ctx_, cn_kv_store_step step, const char *file) {
    (void)file;
    fault_plan *f = ctx_;
    if (++f->count != f->target) return CN_KV_FAULT_NONE;
    f->at = step;
    return f->action;
}

/* Saving 300 on a store that holds 129 and 257 (chunks 0 and 1 stored): checkpoint write (4 steps)
 * then the journal (2). Plus saving a new conversation (a new chunk, 4 more steps). */
static void test_crash_points(ctx *c, const pristine *p) {
    char dir[1024], what[128];
    int32_t conv2[S];
    memcpy(conv2, c->ids, sizeof conv2);
    for (int i = 5; i < S; i++) conv2[i] = (int32_t)((i * 61 + 5) % c->V);
    for (int conv = 0; conv < 2; conv++) {
        const int32_t *ids = conv ? conv2 : c->ids;
        const int64_t len = conv ? 140 : 300;
        for (int target = 1;; target++) {
            char *root = trial_copy(p, dir);
            /* drop the pristine 300 entry first for conv 0 by using the stale journal */
            char jpath[1200];
            join(jpath, sizeof jpath, dir, "journal");
            copy_file(p->journal2, jpath);
            { /* recover once without faults so the counts start at the save */
                cn_kv_store *s0 = open_store(c, root, "tiny", NULL);
                cn_kv_store_close(s0);
            }
            fault_plan plan = {target, 0, CN_KV_FAULT_CRASH, 0};
            cn_kv_store_options o = {.chunk_tokens = SPAN, .fault = fault_hook, .fault_ctx = &plan};
            cn_kv_store *s = open_store(c, root, "tiny", &o);
            cn_kv_state st;
            state_at(c, ids, len, &st);
            cn_error err = {0};
            const cn_status rc = cn_kv_store_save(s, ids, (size_t)len, &st, &err);
            cn_kv_state_free(&st);
            cn_kv_store_close(s);
            const bool finished = plan.count < target;
            if (finished) CHECKF(rc == CN_OK, "%s", err.msg);
            else CHECK(rc == CN_ERR_IO);
            /* reopen: the last commit, never beyond */
            s = open_store(c, root, "tiny", NULL);
            const bool committed = finished || plan.at == CN_KV_STEP_JOURNAL_FSYNC ||
                                   (plan.at == CN_KV_STEP_JOURNAL_WRITE); /* written, in the page cache */
            size_t want = committed ? (size_t)len : conv ? 0 : 257;
            snprintf(what, sizeof what, "conv %d crash after step %d (kind %d)", conv, target, (int)plan.at);
            const size_t got = restore(c, s, ids, S, conv == 0);
            CHECKF(got == want, "%s: restored %zu, expected %zu", what, got, want);
            cn_kv_store_stats stats;
            cn_kv_store_stats_get(s, &stats);
            CHECKF(stats.rejected == 0, "%s: %llu rejected", what, (unsigned long long)stats.rejected);
            cn_kv_store_close(s);
            /* no stray files: temp files gone, only the committed entries' files */
            CHECKF(count_files(dir, "tmp-", NULL) == 0, "%s: temp files left", what);
            const int want_k = 2 + (committed ? 1 : 0), want_c = 2 + (committed && conv ? 1 : 0);
            CHECKF(count_files(dir, "k-", NULL) == want_k && count_files(dir, "c-", NULL) == want_c,
                   "%s: %d checkpoints, %d chunks", what, count_files(dir, "k-", NULL), count_files(dir, "c-", NULL));
            rm_tree(root);
            free(root);
            if (finished) {
                CHECKF(target == (conv ? 11 : 7), "conv %d: %d steps in a save", conv, target - 1);
                break;
            }
        }
    }
    /* failed steps (EIO, failed fsync): the save fails, nothing is committed, the store goes on */
    for (int target = 1; target <= 10; target++) {
        char *root = trial_copy(p, dir);
        fault_plan plan = {target, 0, CN_KV_FAULT_FAIL, 0};
        cn_kv_store_options o = {.chunk_tokens = SPAN, .fault = fault_hook, .fault_ctx = &plan};
        cn_kv_store *s = open_store(c, root, "tiny", &o);
        cn_kv_state st;
        state_at(c, conv2, 140, &st);
        cn_error err = {0};
        CHECKF(cn_kv_store_save(s, conv2, 140, &st, &err) == CN_ERR_IO, "failed step %d not reported", target);
        CHECK(restore(c, s, conv2, S, false) == 0); /* not committed */
        CHECKF(cn_kv_store_save(s, conv2, 140, &st, &err) == CN_OK, "after failed step %d: %s", target, err.msg);
        CHECK(restore(c, s, conv2, S, false) == 140);
        cn_kv_state_free(&st);
        cn_kv_store_close(s);
        s = open_store(c, root, "tiny", NULL);
        CHECKF(restore(c, s, conv2, S, false) == 140, "failed step %d: lost after reopen", target);
        CHECKF(restore(c, s, c->ids, S, true) == 300, "failed step %d: other entries lost", target);
        cn_kv_store_close(s);
        CHECK(count_files(dir, "tmp-", NULL) == 0);
        rm_tree(root);
        free(root);
    }
}

/* ---- eviction ------------------------------------------------------------------------------------------ */

static void test_eviction(ctx *c) {
    enum { N = 7 };
    static int32_t conv[N][S];
    for (int k = 0; k < N; k++)
        for (int i = 0; i < S; i++) conv[k][i] = (int32_t)((i * 31 + k * 71 + 1) % c->V);
    /* the bytes of one conversation's entry (one chunk and a checkpoint), measured on disk */
    char *root = make_root();
    cn_kv_store *s = open_store(c, root, "tiny", NULL);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", cn_kv_store_path(s));
    size_t one = 0, journal = 0;
    save(c, s, conv[0], 200);
    cn_kv_store_close(s);
    count_files(dir, "", &one);
    count_files(dir, "journal", &journal);
    one -= journal;
    rm_tree(root);
    free(root);

    root = make_root();
    cn_kv_store_options o = {.chunk_tokens = SPAN, .budget_bytes = 3 * one + one / 2};
    s = open_store(c, root, "tiny", &o);
    snprintf(dir, sizeof dir, "%s", cn_kv_store_path(s));
    for (int k = 0; k < N; k++) {
        save(c, s, conv[k], 200);
        if (k >= 1) CHECK(restore(c, s, conv[0], S, false) == 200); /* conv 0 is used after every save */
        size_t bytes = 0;
        count_files(dir, "", &bytes);
        size_t lock = 0;
        count_files(dir, "lock", &lock);
        CHECKF(bytes - lock <= o.budget_bytes, "after %d saves: %zu bytes on disk, budget %zu", k + 1, bytes, o.budget_bytes);
    }
    cn_kv_store_stats stats;
    cn_kv_store_stats_get(s, &stats);
    CHECK(stats.evicted == N - 3);
    cn_kv_store_close(s);
    /* after a restart: the three most recently used are conv 0 (used last), 5 and 6 */
    s = open_store(c, root, "tiny", &o);
    const size_t want[N] = {200, 0, 0, 0, 0, 200, 200};
    for (int k = 0; k < N; k++) CHECKF(restore(c, s, conv[k], S, false) == want[k], "conversation %d", k);
    cn_kv_store_close(s);
    CHECKF(count_files(dir, "k-", NULL) == 3 && count_files(dir, "c-", NULL) == 3, "%d checkpoints, %d chunks",
           count_files(dir, "k-", NULL), count_files(dir, "c-", NULL));
    /* a smaller budget at the next open evicts down to it, least recently used first: the restores
     * above used conv 0, 5, 6 in that order, so conv 6 stays */
    o.budget_bytes = one + one / 2;
    s = open_store(c, root, "tiny", &o);
    for (int k = N - 1; k >= 0; k--) CHECKF(restore(c, s, conv[k], S, false) == (k == 6 ? 200u : 0u), "smaller budget, conversation %d", k);
    cn_kv_store_close(s);
    size_t bytes = 0;
    count_files(dir, "", &bytes);
    CHECK(bytes <= o.budget_bytes && count_files(dir, "k-", NULL) == 1);
    /* an entry larger than the whole budget is refused before anything is written */
    o.budget_bytes = one / 2;
    s = open_store(c, root, "tiny", &o);
    cn_kv_state big;
    state_at(c, conv[1], 200, &big);
    cn_error err = {0};
    CHECK(cn_kv_store_save(s, conv[1], 200, &big, &err) == CN_ERR_ARG && strstr(err.msg, "budget") != NULL);
    cn_kv_state_free(&big);
    cn_kv_store_close(s);
    CHECK(count_files(dir, "k-", NULL) == 0 && count_files(dir, "tmp-", NULL) == 0); /* conv 6 went at open */
    rm_tree(root);
    free(root);
}

int main(void) {
    cn_error err = {0};
    ctx c = {0};
    if (cn_model_open(fixture, 2, &c.m, &err)) {
        CHECKF(0, "%s", err.msg);
        return cn_test_finish("test_kv_store");
    }
    c.V = c.m->cfg->vocab_size;
    for (int i = 0; i < S; i++) c.ids[i] = (int32_t)((i * 37 + 11) % c.V);
    c.want = malloc((size_t)(S * c.V) * sizeof(float));
    cn_kv_state st;
    CHECK(cn_model_state_init(c.m, &st, &err) == CN_OK);
    forward(&c, &st, c.ids, S, c.want);
    cn_kv_state_free(&st);

    test_restart_at_boundaries(&c);
    test_longest_among_conversations(&c);
    pristine p;
    make_pristine(&c, &p);
    test_damage(&c, &p);
    test_crash_points(&c, &p);
    test_eviction(&c);
    rm_tree(p.root);
    free(p.root);

    free(c.want);
    cn_model_close(c.m);
    return cn_test_finish("test_kv_store");
}
