/* The persistent prefix store: directory, journal, index of live entries, save, longest-prefix
 * restore and LRU eviction (specs/kv-store.md 6.4 and 7.2; the byte formats are in store_format.c,
 * the design and what is left for later in docs/kv-store.md).
 *
 * Files under <dir>/<fingerprint hex>/ (0700, files 0600):
 *   c-<key hex>     immutable chunk: compressed rows and indexer keys of one span of positions
 *   k-<prefix hex>  checkpoint: the mutable state at a saved position and its chunk chain
 *   journal         append-only records (COMMIT, TOUCH, DROP); the last valid COMMIT of an entry
 *                   is its commit point
 *   lock            flock'd while a store has the directory open
 *   tmp-*           files being written; removed by recovery
 * The journal is the truth: an entry exists if the journal's valid prefix commits it and does not
 * drop it; any other checkpoint or chunk file is garbage from an interrupted save and is removed
 * when the store opens. */
#include "kv/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/store_format.h"

#define DEFAULT_BUDGET ((size_t)8 << 30)
#define DEFAULT_CHUNK 2048
#define NAME_MAX_BYTES 80

typedef struct {
    cn_kv_hash key;
    uint64_t bytes;
    int refs; /* live entries whose chain holds this chunk; 0: slot free, file removed */
} chunk_ref;

typedef struct {
    cn_kv_hash hash; /* prefix hash: identifies the entry and names its checkpoint file */
    int64_t n_tokens, n_chunks;
    uint64_t clock, checkpoint_bytes;
    int *chunks;     /* indices into store->chunks, in chain order */
} entry;

struct cn_kv_store {
    char *path;
    int dir_fd, lock_fd, journal_fd;
    size_t journal_bytes, journal_records;
    bool journal_broken; /* a journal write or fsync failed: rewrite it from memory before use */
    bool crashed;        /* a test's fault hook stopped the store */
    cn_kv_hash fp;
    char *identity;
    int64_t span;
    size_t budget;
    entry *entries;
    size_t n_entries, cap_entries;
    chunk_ref *chunks;
    size_t n_chunks, cap_chunks;
    uint64_t clock;
    cn_kv_store_stats stats;
    cn_kv_store_fault (*fault)(void *ctx, cn_kv_store_step step, const char *file);
    void *fault_ctx;
};

/* ---- names and I/O steps ----------------------------------------------------------------------- */

static void hex(const cn_kv_hash *h, char out[2 * CN_KV_HASH_BYTES + 1]) {
    sodium_bin2hex(out, 2 * CN_KV_HASH_BYTES + 1, h->b, CN_KV_HASH_BYTES);
}

static void file_name(char kind, const cn_kv_hash *h, char out[NAME_MAX_BYTES]) {
    char x[2 * CN_KV_HASH_BYTES + 1];
    hex(h, x);
    snprintf(out, NAME_MAX_BYTES, "%c-%s", kind, x);
}

/* One step of the protocol: `ok` is whether the real operation succeeded (errno set if not);
 * then the test hook may stop or fail it. */
static cn_status io_step(cn_kv_store *s, cn_kv_store_step step, const char *name, bool ok, const char *what,
                         cn_error *err) {
    if (!ok) return cn_fail(err, CN_ERR_IO, "kv store %s: %s %s: %s", s->path, what, name, strerror(errno));
    if (!s->fault) return CN_OK;
    switch (s->fault(s->fault_ctx, step, name)) {
    case CN_KV_FAULT_NONE: return CN_OK;
    case CN_KV_FAULT_CRASH:
        s->crashed = true;
        return cn_fail(err, CN_ERR_IO, "kv store %s: simulated crash after %s %s", s->path, what, name);
    case CN_KV_FAULT_FAIL: return cn_fail(err, CN_ERR_IO, "kv store %s: simulated failure of %s %s", s->path, what, name);
    }
    return CN_OK;
}

static bool write_all(int fd, const uint8_t *p, size_t n, off_t at) {
    while (n) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
        at += w;
    }
    return true;
}

/* temp -> fsync(file) -> rename -> fsync(dir) (spec 6.4). On failure the temp file is removed
 * (not after a simulated crash: a crashed process removes nothing; recovery does). */
static cn_status write_file_atomic(cn_kv_store *s, const char *name, const uint8_t *data, size_t size, cn_error *err) {
    char tmp[NAME_MAX_BYTES + 8];
    snprintf(tmp, sizeof tmp, "tmp-%s", name);
    int fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "kv store %s: creating %s: %s", s->path, tmp, strerror(errno));
    cn_status st = io_step(s, CN_KV_STEP_WRITE, tmp, write_all(fd, data, size, 0), "writing", err);
    if (!st) st = io_step(s, CN_KV_STEP_FSYNC_FILE, tmp, fsync(fd) == 0, "fsync of", err);
    close(fd);
    if (!st) st = io_step(s, CN_KV_STEP_RENAME, name, renameat(s->dir_fd, tmp, s->dir_fd, name) == 0, "renaming to", err);
    else {
        if (!s->crashed) unlinkat(s->dir_fd, tmp, 0);
        return st;
    }
    if (!st) st = io_step(s, CN_KV_STEP_FSYNC_DIR, ".", fsync(s->dir_fd) == 0, "fsync of directory", err);
    return st;
}

