#include "text/chat_tokenize.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *ids;
    size_t count, capacity;
} id_list;

static cn_status id_list_append(id_list *l, const int32_t *ids, size_t n, cn_error *err) {
    if (l->count + n > l->capacity) {
        size_t capacity = l->capacity ? l->capacity : 256;
        while (capacity < l->count + n) capacity *= 2;
        int32_t *grown = realloc(l->ids, capacity * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %zu prompt ids", capacity);
        l->ids = grown;
        l->capacity = capacity;
    }
    if (n) memcpy(l->ids + l->count, ids, n * sizeof *ids);
    l->count += n;
    return CN_OK;
}

cn_status cn_chat_prompt_tokenize(const cn_tokenizer *tok, const cn_chat_prompt *prompt, int32_t **ids, size_t *n,
                                  cn_error *err) {
    id_list list = {0};
    *ids = NULL;
    *n = 0;
    for (size_t i = 0; i < prompt->segment_count; i++) {
        const cn_chat_segment *s = &prompt->segments[i];
        const char *bytes = prompt->text.data + s->offset;
        cn_status st;
        if (s->kind == CN_CHAT_SEGMENT_IDS) {
            st = id_list_append(&list, prompt->ids + s->id_offset, s->id_count, err);
        } else if (s->kind == CN_CHAT_SEGMENT_CONTROL) {
            char name[128];
            if (s->length >= sizeof name) {
                free(list.ids);
                return cn_fail(err, CN_ERR_ARG, "control token of %zu bytes is too long", s->length);
            }
            memcpy(name, bytes, s->length);
            name[s->length] = '\0';
            int32_t id = cn_tokenizer_token_id(tok, name);
            if (id < 0) {
                free(list.ids);
                return cn_fail(err, CN_ERR_ARG, "the tokenizer has no token \"%s\" (not a DeepSeek-V4 tokenizer?)",
                               name);
            }
            st = id_list_append(&list, &id, 1, err);
        } else {
            int32_t *part;
            size_t part_n;
            st = cn_tokenizer_encode(tok, bytes, s->length, CN_ADDED_TOKENS_NONE, &part, &part_n, err);
            if (st == CN_OK) {
                st = id_list_append(&list, part, part_n, err);
                free(part);
            }
        }
        if (st != CN_OK) {
            free(list.ids);
            return st;
        }
    }
    *ids = list.ids;
    *n = list.count;
    return CN_OK;
}
