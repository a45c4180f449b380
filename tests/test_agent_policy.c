/* The agent's run policy parser (agent/policy.h) and tool text conversion (agent/tool_text.h):
 * the documented defaults (docs/agent.md, "Policy"), a full policy read back field by field,
 * errors that name the field, and U+FFFD substitution for NUL bytes, ill-formed and cut-off
 * UTF-8 (expected bytes written out by hand). */
#include <stdlib.h>
#include <string.h>

#include "agent/policy.h"
#include "agent/tool_text.h"
#include "harness.h"

static void test_defaults(void) {
    cn_policy p;
    cn_error err = {0};
    CHECK(cn_policy_parse(NULL, &p, &err) == CN_OK);
    CHECK(p.shell && !p.shell_network && p.n_http_get_hosts == 0 && p.n_read_only_paths == 0);
    CHECK(p.cgroup == CN_POLICY_CGROUP_AUTO);
    CHECK(p.limits.timeout_s == 30 && p.limits.cpu_s == 30 && p.limits.memory_bytes == 1073741824 &&
          p.limits.output_bytes == 65536 && p.limits.file_bytes == 1073741824 && p.limits.max_processes == 64);
    cn_policy_free(&p);
    CHECK(cn_policy_parse("{}", &p, &err) == CN_OK && p.shell && p.limits.timeout_s == 30);
    cn_policy_free(&p);
}

static void test_full(void) {
    const char *text = "{\"shell\": false, \"shell_network\": true, \"http_get_hosts\": [\"example.org\", \"127.0.0.1\", "
                       "\"[::1]\"], \"read_only_paths\": [\"/usr/share\"], \"limits\": {\"timeout_s\": 5, \"cpu_s\": 7, "
                       "\"memory_bytes\": 134217728, \"output_bytes\": 100, \"file_bytes\": 1000, \"max_processes\": 8}, "
                       "\"cgroup\": \"required\"}";
    cn_policy p;
    cn_error err = {0};
    CHECKF(cn_policy_parse(text, &p, &err) == CN_OK, "%s", err.msg);
    CHECK(!p.shell && p.shell_network);
    CHECK(p.n_http_get_hosts == 3 && !strcmp(p.http_get_hosts[0], "example.org") &&
          !strcmp(p.http_get_hosts[2], "[::1]"));
    CHECK(p.n_read_only_paths == 1 && !strcmp(p.read_only_paths[0], "/usr/share"));
    CHECK(p.limits.timeout_s == 5 && p.limits.cpu_s == 7 && p.limits.memory_bytes == 134217728 &&
          p.limits.output_bytes == 100 && p.limits.file_bytes == 1000 && p.limits.max_processes == 8);
    CHECK(p.cgroup == CN_POLICY_CGROUP_REQUIRED);
    cn_policy_free(&p);
    CHECK(cn_policy_parse("{\"cgroup\": \"off\"}", &p, &err) == CN_OK && p.cgroup == CN_POLICY_CGROUP_OFF);
    cn_policy_free(&p);
}

static void test_errors(void) {
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"network\": true}", "policy: unknown key \"network\""},
        {"{\"shell_network\": 1}", "policy: shell_network must be true or false"},
        {"{\"limits\": {\"max_processes\": 3}}", "policy: limits.max_processes must be an integer from 4 to 4096"},
        {"{\"limits\": {\"output_bytes\": 16777217}}", "policy: limits.output_bytes must be an integer from 1 to 16777216"},
        {"{\"limits\": {\"cpu_s\": null}}", "policy: limits.cpu_s must be an integer"},
        {"{\"http_get_hosts\": [\"example.org:8080\"]}", "policy: http_get_hosts[0] \"example.org:8080\" is not a host"},
        {"{\"http_get_hosts\": [\"\"]}", "policy: http_get_hosts[0] \"\" is not a host"},
        {"{\"read_only_paths\": [\"/usr/\"]}", "policy: read_only_paths[0] \"/usr/\" is not normalized"},
        {"{\"read_only_paths\": [\"/usr\", \"/workspace/x\"]}", "policy: read_only_paths[1] \"/workspace/x\" lies in"},
        {"\"shell\"", "policy: the document must be a JSON object"},
        {"{\"cgroup\": \"yes\"}", "policy: cgroup must be \"auto\", \"required\" or \"off\""},
        {"{\"cgroup\": true}", "policy: cgroup must be \"auto\", \"required\" or \"off\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cn_policy p;
        cn_error err = {0};
        cn_status s = cn_policy_parse(cases[i].text, &p, &err);
        CHECKF(s != CN_OK && strstr(err.msg, cases[i].message), "%s: got \"%s\"", cases[i].text, err.msg);
        CHECK(p.n_http_get_hosts == 0 && p.http_get_hosts == NULL && p.read_only_paths == NULL);
    }
}

static void test_text(void) {
    /* "a", NUL, "b", a lone continuation byte, "é", and the first two bytes of "€" cut off. */
    const char in[] = {'a', 0, 'b', (char)0x80, (char)0xC3, (char)0xA9, (char)0xE2, (char)0x82};
    char *out = cn_tool_text_lossy(in, sizeof in);
    CHECK(out && !strcmp(out, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xC3\xA9\xEF\xBF\xBD"));
    free(out);
    CHECK(cn_tool_text_is_text("plain \xC3\xA9", 8));
    CHECK(cn_tool_text_is_text("cut \xE2\x82", 6));      /* a body truncated inside a character */
    CHECK(!cn_tool_text_is_text("nul \0 x", 7));
    CHECK(!cn_tool_text_is_text("bad \xFF x", 7));
}

int main(void) {
    test_defaults();
    test_full();
    test_errors();
    test_text();
    return cn_test_finish("test_agent_policy");
}
