/* Reading the user's lines: libedit's readline (line editing, history) on a terminal, plain
 * getline otherwise, so `clawnet chat` can be driven through a pipe. */
#ifndef CN_CLI_LINE_INPUT_H
#define CN_CLI_LINE_INPUT_H

#include <stdbool.h>

/* True when stdin is a terminal (prompts are shown and lines go into the history). */
bool line_input_interactive(void);

/* The next line without its newline (free() it), or NULL at end of input (Ctrl-D). */
char *line_input_read(const char *prompt);

#endif
