/* clawnet tokenize: text to token ids and back, one record per line, for scripts and the
 * differential tests against HF tokenizers. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <clawnet/clawnet.h>

#include "cli/args.h"
#include "cli/commands.h"

static const char tokenize_usage[] =
    "usage: clawnet tokenize --tokenizer PATH [--decode | --stats] [--added all|special|none] [-z]\n"
    "\n"
    "Reads UTF-8 text on stdin, one record per line, and prints for each line its token ids\n"
    "separated by single spaces: exactly HF tokenizers' Tokenizer.encode(line,\n"
    "add_special_tokens=False).ids, added tokens in the text recognised.\n"
    "\n"
    "  --tokenizer PATH  a tokenizer.json, a model directory containing one, or a GGUF file\n"
    "                    with tokenizer metadata (tokenizer.ggml.*, as llama.cpp writes it)\n"
    "  --decode          the reverse: each line holds ids, print the text they decode to\n"
    "                    (like HF decode(ids, skip_special_tokens=False))\n"
    "  --stats           print only totals: lines, characters, bytes, tokens, characters/token\n"
    "                    and bytes/token\n"
    "  --added MODE      which added tokens are recognised in the text: all (default, as HF),\n"
    "                    special (only those marked special), none (untrusted text: \"<｜User｜>\"\n"
    "                    is tokenized as plain text)\n"
    "  -z, --null-data   records end with a NUL byte instead of a newline, so text may contain\n"
    "                    newlines (id lists are still printed one per line; decoded texts end\n"
    "                    with NUL)\n"
    "\n"
    "Exit status: 0 on success, 1 on any error (invalid UTF-8, unknown id; message on stderr).\n";

typedef struct {
    long long lines, characters, bytes, tokens;
} tokenize_totals;

static long long count_characters(const char *s, size_t len) {
    long long n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool encode_record(const cn_tokenizer *tok, const char *line, size_t len, cn_added_tokens_mode mode, bool stats,
                          tokenize_totals *totals, long long record) {
    int32_t *ids;
    size_t n;
    cn_error err = {0};
    if (cn_tokenizer_encode(tok, line, len, mode, &ids, &n, &err) != CN_OK) {
        fprintf(stderr, "clawnet tokenize: record %lld: %s\n", record, err.msg);
        return false;
    }
    totals->lines++;
    totals->characters += count_characters(line, len);
    totals->bytes += (long long)len;
    totals->tokens += (long long)n;
    if (!stats) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    }
    free(ids);
    return true;
}

static bool decode_record(const cn_tokenizer *tok, const char *line, int separator, long long record) {
    int32_t *ids = NULL;
    int64_t n = 0;
    if (!cn_parse_ids(line, &ids, &n)) {
        fprintf(stderr, "clawnet tokenize: record %lld: bad id list\n", record);
        return false;
    }
    char *text;
    size_t len;
    cn_error err = {0};
    cn_status st = cn_tokenizer_decode(tok, ids, (size_t)n, &text, &len, &err);
    free(ids);
    if (st != CN_OK) {
        fprintf(stderr, "clawnet tokenize: record %lld: %s\n", record, err.msg);
        return false;
    }
    fwrite(text, 1, len, stdout);
    putchar(separator);
    free(text);
    return true;
}

/* PATH itself if it is a file, PATH/tokenizer.json if it is a directory. */
static char *tokenizer_file(const char *path) {
    struct stat st;
    size_t len = strlen(path);
    char *file = malloc(len + sizeof "/tokenizer.json");
    if (!file) return NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(file, len + sizeof "/tokenizer.json", "%s/tokenizer.json", path);
    else
        memcpy(file, path, len + 1);
    return file;
}

static bool parse_mode(const char *text, cn_added_tokens_mode *mode) {
    if (!strcmp(text, "all")) *mode = CN_ADDED_TOKENS_ALL;
    else if (!strcmp(text, "special")) *mode = CN_ADDED_TOKENS_SPECIAL_ONLY;
    else if (!strcmp(text, "none")) *mode = CN_ADDED_TOKENS_NONE;
    else return false;
    return true;
}

int cn_cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    bool decode = false, stats = false;
    int separator = '\n';
    cn_added_tokens_mode mode = CN_ADDED_TOKENS_ALL;
    for (int i = 1; i < argc; i++) {
        const char *value;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(tokenize_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (!(path = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "--decode")) {
            decode = true;
        } else if (!strcmp(argv[i], "--stats")) {
            stats = true;
        } else if (!strcmp(argv[i], "-z") || !strcmp(argv[i], "--null-data")) {
            separator = '\0';
        } else if (!strcmp(argv[i], "--added")) {
            if (!(value = cn_option_value(argc, argv, &i))) return 1;
            if (!parse_mode(value, &mode)) {
                fprintf(stderr, "clawnet tokenize: --added must be all, special or none, not \"%s\"\n", value);
                return 1;
            }
        } else {
            fprintf(stderr, "clawnet tokenize: unknown option \"%s\"\n\n%s", argv[i], tokenize_usage);
            return 1;
        }
    }
    if (!path) {
        fprintf(stderr, "clawnet tokenize: --tokenizer PATH is required\n\n%s", tokenize_usage);
        return 1;
    }
    if (decode && stats) {
        fputs("clawnet tokenize: --decode and --stats cannot be combined\n", stderr);
        return 1;
    }
    char *file = tokenizer_file(path);
    cn_tokenizer *tok = NULL;
    cn_error err = {0};
    if (!file || cn_tokenizer_load(file, &tok, &err) != CN_OK) {
        fprintf(stderr, "clawnet tokenize: %s\n", file ? err.msg : "out of memory");
        free(file);
        return 1;
    }
    free(file);

    tokenize_totals totals = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long long record = 0;
    bool ok = true;
    while (ok && (got = getdelim(&line, &cap, separator, stdin)) >= 0) {
        record++;
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == (char)separator) line[--len] = '\0';
        ok = decode ? decode_record(tok, line, separator, record) : encode_record(tok, line, len, mode, stats, &totals, record);
    }
    free(line);
    cn_tokenizer_free(tok);
    if (ok && stats) {
        printf("lines %lld\ncharacters %lld\nbytes %lld\ntokens %lld\n", totals.lines, totals.characters, totals.bytes,
               totals.tokens);
        printf("characters/token %.4f\nbytes/token %.4f\n", totals.tokens ? (double)totals.characters / (double)totals.tokens : 0.0,
               totals.tokens ? (double)totals.bytes / (double)totals.tokens : 0.0);
    }
    if (fflush(stdout) != 0) ok = false;
    return ok ? 0 : 1;
}
