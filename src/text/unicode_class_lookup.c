/* Class lookup beyond ASCII: a binary search over the generated runs. */
#include "text/unicode_classes.h"

uint8_t cn_unicode_class_search(uint32_t cp) {
    if (cp > 0x10FFFF) return 0;
    uint32_t lo = 0, hi = cn_unicode_class_run_count; /* invariant: start[lo] <= cp < start[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cn_unicode_class_run_start[mid] <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return cn_unicode_class_run_mask[lo];
}
