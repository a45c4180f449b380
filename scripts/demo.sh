#!/usr/bin/env bash
# The first run (README, `make demo`): hk-tiny, the small trilingual model that ships in
# models/hk-tiny, continues a sentence in English, Standard Written Chinese and Cantonese, then
# opens an interactive chat when stdin is a terminal. hk-tiny is a 28 M-parameter demonstration
# (models/hk-tiny/README.md): expect fluent-looking fragments, not facts.
#   scripts/demo.sh [CLAWNET_BINARY]     (default build/clawnet)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/clawnet}
MODEL=models/hk-tiny/hk-tiny.gguf
SAMPLING=(--temp 0.7 --top-k 40 --seed 7)
[ -x "$BIN" ] || { echo "demo: $BIN not found: build first (make build)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "demo: $MODEL not found (git lfs is not used: is the checkout complete?)" >&2; exit 1; }

BOS="<｜begin▁of▁sentence｜>"  # every training record began with it; run -p adds nothing by itself

complete() {  # LANGUAGE PROMPT
    printf '\n== %s ==\n%s' "$1" "$2"
    "$BIN" run -m "$MODEL" -p "$BOS$2" -n 48 "${SAMPLING[@]}"
}
"$BIN" info --summary "$MODEL" | sed -n '/^configuration/,/^layer schedule/p'
complete "English" "Hong Kong is a city where"
complete "Standard Written Chinese" "香港是一個國際城市，"
complete "Cantonese" "我哋今晚去"
if [ -t 0 ]; then
    printf '\n== chat (type a message; /help for commands, Ctrl-D to quit) ==\n'
    exec "$BIN" chat -m "$MODEL" -n 128 "${SAMPLING[@]}"
fi
printf '\n(stdin is not a terminal: skipping the interactive chat; try %s chat -m %s)\n' "$BIN" "$MODEL"
