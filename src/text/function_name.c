/* Function name rule (function_name.h). */
#include "text/function_name.h"

#include <string.h>

bool cn_function_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!cn_function_name_char(name[i])) return false;
    return true;
}
