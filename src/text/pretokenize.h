/* DeepSeek-V3/V4's pre-tokenizer (specs/tokenizer.md sections 1.2-1.3), hand-written: three Split
 * passes, each Isolated, each re-splitting the pieces of the one before:
 *   A  \p{N}{1,3}
 *   B  [\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+
 *   C  [ASCII punct][A-Za-z]+ | [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ | ?[\p{P}\p{S}]+[\r\n]*
 *      | \s*[\r\n]+ | \s+(?!\S) | \s+
 * Matches and the gaps between them are both pieces; alternation is leftmost-first. No regex engine
 * and no backtracking stack: every alternative is decided by a bounded look at the runs ahead,
 * and each character is examined a bounded number of times, so time is linear in the input. */
#ifndef CN_TEXT_PRETOKENIZE_H
#define CN_TEXT_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Receives one piece text[start, end) (non-empty, in order). A non-OK status stops the split. */
typedef cn_status (*cn_piece_fn)(void *ctx, size_t start, size_t end, cn_error *err);

/* Splits text[0, len), which must be valid UTF-8 (the caller validates), calling emit per piece. */
cn_status cn_pretokenize(const uint8_t *text, size_t len, cn_piece_fn emit, void *ctx, cn_error *err);

#endif
