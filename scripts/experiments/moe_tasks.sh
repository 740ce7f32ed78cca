#!/usr/bin/env bash
# The mixture-of-experts II results of docs/results/moe-tasks.md (issue 29), on the Austen passage
# tasks, from the language models of scripts/experiments/moe.sh (run that first):
#   A. shared vs task-aware routing (task, task-embedding): tasks novel, dialogue (low-resource:
#      30 training passages, 1 % of the others' 3,000), half, question; period unseen (served by
#      the most related trained task's route); 3 seeds, each from that seed's Switch LM;
#   B. robustness: the same without the unrelated task (question), shared and task routing;
#   C. per-task extraction from the task-routed runs (threshold 0 and 0.05);
#   D. RMoE: dense LM → fine-tune, dense LM → upcycle → fine-tune (core frozen / not), Switch LM →
#      fine-tune; novel attribution, one fine-tuning seed per pretraining seed.
# Resumable (finished runs are skipped); small outputs are copied to docs/results/moe-tasks/.
#   scripts/experiments/moe_tasks.sh [LM_RUNS] [OUT]   (AMALGAM, JOBS, SEEDS, STEPS as in moe.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
LM=${1:-runs/moe/lm}
OUT=${2:-runs/moe-tasks}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
scripts/setup-austen.sh
RAW=docs/results/moe-tasks
SEEDS=${SEEDS:-"0 1 2"}; JOBS=${JOBS:-2}; STEPS=${STEPS:-1500}
export A LM OUT RAW STEPS

mt() {  # name routing seed tasks unseen
    local d="$OUT/$1/$2/seed$3" u="" r=""
    [ -f "$d/summary.json" ] && return 0
    mkdir -p "$d"
    [ -n "$5" ] && u="--unseen $5"
    [ -f "$d/training-state.safetensors" ] && r="--resume"
    "$A" moe multitask --from "$LM/switch/seed$3" --tasks "$4" $u --routing "$2" --low-resource dialogue:30 --steps "$STEPS" \
        --seed "$3" --threads 1 --out "$d" $r > "$d/log.txt" 2>&1
    mkdir -p "$RAW/$1/$2/seed$3"
    cp "$d"/{summary.json,multitask.json,log.txt} "$RAW/$1/$2/seed$3/"
}
ex() {  # seed task threshold
    local d="$OUT/extract/$2-t$3/seed$1"
    [ -f "$d/extraction.json" ] && return 0
    "$A" moe extract --from "$OUT/four/task/seed$1" --task "$2" --threshold "$3" --threads 1 --out "$d" > /dev/null
    mkdir -p "$RAW/extract/$2-t$3/seed$1"; cp "$d/extraction.json" "$RAW/extract/$2-t$3/seed$1/"
}
rm_() {  # variant seed
    local d="$OUT/rmoe/$1/seed$2" from="$LM/dense/seed$2" f=""
    [ -f "$d/summary.json" ] && return 0
    mkdir -p "$d"
    case $1 in
        dense) ;;
        switch) from="$LM/switch/seed$2" ;;
        rmoe|rmoe-frozen-core)
            [ -f "$OUT/upcycled/seed$2/model.safetensors" ] || "$A" moe upcycle --from "$LM/dense/seed$2" --experts 8 --seed "$2" --out "$OUT/upcycled/seed$2" > /dev/null
            from="$OUT/upcycled/seed$2"; [ "$1" = rmoe-frozen-core ] && f="--freeze-core" ;;
    esac
    "$A" moe finetune --from "$from" --task austen --seed 0 --threads 1 --out "$d" $f > "$d/log.txt" 2>&1
    mkdir -p "$RAW/rmoe/$1/seed$2"; cp "$d"/{summary.json,finetune.json,log.txt} "$RAW/rmoe/$1/seed$2/"
}
export -f mt ex rm_

for s in $SEEDS; do
    echo "four shared $s novel,dialogue,half,question -"
    echo "four task $s novel,dialogue,half,question period"
    echo "four task-embedding $s novel,dialogue,half,question period"
    echo "three shared $s novel,dialogue,half -"
    echo "three task $s novel,dialogue,half -"
done | xargs -P "$JOBS" -L 1 bash -c 'mt "$0" "$1" "$2" "$3" "$([ "$4" = - ] || echo "$4")"'
for s in $SEEDS; do for t in novel dialogue half question; do for th in 0 0.05; do echo "$s $t $th"; done; done; done | xargs -P "$JOBS" -L 1 bash -c 'ex "$0" "$1" "$2"'
for s in $SEEDS; do for v in dense rmoe rmoe-frozen-core switch; do echo "$v $s"; done; done | xargs -P "$JOBS" -L 1 bash -c 'rm_ "$0" "$1"'
"$A" moe report "$OUT"/rmoe/*/seed* > "$RAW/rmoe-table.md"
python3 scripts/experiments/moe_tasks_report.py "$RAW" > "$RAW/tables.md"