static void remove_file(cn_kv_store *s, const char *name) {
    cn_error ignored;
    io_step(s, CN_KV_STEP_UNLINK, name, unlinkat(s->dir_fd, name, 0) == 0 || errno == ENOENT, "removing", &ignored);
}

/* Reads a whole file of the store into *buf (grown as needed, *cap its size; the caller frees it),
 * so a restore reads chunk after chunk into one buffer instead of faulting in a fresh allocation
 * per file. CN_ERR_IO if it cannot be read. */
static cn_status read_file_into(cn_kv_store *s, const char *name, uint8_t **buf, size_t *cap, size_t *size,
                                cn_error *err) {
    *size = 0;
    int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno; /* the caller tells a missing file from another failure */
        cn_fail(err, CN_ERR_IO, "kv store %s: opening %s: %s", s->path, name, strerror(e));
        errno = e;
        return CN_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cn_fail(err, CN_ERR_IO, "kv store %s: %s is not a regular file", s->path, name);
    }
    if (!*buf || *cap < (size_t)sb.st_size) {
        uint8_t *grown = realloc(*buf, sb.st_size ? (size_t)sb.st_size : 1);
        if (!grown) {
            close(fd);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory reading %s (%lld bytes)", name, (long long)sb.st_size);
        }
        *buf = grown;
        *cap = sb.st_size ? (size_t)sb.st_size : 1;
    }
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = pread(fd, *buf + got, (size_t)sb.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *size = got; /* a file that shrank while read is short: its checksums fail */
    return CN_OK;
}

/* Reads a whole file of the store into a new allocation. */
static cn_status read_file(cn_kv_store *s, const char *name, uint8_t **out, size_t *size, cn_error *err) {
    size_t cap = 0;
    *out = NULL;
    return read_file_into(s, name, out, &cap, size, err);
}

/* ---- the index ------------------------------------------------------------------------------- */

static entry *find_entry(cn_kv_store *s, const cn_kv_hash *h) {
    for (size_t i = 0; i < s->n_entries; i++)
        if (memcmp(s->entries[i].hash.b, h->b, CN_KV_HASH_BYTES) == 0) return &s->entries[i];
    return NULL;
}

static int find_chunk(const cn_kv_store *s, const cn_kv_hash *key) {
    for (size_t i = 0; i < s->n_chunks; i++)
        if (s->chunks[i].refs > 0 && memcmp(s->chunks[i].key.b, key->b, CN_KV_HASH_BYTES) == 0) return (int)i;
    return -1;
}

/* A chunk slot for key (existing, or a free or new slot with refs 0). -1: out of memory. */
static int chunk_slot(cn_kv_store *s, const cn_kv_hash *key, uint64_t bytes) {
    int i = find_chunk(s, key);
    if (i >= 0) return i;
    for (size_t j = 0; j < s->n_chunks; j++)
        if (s->chunks[j].refs == 0) {
            i = (int)j;
            break;
        }
    if (i < 0) {
        if (s->n_chunks == s->cap_chunks) {
            size_t cap = s->cap_chunks ? 2 * s->cap_chunks : 64;
            chunk_ref *grown = realloc(s->chunks, cap * sizeof *grown);
            if (!grown) return -1;
            s->chunks = grown;
            s->cap_chunks = cap;
        }
        i = (int)s->n_chunks++;
    }
    s->chunks[i].key = *key;
    s->chunks[i].bytes = bytes;
    s->chunks[i].refs = 0;
    return i;
}

/* Adds a live entry; chunk refs are taken here. */
static bool add_entry(cn_kv_store *s, const cn_kv_hash *h, int64_t n_tokens, uint64_t clock, uint64_t ckpt_bytes,
                      int64_t n_chunks, const cn_kv_hash *keys, const uint64_t *chunk_bytes) {
    if (s->n_entries == s->cap_entries) {
        size_t cap = s->cap_entries ? 2 * s->cap_entries : 32;
        entry *grown = realloc(s->entries, cap * sizeof *grown);
        if (!grown) return false;
        s->entries = grown;
        s->cap_entries = cap;
    }
    int *ix = malloc((size_t)(n_chunks ? n_chunks : 1) * sizeof *ix);
    if (!ix) return false;
    for (int64_t c = 0; c < n_chunks; c++) {
        ix[c] = chunk_slot(s, &keys[c], chunk_bytes[c]);
        if (ix[c] < 0) {
            for (int64_t k = 0; k < c; k++) s->chunks[ix[k]].refs--;
            free(ix);
            return false;
        }
        s->chunks[ix[c]].refs++;
    }
    entry *e = &s->entries[s->n_entries++];
    e->hash = *h;
    e->n_tokens = n_tokens;
    e->n_chunks = n_chunks;
    e->clock = clock;
    e->checkpoint_bytes = ckpt_bytes;
    e->chunks = ix;
    if (clock >= s->clock) s->clock = clock + 1;
    return true;
}

/* Removes an entry from memory; with `files`, also its checkpoint and the chunks no live entry
 * needs any more. */
