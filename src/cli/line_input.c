#include "cli/line_input.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

bool line_input_interactive(void) { return isatty(STDIN_FILENO) != 0; }

char *line_input_read(const char *prompt) {
    if (line_input_interactive()) {
        static bool locale_set;
        if (!locale_set) {
            /* libedit edits multibyte (UTF-8) characters only under a UTF-8 character type;
             * LC_CTYPE alone leaves number formatting alone. */
            setlocale(LC_CTYPE, "");
            locale_set = true;
        }
        char *line = readline(prompt);
        if (line && line[0]) add_history(line);
        return line;
    }
    char *line = NULL;
    size_t capacity = 0;
    ssize_t n = getline(&line, &capacity, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    if (n > 0 && line[n - 1] == '\r') line[--n] = '\0';
    return line;
}
