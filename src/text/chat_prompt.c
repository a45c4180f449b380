#include "text/chat_prompt.h"

#include "text/chat_tokens.h"
#include "text/chat_utf8.h"

#include <stdlib.h>
#include <string.h>

static cn_status add_segment(cn_chat_prompt *p, cn_chat_segment_kind kind, size_t offset, size_t length,
                             cn_error *err) {
    if (length == 0) return CN_OK;
    if (kind == CN_CHAT_SEGMENT_TEXT && p->segment_count > 0) {
        cn_chat_segment *last = &p->segments[p->segment_count - 1];
        if (last->kind == CN_CHAT_SEGMENT_TEXT && last->offset + last->length == offset) {
            last->length += length;
            return CN_OK;
        }
    }
    if (p->segment_count == p->segment_capacity) {
        size_t capacity = p->segment_capacity ? p->segment_capacity * 2 : 32;
        cn_chat_segment *grown = realloc(p->segments, capacity * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory growing the prompt's segment list");
        p->segments = grown;
        p->segment_capacity = capacity;
    }
    p->segments[p->segment_count++] = (cn_chat_segment){.kind = kind, .offset = offset, .length = length};
    return CN_OK;
}

cn_status cn_chat_prompt_text(cn_chat_prompt *p, const char *s, cn_error *err) {
    size_t start = p->text.length;
    const unsigned char *q = (const unsigned char *)s;
    size_t avail = strlen(s);
    while (avail > 0) {
        /* Copy runs of ASCII at once; decode the rest to check it. */
        size_t run = 0;
        while (run < avail && q[run] < 0x80) run++;
        cn_status st = cn_chat_bytes_append(&p->text, q, run, err);
        if (st != CN_OK) return st;
        q += run;
        avail -= run;
        if (avail == 0) break;
        uint32_t cp;
        size_t n = cn_chat_utf8_decode(q, avail, &cp);
        if (n == 0)
            return cn_fail(err, CN_ERR_ARG, "text is not valid UTF-8 (byte %zu)", (size_t)(q - (const unsigned char *)s));
        st = cp == 0 ? cn_chat_bytes_append(&p->text, "", 1, err) : cn_chat_bytes_append(&p->text, q, n, err);
        if (st != CN_OK) return st;
        q += n;
        avail -= n;
    }
    return add_segment(p, CN_CHAT_SEGMENT_TEXT, start, p->text.length - start, err);
}

cn_status cn_chat_prompt_raw_text(cn_chat_prompt *p, const char *s, size_t length, cn_error *err) {
    size_t start = p->text.length;
    cn_status st = cn_chat_bytes_append(&p->text, s, length, err);
    if (st != CN_OK) return st;
    return add_segment(p, CN_CHAT_SEGMENT_TEXT, start, length, err);
}

cn_status cn_chat_prompt_control(cn_chat_prompt *p, const char *token, cn_error *err) {
    size_t start = p->text.length;
    cn_status st = cn_chat_bytes_append_str(&p->text, token, err);
    if (st != CN_OK) return st;
    return add_segment(p, CN_CHAT_SEGMENT_CONTROL, start, strlen(token), err);
}

cn_status cn_chat_prompt_template(cn_chat_prompt *p, const char *s, cn_error *err) {
    static const char *const markers[] = {CN_CHAT_DSML, CN_CHAT_THINK_START, CN_CHAT_THINK_END};
    while (*s) {
        const char *next = NULL, *marker = NULL;
        for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
            const char *hit = strstr(s, markers[i]);
            if (hit && (!next || hit < next)) next = hit, marker = markers[i];
        }
        size_t plain = next ? (size_t)(next - s) : strlen(s);
        cn_status st = cn_chat_prompt_raw_text(p, s, plain, err);
        if (st != CN_OK) return st;
        if (!next) break;
        if ((st = cn_chat_prompt_control(p, marker, err)) != CN_OK) return st;
        s = next + strlen(marker);
    }
    return CN_OK;
}

cn_status cn_chat_prompt_replace_with_ids(cn_chat_prompt *p, size_t first_segment, const int32_t *ids, size_t n,
                                          cn_error *err) {
    if (first_segment >= p->segment_count || n == 0)
        return cn_fail(err, CN_ERR_ARG, "no segment %zu (of %zu) or no ids to replace it with", first_segment,
                       p->segment_count);
    if (p->id_count + n > p->id_capacity) {
        size_t capacity = p->id_capacity ? p->id_capacity : 256;
        while (capacity < p->id_count + n) capacity *= 2;
        int32_t *grown = realloc(p->ids, capacity * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %zu prompt ids", capacity);
        p->ids = grown;
        p->id_capacity = capacity;
    }
    memcpy(p->ids + p->id_count, ids, n * sizeof *ids);
    size_t offset = p->segments[first_segment].offset;
    p->segments[first_segment] = (cn_chat_segment){.kind = CN_CHAT_SEGMENT_IDS, .offset = offset,
                                                   .length = p->text.length - offset, .id_offset = p->id_count,
                                                   .id_count = n};
    p->segment_count = first_segment + 1;
    p->id_count += n;
    return CN_OK;
}

void cn_chat_prompt_free(cn_chat_prompt *p) {
    cn_chat_bytes_free(&p->text);
    free(p->segments);
    free(p->ids);
    p->segments = NULL;
    p->ids = NULL;
    p->segment_count = p->segment_capacity = 0;
    p->id_count = p->id_capacity = 0;
}