static void forget_entry(cn_kv_store *s, entry *e, bool files) {
    char name[NAME_MAX_BYTES];
    if (files) {
        file_name('k', &e->hash, name);
        remove_file(s, name);
    }
    for (int64_t c = 0; c < e->n_chunks; c++) {
        chunk_ref *ch = &s->chunks[e->chunks[c]];
        if (--ch->refs == 0 && files) {
            file_name('c', &ch->key, name);
            remove_file(s, name);
        }
    }
    free(e->chunks);
    *e = s->entries[--s->n_entries];
}

static size_t total_bytes(const cn_kv_store *s) {
    size_t n = s->journal_bytes;
    for (size_t i = 0; i < s->n_entries; i++) n += s->entries[i].checkpoint_bytes;
    for (size_t i = 0; i < s->n_chunks; i++)
        if (s->chunks[i].refs > 0) n += s->chunks[i].bytes;
    return n;
}

/* ---- the journal ------------------------------------------------------------------------------ */

/* COMMIT record of an entry (its chunk refs as key + bytes). */
static cn_status commit_record(cn_kv_store *s, const cn_kv_hash *h, int64_t n_tokens, uint64_t clock,
                               uint64_t ckpt_bytes, int64_t n_chunks, const cn_kv_hash *keys,
                               const uint64_t *chunk_bytes, uint8_t **out, size_t *size, cn_error *err) {
    uint8_t *refs = malloc((size_t)(n_chunks ? n_chunks : 1) * (CN_KV_HASH_BYTES + 8));
    if (!refs) return cn_fail(err, CN_ERR_NOMEM, "out of memory for a journal record");
    for (int64_t c = 0; c < n_chunks; c++) {
        memcpy(refs + c * (CN_KV_HASH_BYTES + 8), keys[c].b, CN_KV_HASH_BYTES);
        memcpy(refs + c * (CN_KV_HASH_BYTES + 8) + CN_KV_HASH_BYTES, &chunk_bytes[c], 8);
    }
    cn_kv_record rec = {.type = CN_KV_REC_COMMIT, .prefix_hash = *h, .n_tokens = n_tokens, .clock = clock,
                        .checkpoint_bytes = ckpt_bytes, .n_chunks = n_chunks, .chunks = refs};
    cn_status st = cn_kv_record_encode(&s->fp, &rec, out, size, err);
    free(refs);
    return st;
}

/* Rewrites the journal from the live entries (compaction, and the way back after a failed journal
 * write or fsync): a new file, temp -> fsync -> rename -> fsync(dir). */
static cn_status rewrite_journal(cn_kv_store *s, cn_error *err) {
    size_t size = CN_KV_JOURNAL_HEADER_BYTES, cap = 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) return cn_fail(err, CN_ERR_NOMEM, "out of memory rewriting the kv journal");
    cn_kv_journal_header(&s->fp, buf);
    cn_status st = CN_OK;
    for (size_t i = 0; i < s->n_entries && !st; i++) {
        const entry *e = &s->entries[i];
        cn_kv_hash *keys = malloc((size_t)(e->n_chunks + 1) * sizeof *keys);
        uint64_t *bytes = malloc((size_t)(e->n_chunks + 1) * sizeof *bytes);
        uint8_t *rec = NULL;
        size_t rec_size = 0;
        if (!keys || !bytes) st = cn_fail(err, CN_ERR_NOMEM, "out of memory rewriting the kv journal");
        for (int64_t c = 0; !st && c < e->n_chunks; c++) {
            keys[c] = s->chunks[e->chunks[c]].key;
            bytes[c] = s->chunks[e->chunks[c]].bytes;
        }
        if (!st) st = commit_record(s, &e->hash, e->n_tokens, e->clock, e->checkpoint_bytes, e->n_chunks, keys, bytes, &rec, &rec_size, err);
        if (!st && size + rec_size > cap) {
            while (size + rec_size > cap) cap *= 2;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) st = cn_fail(err, CN_ERR_NOMEM, "out of memory rewriting the kv journal");
            else buf = grown;
        }
        if (!st) {
            memcpy(buf + size, rec, rec_size);
            size += rec_size;
        }
        free(rec);
        free(keys);
        free(bytes);
    }
    if (!st) st = write_file_atomic(s, "journal", buf, size, err);
    free(buf);
    if (st) return st;
    if (s->journal_fd >= 0) close(s->journal_fd);
    s->journal_fd = openat(s->dir_fd, "journal", O_RDWR | O_CLOEXEC);
    if (s->journal_fd < 0) {
        s->journal_broken = true;
        return cn_fail(err, CN_ERR_IO, "kv store %s: reopening the journal: %s", s->path, strerror(errno));
    }
    s->journal_bytes = size;
    s->journal_records = s->n_entries;
    s->journal_broken = false;
    return CN_OK;
}

/* Appends a record; `durable` fsyncs it (COMMIT and DROP), TOUCH records are not (an LRU order lost
 * in a crash costs nothing). A failure marks the journal for rewriting: after a failed fsync the
 * kernel may have dropped the pages (spec 6.4), so nothing written since is trusted. */
