/* The clawnet command: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cn_cmd_run, "complete a raw prompt (text or token ids), streaming"},
    {"chat", cn_cmd_chat, "an interactive conversation in the DeepSeek-V4 chat format"},
    {"serve", cn_cmd_serve, "an OpenAI- and Anthropic-compatible HTTP server (streaming, batching)"},
    {"logits", cn_cmd_logits, "write the f32 logits of every prompt position to a file"},
    {"eval", cn_cmd_eval, "KL, top-1 agreement and perplexity of a model against a reference"},
    {"bench", cn_cmd_bench, "measure prefill and decode speed against this machine's ceilings"},
    {"quantize", cn_cmd_quantize, "requantise a checkpoint into a llama.cpp-style deepseek4 GGUF"},
    {"agent", cn_cmd_agent, "run, resume, inspect and verify durable tool-using agent runs"},
    {"info", cn_cmd_info, "print a checkpoint's configuration, tensors and parameter counts"},
    {"tokenize", cn_cmd_tokenize, "text lines to token ids and back (DeepSeek-V4 tokenizer.json)"},
    {"bench-constraint", cn_cmd_bench_constraint, "time one JSON / tool-call constraint mask over the vocabulary"},
    {"bench-kv-store", cn_cmd_bench_kv_store, "time saves and restores of the persistent prefix store (kv/store.h)"},
};

static void usage(FILE *f) {
    fputs("usage: clawnet COMMAND [options]   (clawnet COMMAND --help for details)\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\nMODEL is a DeepSeek-V4 checkpoint directory (config.json + *.safetensors, official or\n"
          "transformers tensor names) or a GGUF file (architecture deepseek4).\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("clawnet " CLAWNET_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clawnet: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
