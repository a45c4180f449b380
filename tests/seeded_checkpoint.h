/* Checkpoints too large to commit are rebuilt from a seed: every tensor listed in a manifest
 * (tensors.txt, written by scripts/make_oracle_fixtures.py) is filled by the documented
 * generator that the script's numpy code implements too (docs/fixtures.md):
 *   state  = seed XOR fnv1a64(transformers name)
 *   z      = splitmix64(state) per element, row-major
 *   uniform: value = f32(f32(2u - 1) * scale) + offset, u = (z >> 40) * 2^-24
 *   tid2eid: partial Fisher-Yates over 0..E-1 per row, j = k + z mod (E - k). */
#ifndef CN_TEST_SEEDED_CHECKPOINT_H
#define CN_TEST_SEEDED_CHECKPOINT_H

#include <stdint.h>

#include "format/checkpoint.h"

uint64_t cn_fnv1a64(const char *s);
uint64_t cn_splitmix64_next(uint64_t *state);

/* Builds an in-memory checkpoint from dir/config.json, dir/tensors.txt and the seed. */
cn_status cn_seeded_checkpoint_build(const char *dir, uint64_t seed, cn_checkpoint *ckpt, cn_error *err);

#endif