static cn_status journal_append(cn_kv_store *s, const uint8_t *rec, size_t size, bool durable, cn_error *err) {
    if (s->journal_broken) {
        cn_status st = rewrite_journal(s, err);
        if (st) return st;
    }
    cn_status st = io_step(s, CN_KV_STEP_JOURNAL_WRITE, "journal", write_all(s->journal_fd, rec, size, (off_t)s->journal_bytes),
                           "appending to", err);
    if (!st && durable) st = io_step(s, CN_KV_STEP_JOURNAL_FSYNC, "journal", fdatasync(s->journal_fd) == 0, "fsync of", err);
    if (st) {
        if (!s->crashed) s->journal_broken = true;
        return st;
    }
    s->journal_bytes += size;
    s->journal_records++;
    return CN_OK;
}

static cn_status journal_simple(cn_kv_store *s, cn_kv_record_type type, const entry *e, bool durable, cn_error *err) {
    cn_kv_record rec = {.type = type, .prefix_hash = e->hash, .n_tokens = e->n_tokens, .clock = e->clock};
    uint8_t *buf = NULL;
    size_t size = 0;
    cn_status st = cn_kv_record_encode(&s->fp, &rec, &buf, &size, err);
    if (!st) st = journal_append(s, buf, size, durable, err);
    free(buf);
    return st;
}

/* Drops an entry: DROP record (durable), then its files. If the record cannot be written the
 * files go anyway: recovery drops a committed entry whose files are missing. */
static void drop_entry(cn_kv_store *s, entry *e) {
    cn_error ignored;
    if (s->crashed) return;
    journal_simple(s, CN_KV_REC_DROP, e, true, &ignored);
    if (s->crashed) return;
    forget_entry(s, e, true);
    cn_error ignored2;
    io_step(s, CN_KV_STEP_FSYNC_DIR, ".", fsync(s->dir_fd) == 0, "fsync of directory", &ignored2);
}

static void reject_entry(cn_kv_store *s, entry *e) {
    s->stats.rejected++;
    drop_entry(s, e);
}

/* A damaged chunk: every entry whose chain holds it goes, and so does the file. */
static void reject_chunk(cn_kv_store *s, const cn_kv_hash *key) {
    s->stats.rejected++;
    char name[NAME_MAX_BYTES];
    file_name('c', key, name);
    remove_file(s, name);
    for (size_t i = 0; i < s->n_entries && !s->crashed;) {
        entry *e = &s->entries[i];
        bool uses = false;
        for (int64_t c = 0; c < e->n_chunks && !uses; c++)
            uses = memcmp(s->chunks[e->chunks[c]].key.b, key->b, CN_KV_HASH_BYTES) == 0;
        if (uses) drop_entry(s, e); /* moves the last entry into slot i */
        else i++;
    }
}

static void evict(cn_kv_store *s) {
    while (!s->crashed && s->n_entries > 0 && total_bytes(s) > s->budget) {
        size_t lru = 0;
        for (size_t i = 1; i < s->n_entries; i++)
            if (s->entries[i].clock < s->entries[lru].clock) lru = i;
        drop_entry(s, &s->entries[lru]);
        s->stats.evicted++;
    }
    cn_error ignored;
    if (!s->crashed && s->journal_records > 2 * s->n_entries + 64) rewrite_journal(s, &ignored);
    s->stats.bytes = total_bytes(s);
}

/* ---- open and recovery -------------------------------------------------------------------------- */

typedef struct {
    cn_kv_store *s;
    bool failed;
} replay_ctx;

static bool replay(void *ctx, const cn_kv_record *rec) {
    replay_ctx *r = ctx;
    cn_kv_store *s = r->s;
    entry *e = find_entry(s, &rec->prefix_hash);
    if (rec->type == CN_KV_REC_COMMIT) {
        if (e) forget_entry(s, e, false);
        cn_kv_hash *keys = malloc((size_t)(rec->n_chunks + 1) * sizeof *keys);
        uint64_t *bytes = malloc((size_t)(rec->n_chunks + 1) * sizeof *bytes);
        if (keys && bytes) {
            for (int64_t c = 0; c < rec->n_chunks; c++) {
                memcpy(keys[c].b, rec->chunks + c * (CN_KV_HASH_BYTES + 8), CN_KV_HASH_BYTES);
                memcpy(&bytes[c], rec->chunks + c * (CN_KV_HASH_BYTES + 8) + CN_KV_HASH_BYTES, 8);
            }
        }
        bool ok = keys && bytes &&
                  add_entry(s, &rec->prefix_hash, rec->n_tokens, rec->clock, rec->checkpoint_bytes, rec->n_chunks, keys, bytes);
        free(keys);
        free(bytes);
        if (!ok) r->failed = true;
        return ok;
    }
    if (!e) return true; /* TOUCH or DROP of an entry dropped earlier */
    if (rec->type == CN_KV_REC_TOUCH) {
        e->clock = rec->clock;
        if (rec->clock >= s->clock) s->clock = rec->clock + 1;
    } else {
        forget_entry(s, e, false);
    }
    return true;
}

