/* A digest of a workspace's tree state (names, types, modes, sizes, inode numbers and
 * modification times; not contents), taken before and after a `shell` call: if it differs the
 * command changed the workspace, which the loop guard counts as progress like a file a file tool
 * wrote (docs/agent.md, "Loop and drift guard"). Without it a run of quiet commands that do real
 * work (mkdir, cp, sed -i: each answering exit 0 and no output) would look like "the same result
 * under varying arguments". Symlinks are not followed. */
#ifndef CN_AGENT_WORKSPACE_DIGEST_H
#define CN_AGENT_WORKSPACE_DIGEST_H

#include <stdbool.h>

#include <sodium.h>

/* At most this many entries are visited; a larger tree gets no digest. */
#define CN_WORKSPACE_DIGEST_MAX_ENTRIES 200000

/* False if the tree is larger than the limit, deeper than 256 levels or cannot be read. */
bool cn_workspace_digest(int root_fd, unsigned char out[crypto_hash_sha256_BYTES]);

#endif
