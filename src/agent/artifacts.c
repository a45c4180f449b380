/* Spilled tool results and the read_artifact tool (artifacts.h). */
#include "agent/artifacts.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/audit.h"

/* The largest n <= len that does not cut a UTF-8 sequence in two. */
static size_t utf8_cut(const char *s, size_t len) {
    size_t n = len;
    while (n > 0 && n > len - 4 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

cn_status cn_artifact_spill(const char *run_dir, int64_t ord, const char *content, size_t len, cn_artifact *out,
                            cn_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "a%lld", (long long)ord);
    out->bytes = len;
    unsigned char h[CN_AUDIT_HASH_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)content, len);
    cn_audit_hex(h, sizeof h, out->sha256);
    char dir[PATH_MAX], tmp[PATH_MAX + 64], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/artifacts", run_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return cn_fail(err, CN_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, out->id);
    snprintf(path, sizeof path, "%s/%s", dir, out->id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "cannot write artifact %s: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    bool ok = done == len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cn_fail(err, CN_ERR_IO, "cannot write artifact %s: %s", path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    size_t preview = utf8_cut(content, len < CN_ARTIFACT_PREVIEW_BYTES ? len : CN_ARTIFACT_PREVIEW_BYTES);
    size_t size = preview + 400;
    if (!(out->message = malloc(size))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    int at = snprintf(out->message, size,
                      "[this result is %zu bytes, stored as artifact %s (sha256 %.16s...); the first %zu bytes follow; "
                      "read the rest with read_artifact {\"id\": \"%s\", \"offset\": %zu}]\n",
                      len, out->id, out->sha256, preview, out->id, preview);
    memcpy(out->message + at, content, preview);
    out->message[at + (int)preview] = 0;
    return CN_OK;
}

void cn_artifact_free(cn_artifact *a) {
    free(a->message);
    a->message = NULL;
}

static bool valid_artifact_id(const char *id) {
    if (id[0] != 'a' || !id[1] || strlen(id) > 20) return false;
    for (const char *p = id + 1; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

static cn_status tool_read_artifact(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r,
                                    cn_error *err) {
    (void)env;
    const char *run_dir = self->impl;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(args, "id");
    const cJSON *offv = cJSON_GetObjectItemCaseSensitive(args, "offset");
    const cJSON *lenv = cJSON_GetObjectItemCaseSensitive(args, "length");
    const char *id = cJSON_IsString(idv) ? idv->valuestring : "";
    size_t offset = cJSON_IsNumber(offv) ? (size_t)offv->valuedouble : 0;
    size_t want = cJSON_IsNumber(lenv) ? (size_t)lenv->valuedouble : CN_ARTIFACT_PAGE_MAX;
    char msg[300];
    r->is_error = true;
    if (!valid_artifact_id(id)) {
        snprintf(msg, sizeof msg, "\"%.40s\" is not an artifact id (a result spilled to an artifact names its id)", id);
        return (r->content = strdup(msg)) ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/artifacts/%s", run_dir, id);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        if (f) fclose(f);
        snprintf(msg, sizeof msg, "no artifact %s", id);
        return (r->content = strdup(msg)) ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    size_t total = (size_t)st.st_size;
    if (offset > total) {
        fclose(f);
        snprintf(msg, sizeof msg, "offset %zu is past the end of artifact %s (%zu bytes)", offset, id, total);
        return (r->content = strdup(msg)) ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    /* Read 3 bytes more on each side than asked, so the page can start and end on UTF-8
     * boundaries (an offset inside a character moves to the next one) and pages join exactly. */
    size_t avail = total - offset, span = avail < want + 6 ? avail : want + 6;
    char *page = malloc(span + 1), *out = NULL;
    size_t got = 0;
    if (page && fseek(f, (long)offset, SEEK_SET) == 0) got = fread(page, 1, span, f);
    fclose(f);
    if (!page) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    size_t skip = 0;
    while (skip < 3 && skip < got && ((unsigned char)page[skip] & 0xC0) == 0x80) skip++;
    offset += skip;
    size_t n = got - skip < want ? got - skip : want;
    if (got - skip > n) {
        size_t cut = n;
        while (cut > 0 && cut + 4 > n && ((unsigned char)page[skip + cut] & 0xC0) == 0x80) cut--;
        n = cut;
    }
    size_t size = n + 200;
    if ((out = malloc(size))) {
        int at = offset + n < total ? snprintf(out, size, "[artifact %s bytes %zu-%zu of %zu; continue at offset %zu]\n",
                                               id, offset, offset + n, total, offset + n)
                                    : snprintf(out, size, "[artifact %s bytes %zu-%zu of %zu: the end]\n", id, offset,
                                               offset + n, total);
        memcpy(out + at, page + skip, n);
        out[at + (int)n] = 0;
    }
    free(page);
    if (!out) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    r->content = out;
    r->is_error = false;
    return CN_OK;
}

static void free_run_dir(void *ctx) { free(ctx); }

cn_status cn_artifacts_add_tool(cn_toolbox *tb, const char *run_dir, cn_error *err) {
    char *dir = strdup(run_dir);
    if (!dir) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status s = cn_toolbox_on_destroy(tb, free_run_dir, dir, err);
    if (s != CN_OK) {
        free(dir);
        return s;
    }
    char params[400];
    snprintf(params, sizeof params,
             "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"description\":\"artifact id, e.g. a12\"},"
             "\"offset\":{\"type\":\"integer\",\"minimum\":0},\"length\":{\"type\":\"integer\",\"minimum\":1,"
             "\"maximum\":%d}},\"required\":[\"id\"],\"additionalProperties\":false}",
             CN_ARTIFACT_PAGE_MAX);
    return cn_toolbox_add(tb, "read_artifact",
                          "Read part of a large tool result that was stored as an artifact: up to 8192 bytes from "
                          "offset (default 0).",
                          params, CN_TOOL_READ_ONLY, tool_read_artifact, dir, err);
}

bool cn_artifacts_is_tool(const cn_tool *tool) { return tool && tool->run == tool_read_artifact; }

void cn_artifacts_remove_all(const char *run_dir) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/artifacts", run_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || !strncmp(e->d_name, ".tmp-", 5)) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}
