/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; iSCSI, RFC 3720 appendix B.4), the page
 * checksum of the kv store's files (specs/kv-store.md 7.2: "xxHash ... or CRC32C" for integrity on
 * read). x86-64 uses the SSE4.2 crc32 instruction when the CPU has it (about twenty times faster
 * than BLAKE2b here), AArch64 its CRC32 extension when built for it; elsewhere a table. All give
 * the same value. */
#ifndef CN_BASE_CRC32C_H
#define CN_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data[0..n) continuing from crc, the CRC of what came before (0 to start): like zlib's
 * crc32(), cn_crc32c(cn_crc32c(0, a), b) == cn_crc32c(0, a followed by b). "123456789" gives
 * 0xE3069283. */
uint32_t cn_crc32c(uint32_t crc, const void *data, size_t n);

/* The table version alone, for tests that compare it with the instruction. */
uint32_t cn_crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
