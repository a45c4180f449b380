/* The mapping is a formula, so no table needs building: printable Latin-1 bytes stand for
 * themselves and the other 68 bytes take U+0100.. in increasing byte order. */
#include "text/bpe_bytelevel.h"

static bool stands_for_itself(uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* How many bytes below b do not stand for themselves. */
static uint32_t shifted_before(uint32_t b) {
    uint32_t count = 0;
    for (uint32_t x = 0; x < b; x++) count += !stands_for_itself(x);
    return count;
}

uint32_t cn_bytelevel_char(uint8_t b) {
    return stands_for_itself(b) ? b : 0x100 + shifted_before(b);
}

bool cn_bytelevel_byte(uint32_t cp, uint8_t *b) {
    if (cp < 0x100) {
        if (!stands_for_itself(cp)) return false;
        *b = (uint8_t)cp;
        return true;
    }
    if (cp >= 0x100 + 68) return false;
    uint32_t rank = cp - 0x100;
    for (uint32_t x = 0; x < 256; x++)
        if (!stands_for_itself(x) && rank-- == 0) {
            *b = (uint8_t)x;
            return true;
        }
    return false;
}