static bool file_has_size(cn_kv_store *s, const char *name, uint64_t bytes) {
    struct stat sb;
    return fstatat(s->dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == bytes;
}

/* Entries whose files are missing or of the wrong size are dropped (counted as rejected). */
static bool check_entry_files(cn_kv_store *s) {
    bool changed = false;
    char name[NAME_MAX_BYTES];
    for (size_t i = 0; i < s->n_entries;) {
        entry *e = &s->entries[i];
        file_name('k', &e->hash, name);
        bool ok = file_has_size(s, name, e->checkpoint_bytes);
        for (int64_t c = 0; c < e->n_chunks && ok; c++) {
            const chunk_ref *ch = &s->chunks[e->chunks[c]];
            file_name('c', &ch->key, name);
            ok = file_has_size(s, name, ch->bytes);
        }
        if (ok) {
            i++;
            continue;
        }
        s->stats.rejected++;
        forget_entry(s, e, true);
        changed = true;
    }
    return changed;
}

static bool parse_name(const char *name, char kind, cn_kv_hash *out) {
    if (name[0] != kind || name[1] != '-' || strlen(name) != 2 + 2 * CN_KV_HASH_BYTES) return false;
    size_t got = 0;
    return sodium_hex2bin(out->b, CN_KV_HASH_BYTES, name + 2, 2 * CN_KV_HASH_BYTES, NULL, &got, NULL) == 0 &&
           got == CN_KV_HASH_BYTES;
}

/* Removes temp files and every checkpoint or chunk no live entry references: the leftovers of a
 * save that did not reach its commit record ("recovery to the last commit, never beyond"). */
static cn_status sweep_directory(cn_kv_store *s, cn_error *err) {
    int fd = dup(s->dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return cn_fail(err, CN_ERR_IO, "kv store %s: listing: %s", s->path, strerror(errno));
    }
    rewinddir(d);
    char (*doomed)[NAME_MAX_BYTES + 8] = NULL;
    size_t n_doomed = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        cn_kv_hash h;
        bool remove = false;
        if (strncmp(de->d_name, "tmp-", 4) == 0) remove = true;
        else if (parse_name(de->d_name, 'k', &h)) remove = find_entry(s, &h) == NULL;
        else if (parse_name(de->d_name, 'c', &h)) remove = find_chunk(s, &h) < 0;
        if (!remove || strlen(de->d_name) >= NAME_MAX_BYTES + 8) continue;
        if (n_doomed == cap) {
            cap = cap ? 2 * cap : 16;
            void *grown = realloc(doomed, cap * sizeof *doomed);
            if (!grown) break;
            doomed = grown;
        }
        memcpy(doomed[n_doomed++], de->d_name, strlen(de->d_name) + 1); /* length checked above */
    }
    closedir(d);
    for (size_t i = 0; i < n_doomed && !s->crashed; i++) remove_file(s, doomed[i]);
    free(doomed);
    return CN_OK;
}

static cn_status load_journal(cn_kv_store *s, cn_error *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    bool rewrite = false;
    if (read_file(s, "journal", &data, &size, err) != CN_OK) {
        if (errno != ENOENT) s->stats.rejected++; /* unreadable: start over */
        rewrite = true;
    } else {
        replay_ctx ctx = {s, false};
        cn_kv_journal_scan scan;
        cn_kv_journal_parse(data, size, &s->fp, replay, &ctx, &scan);
        if (ctx.failed) {
            free(data);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory reading the kv journal");
        }
        if (!scan.header_ok) {
            s->stats.rejected++; /* a foreign or garbage journal: nothing in it is trusted */
            rewrite = true;
        } else if (scan.valid_bytes < size) {
            s->stats.rejected++; /* a torn or garbage tail: the valid prefix is the commit point */
            rewrite = true;
        }
        s->journal_bytes = scan.valid_bytes;
        s->journal_records = scan.records;
    }
    free(data);
    if (check_entry_files(s)) rewrite = true;
    cn_status st = sweep_directory(s, err);
    if (st) return st;
    if (rewrite || s->journal_records > 2 * s->n_entries + 64) return rewrite_journal(s, err);
    s->journal_fd = openat(s->dir_fd, "journal", O_RDWR | O_CLOEXEC);
    if (s->journal_fd < 0) return cn_fail(err, CN_ERR_IO, "kv store %s: opening the journal: %s", s->path, strerror(errno));
    return CN_OK;
}

static cn_status check_layout(const cn_kv_state *like, int64_t span, cn_error *err) {
    if (span <= 0 || span % 128 != 0) return cn_fail(err, CN_ERR_ARG, "kv store chunk span %lld is not a positive multiple of 128", (long long)span);
    if (like->n_tokens != 0) return cn_fail(err, CN_ERR_ARG, "kv store: the layout state must be empty");
    for (int l = 0; l < like->n_layers; l++)
        if (like->layers[l].ratio > 0 && span % like->layers[l].ratio != 0)
            return cn_fail(err, CN_ERR_ARG, "kv store chunk span %lld is not a multiple of layer %d's compress ratio %d",
                           (long long)span, l, like->layers[l].ratio);
    return CN_OK;
}

static cn_status make_dir(const char *path, cn_error *err) {
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return CN_OK;
        return cn_fail(err, CN_ERR_IO, "kv store: %s is not a directory", path);
    }
    return cn_fail(err, CN_ERR_IO, "kv store: creating %s: %s", path, strerror(errno));
}

