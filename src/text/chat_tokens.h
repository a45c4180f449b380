/* The DeepSeek-V4 control tokens the chat encoder emits (specs/deepseek-v4.md section 12; strings
 * exactly as in tokenizer.json's added_tokens, with U+FF5C fullwidth bars and U+2581). */
#ifndef CN_TEXT_CHAT_TOKENS_H
#define CN_TEXT_CHAT_TOKENS_H

#define CN_CHAT_BOS "<｜begin▁of▁sentence｜>"
#define CN_CHAT_EOS "<｜end▁of▁sentence｜>"
#define CN_CHAT_USER "<｜User｜>"
#define CN_CHAT_ASSISTANT "<｜Assistant｜>"
#define CN_CHAT_LATEST_REMINDER "<｜latest_reminder｜>"
#define CN_CHAT_THINK_START "<think>"
#define CN_CHAT_THINK_END "</think>"
#define CN_CHAT_DSML "｜DSML｜"

#define CN_CHAT_TASK_ACTION "<｜action｜>"
#define CN_CHAT_TASK_QUERY "<｜query｜>"
#define CN_CHAT_TASK_AUTHORITY "<｜authority｜>"
#define CN_CHAT_TASK_DOMAIN "<｜domain｜>"
#define CN_CHAT_TASK_TITLE "<｜title｜>"
#define CN_CHAT_TASK_READ_URL "<｜read_url｜>"

#endif
