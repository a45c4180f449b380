/* Tool output as model text (tool_text.h). */
#include "agent/tool_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/unicode_utf8.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

char *cn_tool_text_lossy(const char *s, size_t n) {
    /* At most 3 output bytes per input byte (one U+FFFD each). */
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    size_t at = 0, i = 0;
    while (i < n) {
        size_t len = 1;
        uint32_t cp = 0;
        cn_utf8_kind k = cn_utf8_next((const uint8_t *)s + i, n - i, &len, &cp);
        if (k == CN_UTF8_CHAR && cp != 0) {
            memcpy(out + at, s + i, len);
            at += len;
        } else {
            memcpy(out + at, replacement, 3);
            at += 3;
            if (k == CN_UTF8_INCOMPLETE) len = n - i;
        }
        i += len ? len : 1;
    }
    out[at] = 0;
    return out;
}

bool cn_tool_text_is_text(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t len = 1;
        uint32_t cp = 0;
        cn_utf8_kind k = cn_utf8_next((const uint8_t *)s + i, n - i, &len, &cp);
        if (k == CN_UTF8_INCOMPLETE) return true;
        if (k == CN_UTF8_INVALID || cp == 0) return false;
        i += len;
    }
    return true;
}
