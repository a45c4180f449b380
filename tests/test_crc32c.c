/* CRC-32C (base/crc32c.h) against published values: the catalogue check value of "123456789"
 * (0xE3069283) and the four 32-byte vectors of RFC 3720 (iSCSI) appendix B.4; then the instruction
 * path against the table path on every length 0..300 and at every alignment, and chaining (the
 * CRC of a split buffer continued equals the CRC of the whole). */
#include <string.h>

#include "base/crc32c.h"
#include "harness.h"

int main(void) {
    CHECK(cn_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(cn_crc32c_portable(0, "123456789", 9) == 0xE3069283u);
    uint8_t v[32];
    memset(v, 0, sizeof v);
    CHECK(cn_crc32c(0, v, 32) == 0x8A9136AAu);
    memset(v, 0xff, sizeof v);
    CHECK(cn_crc32c(0, v, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) v[i] = (uint8_t)i;
    CHECK(cn_crc32c(0, v, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; i++) v[i] = (uint8_t)(31 - i);
    CHECK(cn_crc32c(0, v, 32) == 0x113FDB5Cu);
    CHECK(cn_crc32c(0, v, 0) == 0);

    uint8_t buf[320];
    uint64_t s = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(s >> 56);
    }
    int mismatches = 0, chain_mismatches = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 300; n++) {
            const uint32_t a = cn_crc32c(0, buf + off, n), b = cn_crc32c_portable(0, buf + off, n);
            if (a != b) mismatches++;
            const size_t cut = n / 3;
            if (cn_crc32c(cn_crc32c(0, buf + off, cut), buf + off + cut, n - cut) != a) chain_mismatches++;
        }
    CHECKF(mismatches == 0, "%d lengths where the instruction and the table differ", mismatches);
    CHECKF(chain_mismatches == 0, "%d chained CRCs differ", chain_mismatches);
    return cn_test_finish("test_crc32c");
}
