#include "base/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

cn_status cn_mapped_file_open(const char *path, cn_mapped_file *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cn_fail(err, CN_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cn_fail(err, CN_ERR_IO, "%s is not a regular file", path);
    }
    void *p = NULL;
    if (st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return cn_fail(err, CN_ERR_IO, "cannot map %s: %s", path, strerror(e));
        }
    }
    close(fd);
    out->data = p;
    out->size = (size_t)st.st_size;
    out->path = strdup(path);
    if (!out->path) {
        cn_mapped_file_close(out);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    return CN_OK;
}

void cn_mapped_file_close(cn_mapped_file *file) {
    if (file->data && file->size) munmap((void *)file->data, file->size);
    free(file->path);
    memset(file, 0, sizeof *file);
}

cn_status cn_read_text_file(const char *path, char **out, size_t *len, cn_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cn_fail(err, CN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory reading %s", path);
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        cap *= 2;
        char *grown = realloc(buf, cap);
        if (!grown) free(buf);
        buf = grown;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return cn_fail(err, CN_ERR_IO, "error reading %s", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return CN_OK;
}
