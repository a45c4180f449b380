/* Watching a byte stream for "｜DSML｜" (U+FF5C D S M L U+FF5C, 10 bytes): DeepSeek-V4's output
 * parser treats those bytes as a DSML marker wherever they appear inside a tool-call block
 * (docs/output_parser.md), so a parameter value may never contain them. A KMP matcher: the
 * state is how many bytes of the marker end the text so far. */
#ifndef CN_SAMPLE_DSML_MARKER_H
#define CN_SAMPLE_DSML_MARKER_H

#include <stdint.h>

#define CN_DSML_MARKER "\xef\xbd\x9c" "DSML" "\xef\xbd\x9c"
enum { CN_DSML_MARKER_LEN = 10 };

/* The next state after byte b; CN_DSML_MARKER_LEN means the marker is complete. */
static inline uint8_t cn_dsml_marker_step(uint8_t state, uint8_t b) {
    static const uint8_t marker[CN_DSML_MARKER_LEN] = {0xEF, 0xBD, 0x9C, 'D', 'S', 'M', 'L', 0xEF, 0xBD, 0x9C};
    static const uint8_t prefix[CN_DSML_MARKER_LEN] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 3}; /* KMP prefix function */
    if (state >= CN_DSML_MARKER_LEN) state = prefix[CN_DSML_MARKER_LEN - 1];
    while (state > 0 && marker[state] != b) state = prefix[state - 1];
    return marker[state] == b ? (uint8_t)(state + 1) : 0;
}

#endif
