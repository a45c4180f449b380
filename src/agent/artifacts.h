/* Artifacts: tool results too large for the conversation, stored as files under the run
 * directory (RUN_DIR/artifacts/ID) and shown to the model as a short preview with the artifact's
 * id, size and SHA-256; the read_artifact tool pages through them (docs/agent.md, "Context for
 * long runs"). The journal's tool_result event records the id, size and hash instead of the text,
 * so the database grows by the preview, not the result, and the hash chain still pins the bytes.
 * Ids are "a<call ord>": a re-run of the same call (resume) rewrites the same file. */
#ifndef CN_AGENT_ARTIFACTS_H
#define CN_AGENT_ARTIFACTS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/toolbox.h"
#include "base/error.h"

#define CN_ARTIFACT_PREVIEW_BYTES 2048
#define CN_ARTIFACT_PAGE_MAX 8192 /* read_artifact's largest page: always below the spill threshold */

typedef struct {
    char id[32];
    size_t bytes;
    char sha256[65];
    char *message; /* what the model sees instead of the result (malloc'd) */
} cn_artifact;

/* Writes content to RUN_DIR/artifacts/a<ord> (temporary file, fsync, rename) and builds the
 * preview message. */
cn_status cn_artifact_spill(const char *run_dir, int64_t ord, const char *content, size_t len, cn_artifact *out,
                            cn_error *err);
void cn_artifact_free(cn_artifact *a);

/* Adds the read_artifact tool (read_only) reading artifacts of run_dir (copied). */
cn_status cn_artifacts_add_tool(cn_toolbox *tb, const char *run_dir, cn_error *err);
bool cn_artifacts_is_tool(const cn_tool *tool);

/* Deletes every artifact file (redaction mode, at run end). */
void cn_artifacts_remove_all(const char *run_dir);

#endif