cn_status cn_kv_store_open(const char *dir, const char *model_identity, const cn_kv_state *like, size_t budget_bytes,
                           cn_kv_store **out, cn_error *err) {
    cn_kv_store_options o = {.budget_bytes = budget_bytes};
    return cn_kv_store_open_opts(dir, model_identity, like, &o, out, err);
}

cn_status cn_kv_store_open_opts(const char *dir, const char *model_identity, const cn_kv_state *like,
                                const cn_kv_store_options *options, cn_kv_store **out, cn_error *err) {
    *out = NULL;
    if (!dir || !*dir || !like) return cn_fail(err, CN_ERR_ARG, "kv store: no directory or layout given");
    const int64_t span = options->chunk_tokens ? options->chunk_tokens : DEFAULT_CHUNK;
    cn_status st = check_layout(like, span, err);
    if (st) return st;
    if (sodium_init() < 0) return cn_fail(err, CN_ERR_IO, "libsodium failed to initialise");
    cn_kv_store *s = calloc(1, sizeof *s);
    if (!s) return cn_fail(err, CN_ERR_NOMEM, "out of memory for the kv store");
    s->dir_fd = s->lock_fd = s->journal_fd = -1;
    s->span = span;
    s->budget = options->budget_bytes ? options->budget_bytes : DEFAULT_BUDGET;
    s->fault = options->fault;
    s->fault_ctx = options->fault_ctx;
    s->fp = cn_kv_store_fingerprint(model_identity, like, span);
    s->identity = strdup(model_identity ? model_identity : "");
    char x[2 * CN_KV_HASH_BYTES + 1];
    hex(&s->fp, x);
    const size_t plen = strlen(dir) + 2 + sizeof x;
    s->path = malloc(plen);
    if (!s->identity || !s->path) {
        cn_kv_store_close(s);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for the kv store");
    }
    snprintf(s->path, plen, "%s/%s", dir, x);
    if ((st = make_dir(dir, err)) || (st = make_dir(s->path, err))) {
        cn_kv_store_close(s);
        return st;
    }
    s->dir_fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        st = cn_fail(err, CN_ERR_IO, "kv store: opening %s: %s", s->path, strerror(errno));
        cn_kv_store_close(s);
        return st;
    }
    s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = errno == EWOULDBLOCK ? cn_fail(err, CN_ERR_BUSY, "kv store %s is in use by another store", s->path)
                                  : cn_fail(err, CN_ERR_IO, "kv store %s: locking: %s", s->path, strerror(errno));
        cn_kv_store_close(s);
        return st;
    }
    if ((st = load_journal(s, err))) {
        cn_kv_store_close(s);
        return st;
    }
    fsync(s->dir_fd); /* the sweep's removals */
    evict(s);          /* the budget may be smaller than last time */
    s->stats.evicted = 0;
    s->stats.bytes = total_bytes(s);
    *out = s;
    return CN_OK;
}

void cn_kv_store_close(cn_kv_store *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_entries; i++) free(s->entries[i].chunks);
    free(s->entries);
    free(s->chunks);
    if (s->journal_fd >= 0) close(s->journal_fd);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    if (s->dir_fd >= 0) close(s->dir_fd);
    free(s->path);
    free(s->identity);
    free(s);
}

const char *cn_kv_store_path(const cn_kv_store *s) { return s->path; }

void cn_kv_store_stats_get(const cn_kv_store *s, cn_kv_store_stats *out) { *out = s->stats; }

/* ---- save and restore ----------------------------------------------------------------------------- */

static cn_status check_state(cn_kv_store *s, const cn_kv_state *st, cn_error *err) {
    if (s->crashed) return cn_fail(err, CN_ERR_IO, "kv store %s stopped by a simulated crash; reopen it", s->path);
    cn_kv_hash fp = cn_kv_store_fingerprint(s->identity, st, s->span);
    if (memcmp(fp.b, s->fp.b, CN_KV_HASH_BYTES) != 0)
        return cn_fail(err, CN_ERR_ARG, "kv store %s: the state has another layout or encoding than the store", s->path);
    return CN_OK;
}

/* Keys of the first n_chunks chunks of ids (the chain of 7.2). */
static void chain_keys(const cn_kv_store *s, const int32_t *ids, int64_t n_chunks, cn_kv_hash *keys) {
    cn_kv_hash parent;
    memset(&parent, 0, sizeof parent);
    for (int64_t c = 0; c < n_chunks; c++) {
        keys[c] = cn_kv_chunk_key(&s->fp, &parent, ids + c * s->span, s->span);
        parent = keys[c];
    }
}

static void touch(cn_kv_store *s, entry *e) {
    e->clock = s->clock++;
    cn_error ignored;
    journal_simple(s, CN_KV_REC_TOUCH, e, false, &ignored);
}

