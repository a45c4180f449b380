/* The options object of a golden chat case (tests/fixtures/chat/cases.json, written by
 * scripts/make_chat_fixtures.py in the reference encoder's terms) as cn_chat_options. */
#ifndef CN_TEST_CHAT_CASE_OPTIONS_H
#define CN_TEST_CHAT_CASE_OPTIONS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "text/chat_encode.h"

/* False if the case names a reasoning effort the encoder does not know. */
bool cn_test_chat_options(const cJSON *json, cn_chat_options *o);

#endif
