/* GPT-2's byte-level alphabet (specs/tokenizer.md section 1.5): every byte has a printable
 * stand-in character, and tokenizer.json spells vocabulary strings in those characters. */
#ifndef CN_TEXT_BPE_BYTELEVEL_H
#define CN_TEXT_BPE_BYTELEVEL_H

#include <stdbool.h>
#include <stdint.h>

/* The code point that stands for byte b. */
uint32_t cn_bytelevel_char(uint8_t b);

/* The byte that code point cp stands for; false if cp is not in the alphabet. */
bool cn_bytelevel_byte(uint32_t cp, uint8_t *b);

#endif
