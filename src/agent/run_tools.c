/* The run's tool set from its stored settings (run_tools.h). */
#include "agent/run_tools.h"

cn_status cn_run_tools_build(const cn_run_tools_config *cfg, cn_toolbox **out, cn_error *err) {
    (void)cfg;
    cn_toolbox *tb;
    cn_status s = cn_toolbox_create(&tb, err);
    if (s != CN_OK) return s;
    s = cn_tools_add_files(tb, err);
    if (s != CN_OK) {
        cn_toolbox_destroy(tb);
        return s;
    }
    *out = tb;
    return CN_OK;
}
