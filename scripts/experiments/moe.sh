#!/usr/bin/env bash
# The mixture-of-experts results of docs/results/moe.md (issue 28):
#   1. language models on the Austen novels, routers dense / switch / xmoe / stablemoe / hash,
#      3 seeds each, the same recipe and the same tokens (equal training FLOPs: top-1 and dense
#      have one FFN of the same width per token);
#   2. novel-attribution fine-tuning of the seed-0 models of switch and xmoe with and without
#      --freeze-router, and of stablemoe, 3 fine-tuning seeds each;
#   3. the tables (amalgam moe report).
# Every run is resumable (a finished one is skipped, an interrupted one resumes); each finished
# run's small files are copied to docs/results/moe/ to be committed.
#   scripts/experiments/moe.sh [OUT]     (AMALGAM=path to a release binary to reuse one;
#                                         JOBS=parallel runs, 1 thread each; STEPS; SEEDS)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/moe}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
scripts/setup-austen.sh
RAW=docs/results/moe
STEPS=${STEPS:-1000}; SEEDS=${SEEDS:-"0 1 2"}; JOBS=${JOBS:-2}
export A OUT RAW STEPS

lm() {  # router seed
    local d="$OUT/lm/$1/seed$2" r=""
    [ -f "$d/summary.json" ] && return 0
    mkdir -p "$d"
    [ -f "$d/training-state.safetensors" ] && r="--resume"
    "$A" moe train --router "$1" --seed "$2" --steps "$STEPS" --threads 1 --out "$d" $r > "$d/log.txt" 2>&1
    mkdir -p "$RAW/lm/$1/seed$2"
    cp "$d"/{summary.json,metrics.jsonl,config.json,routing.json,log.txt} "$RAW/lm/$1/seed$2/"
}
ft() {  # router freeze(0/1) seed
    local name="$1$([ "$2" = 1 ] && echo -frozen)" f=""
    local d="$OUT/finetune/$name/seed$3" r=""
    [ -f "$d/summary.json" ] && return 0
    mkdir -p "$d"
    [ "$2" = 1 ] && f="--freeze-router"
    [ -f "$d/training-state.safetensors" ] && r="--resume"
    "$A" moe finetune --from "$OUT/lm/$1/seed0" --task austen --seed "$3" --threads 1 --out "$d" $f $r > "$d/log.txt" 2>&1
    mkdir -p "$RAW/finetune/$name/seed$3"
    cp "$d"/{summary.json,finetune.json,routing.json,log.txt} "$RAW/finetune/$name/seed$3/"
}
export -f lm ft

# Seeds outermost, so that a cut-off run leaves whole seeds of every router.
for s in $SEEDS; do for r in dense switch xmoe stablemoe hash; do echo "$r $s"; done; done | xargs -P "$JOBS" -L 1 bash -c 'lm "$0" "$1"'
[ "${PHASE:-all}" = lm ] && exit 0
for s in $SEEDS; do for rf in "switch 0" "switch 1" "xmoe 0" "xmoe 1" "stablemoe 0"; do echo "$rf $s"; done; done | xargs -P "$JOBS" -L 1 bash -c 'ft "$0" "$1" "$2"'
"$A" moe report "$OUT"/lm/*/seed* --markdown > "$RAW/lm-table.md"
"$A" moe report "$OUT"/finetune/*/seed* --markdown > "$RAW/finetune-table.md"