cn_status cn_kv_store_save(cn_kv_store *s, const int32_t *ids, size_t n, const cn_kv_state *st, cn_error *err) {
    cn_status rc = check_state(s, st, err);
    if (rc) return rc;
    if (n == 0 || st->n_tokens != (int64_t)n)
        return cn_fail(err, CN_ERR_ARG, "kv store: saving a state of %lld positions with %zu ids", (long long)st->n_tokens, n);
    cn_kv_hash h;
    const int64_t len = (int64_t)n;
    cn_kv_prefix_hashes(&s->fp, ids, len, &len, 1, &h);
    entry *have = find_entry(s, &h);
    if (have) { /* the state is a function of the ids: stored already */
        touch(s, have);
        return CN_OK;
    }
    const int64_t n_chunks = len / s->span;
    cn_kv_hash *keys = malloc((size_t)(n_chunks + 1) * sizeof *keys);
    uint64_t *bytes = calloc((size_t)(n_chunks + 1), sizeof *bytes);
    bool *fresh = calloc((size_t)(n_chunks + 1), sizeof *fresh);
    if (!keys || !bytes || !fresh) {
        free(keys);
        free(bytes);
        free(fresh);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory saving to the kv store");
    }
    chain_keys(s, ids, n_chunks, keys);
    char name[NAME_MAX_BYTES];
    uint64_t written = 0, ckpt_bytes = 0;
    uint8_t *buf = NULL, *ckpt = NULL;
    size_t size = 0, ckpt_size = 0;
    /* 0. the checkpoint in memory first: an entry larger than the whole budget is refused before
     * anything is written (it would be evicted at once, after evicting everything else) */
    rc = cn_kv_checkpoint_encode(&s->fp, &h, ids, s->span, keys, st, &ckpt, &ckpt_size, err);
    const size_t entry_bytes = ckpt_size + (size_t)n_chunks * cn_kv_chunk_file_bytes(st, s->span);
    if (!rc && entry_bytes > s->budget)
        rc = cn_fail(err, CN_ERR_ARG, "kv store: a state of %lld positions takes %zu bytes, more than the budget of %zu",
                     (long long)len, entry_bytes, s->budget);
    /* 1. chunks not stored yet (shared chunks are written once) */
    for (int64_t c = 0; c < n_chunks && !rc; c++) {
        const int have_chunk = find_chunk(s, &keys[c]); /* keys of one chain are all distinct */
        if (have_chunk >= 0) {
            bytes[c] = s->chunks[have_chunk].bytes;
            continue;
        }
        const cn_kv_hash zero = {{0}};
        rc = cn_kv_chunk_encode(&s->fp, &keys[c], c ? &keys[c - 1] : &zero, c, s->span, st, &buf, &size, err);
        file_name('c', &keys[c], name);
        if (!rc) rc = write_file_atomic(s, name, buf, size, err);
        if (!rc) fresh[c] = true, bytes[c] = size, written += size;
        free(buf);
        buf = NULL;
    }
    /* 2. the checkpoint of the mutable state */
    file_name('k', &h, name);
    if (!rc) {
        rc = write_file_atomic(s, name, ckpt, ckpt_size, err);
        ckpt_bytes = ckpt_size;
        written += ckpt_size;
    }
    free(ckpt);
    /* 3. the commit point */
    const uint64_t clock = s->clock;
    if (!rc) rc = commit_record(s, &h, len, clock, ckpt_bytes, n_chunks, keys, bytes, &buf, &size, err);
    if (!rc) rc = journal_append(s, buf, size, true, err);
    free(buf);
    if (!rc && !add_entry(s, &h, len, clock, ckpt_bytes, n_chunks, keys, bytes)) {
        /* committed on disk but not indexed: rebuild the journal from memory so they agree */
        s->journal_broken = true;
        rc = cn_fail(err, CN_ERR_NOMEM, "out of memory indexing a kv store entry");
    }
    if (rc && !s->crashed) { /* nothing of this save is committed: remove what it wrote */
        file_name('k', &h, name);
        if (!find_entry(s, &h)) remove_file(s, name);
        for (int64_t c = 0; c < n_chunks; c++)
            if (fresh[c] && find_chunk(s, &keys[c]) < 0) {
                file_name('c', &keys[c], name);
                remove_file(s, name);
            }
    }
    free(keys);
    free(bytes);
    free(fresh);
    if (rc) return rc;
    s->stats.saves++;
    s->stats.save_bytes += written;
    evict(s);
    return CN_OK;
}

/* Loads entry e into st (at position 0); false if any of its files is damaged (it is rejected
 * then, and st is reset). keys: the chain of the prompt's first chunks (at least e->n_chunks). */
