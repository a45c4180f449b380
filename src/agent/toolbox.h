/* The set of tools one agent run offers the model: the built-in workspace file tools (tools.h),
 * the sandboxed shell and HTTP GET tools a policy grants, and the tools of configured MCP servers.
 * Providers add tools when the run starts; the step loop finds them by name, lists them in every
 * model request (in insertion order, so the request bytes are stable) and dispatches through
 * cn_tool.run. The toolbox owns the name/description/schema strings; a provider's state (impl)
 * is released by the hook it registers with cn_toolbox_on_destroy. A provider whose tools can
 * change while the run goes on (an MCP server's notifications/tools/list_changed) registers a
 * refresh hook; the step loop calls cn_toolbox_refresh between steps, never during a call. */
#ifndef CN_AGENT_TOOLBOX_H
#define CN_AGENT_TOOLBOX_H

#include <stddef.h>

#include "agent/tools.h"

typedef struct cn_toolbox cn_toolbox;

cn_status cn_toolbox_create(cn_toolbox **out, cn_error *err);
/* Releases every tool and runs the providers' destroy hooks, last registered first. */
void cn_toolbox_destroy(cn_toolbox *tb);

/* Adds a tool (strings copied). Refuses a name that is not [A-Za-z0-9_-]{1,64} (the OpenAI function
 * name rule), a duplicate name, and parameters that are not a JSON object. */
cn_status cn_toolbox_add(cn_toolbox *tb, const char *name, const char *description, const char *parameters,
                         cn_tool_class cls, cn_tool_run_fn run, void *impl, cn_error *err);

/* Adds a tool at position pos (<= count), the later ones moving up. Same checks as cn_toolbox_add. */
cn_status cn_toolbox_insert(cn_toolbox *tb, size_t pos, const char *name, const char *description,
                            const char *parameters, cn_tool_class cls, cn_tool_run_fn run, void *impl, cn_error *err);
/* Removes the tool at pos (its impl stays the provider's), the later ones moving down. */
void cn_toolbox_remove_at(cn_toolbox *tb, size_t pos);

/* Registers fn(ctx, tb, err) to bring a provider's tools up to date (cn_toolbox_refresh). */
cn_status cn_toolbox_on_refresh(cn_toolbox *tb, cn_status (*fn)(void *ctx, cn_toolbox *tb, cn_error *err), void *ctx,
                                cn_error *err);
/* Runs every refresh hook in registration order. Only what the run cannot go on without (out of
 * memory) is an error: a provider that cannot refresh keeps its tools and says so on progress. */
cn_status cn_toolbox_refresh(cn_toolbox *tb, cn_error *err);

/* Registers fn(ctx) to run at cn_toolbox_destroy (a provider's connections, processes, policy). */
cn_status cn_toolbox_on_destroy(cn_toolbox *tb, void (*fn)(void *ctx), void *ctx, cn_error *err);

const cn_tool *cn_toolbox_find(const cn_toolbox *tb, const char *name);
size_t cn_toolbox_count(const cn_toolbox *tb);
const cn_tool *cn_toolbox_at(const cn_toolbox *tb, size_t i);

#endif