static bool load_entry(cn_kv_store *s, entry *e, const int32_t *ids, const cn_kv_hash *keys, cn_kv_state *st) {
    char name[NAME_MAX_BYTES];
    cn_error err;
    uint8_t *data = NULL;
    size_t size = 0;
    file_name('k', &e->hash, name);
    cn_kv_checkpoint_view v;
    const int64_t n = e->n_tokens, nc = e->n_chunks;
    const cn_status read = read_file(s, name, &data, &size, &err);
    if (read == CN_ERR_NOMEM) return false; /* a miss: nothing says the file is bad */
    bool ok = read == CN_OK &&
              cn_kv_checkpoint_parse(data, size, &s->fp, s->span, st, &v, &err) == CN_OK &&
              memcmp(v.prefix_hash.b, e->hash.b, CN_KV_HASH_BYTES) == 0 && v.n_tokens == n && v.n_chunks == nc &&
              memcmp(v.tail_ids, ids + nc * s->span, (size_t)(n - nc * s->span) * sizeof *ids) == 0;
    for (int64_t c = 0; ok && c < nc; c++)
        ok = memcmp(v.chunk_keys + c * CN_KV_HASH_BYTES, keys[c].b, CN_KV_HASH_BYTES) == 0 &&
             memcmp(s->chunks[e->chunks[c]].key.b, keys[c].b, CN_KV_HASH_BYTES) == 0;
    if (!ok) {
        free(data);
        reject_entry(s, e);
        return false;
    }
    cn_kv_state_reset(st);
    for (int l = 0; l < st->n_layers; l++) { /* room for every row at once: no regrowth per chunk */
        cn_kv_layer *ly = &st->layers[l];
        const int64_t rows = ly->ratio > 0 ? n / ly->ratio : 0;
        if (cn_kv_rows_reserve(&ly->compressed, rows, &err) != CN_OK ||
            cn_kv_rows_reserve(&ly->indexer_keys, ly->has_indexer ? rows : 0, &err) != CN_OK) {
            free(data);
            return false; /* out of memory: a miss, the entry stays */
        }
    }
    const cn_kv_hash zero = {{0}};
    uint8_t *chunk = NULL; /* one buffer for every chunk file (they all have the same size) */
    size_t chunk_cap = 0;
    for (int64_t c = 0; c < nc; c++) {
        size_t chunk_size = 0;
        file_name('c', &keys[c], name);
        const cn_status got = read_file_into(s, name, &chunk, &chunk_cap, &chunk_size, &err);
        const cn_status loaded = got == CN_OK ? cn_kv_chunk_load(chunk, chunk_size, &s->fp, &keys[c], c ? &keys[c - 1] : &zero,
                                                                 c, s->span, st, &err)
                                              : got;
        if (got == CN_ERR_NOMEM || loaded == CN_ERR_NOMEM) { /* a miss, not damage */
            free(chunk);
            free(data);
            cn_kv_state_reset(st);
            return false;
        }
        if (loaded != CN_OK) {
            free(chunk);
            free(data);
            cn_kv_state_reset(st);
            reject_chunk(s, &keys[c]);
            return false;
        }
    }
    free(chunk);
    ok = cn_kv_checkpoint_apply(&v, s->span, st, &err) == CN_OK;
    free(data);
    if (!ok) {
        cn_kv_state_reset(st);
        reject_entry(s, e);
    }
    return ok;
}

static int by_length_desc(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Longest-prefix lookup: the stored lengths that fit the prompt are the only candidates. One pass
 * over the ids yields the prefix hash at each candidate length; the entries whose hash equals the
 * prompt's at their length are stored prefixes of it, tried longest first (a damaged one is dropped
 * and the next shorter tried). Cost: one hash pass over the prompt plus O(entries) comparisons. */
cn_status cn_kv_store_restore_longest(cn_kv_store *s, const int32_t *ids, size_t n, cn_kv_state *st, size_t *matched,
                                      cn_error *err) {
    *matched = 0;
    cn_status rc = check_state(s, st, err);
    if (rc) return rc;
    cn_kv_state_reset(st);
    size_t n_len = 0;
    int64_t *lengths = malloc((s->n_entries + 1) * sizeof *lengths);
    if (!lengths) return cn_fail(err, CN_ERR_NOMEM, "out of memory for the kv store lookup");
    for (size_t i = 0; i < s->n_entries; i++)
        if (s->entries[i].n_tokens <= (int64_t)n) lengths[n_len++] = s->entries[i].n_tokens;
    qsort(lengths, n_len, sizeof *lengths, by_length_desc);
    size_t u = 0; /* distinct, descending */
    for (size_t i = 0; i < n_len; i++)
        if (u == 0 || lengths[u - 1] != lengths[i]) lengths[u++] = lengths[i];
    n_len = u;
    for (size_t i = 0; i < n_len / 2; i++) { /* ascending for the hashing pass */
        int64_t t = lengths[i];
        lengths[i] = lengths[n_len - 1 - i];
        lengths[n_len - 1 - i] = t;
    }
    cn_kv_hash *hashes = malloc((n_len + 1) * sizeof *hashes);
    const int64_t max_chunks = (int64_t)n / s->span;
    cn_kv_hash *keys = malloc((size_t)(max_chunks + 1) * sizeof *keys);
    if (!hashes || !keys) {
        free(lengths);
        free(hashes);
        free(keys);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for the kv store lookup");
    }
    cn_kv_prefix_hashes(&s->fp, ids, (int64_t)n, lengths, n_len, hashes);
    bool keys_done = false;
    for (size_t i = n_len; i-- > 0 && *matched == 0 && !s->crashed;) {
        entry *e = find_entry(s, &hashes[i]);
        if (!e || e->n_tokens != lengths[i]) continue;
        if (!keys_done) {
            chain_keys(s, ids, max_chunks, keys);
            keys_done = true;
        }
        if (load_entry(s, e, ids, keys, st)) {
            *matched = (size_t)lengths[i];
            touch(s, e);
        }
    }
    free(lengths);
    free(hashes);
    free(keys);
    if (*matched) s->stats.hits++;
    else {
        s->stats.misses++;
        cn_kv_state_reset(st);
    }
    s->stats.bytes = total_bytes(s);
    return CN_OK;
}
