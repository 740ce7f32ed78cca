#!/usr/bin/env bash
# Carries the unfinished merging experiments (scripts/experiments/merging_sweep.sh) from one
# machine to another: `pack` copies from RUNS_DIR what `amalgam merge --resume` needs to go on,
# `unpack` puts it back under a RUNS_DIR on the next machine. A run's finished seeds live in its
# summary.json; for each unfinished seed the state is
#   - every phase record (phase-*.json): a finished phase is not trained again;
#   - the teachers' weights (merging and the ensemble need them) and the merged student's;
#   - the wide network after its gate phase, only while the merged student is not finished;
#   - the phase in progress (phase-*.progress.safetensors), which resumes at its last save.
# The weights of the baselines (long, best-of-3 candidates, the equal-compute model) are left
# out: the experiment keeps only their accuracy and resumes them from their records alone.
#   scripts/experiments/merging_state.sh pack RUNS_DIR STATE_DIR
#   scripts/experiments/merging_state.sh unpack STATE_DIR RUNS_DIR
set -euo pipefail
usage() { echo "usage: $0 pack RUNS_DIR STATE_DIR | unpack STATE_DIR RUNS_DIR" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1 from=$2 to=$3
[ -d "$from" ] || { echo "$0: $from is not a directory" >&2; exit 1; }

finished_seeds() {  # the seeds in RUN/summary.json, one per line
    [ -f "$1/summary.json" ] || return 0
    python3 -c 'import json,sys; [print(s) for s in json.load(open(sys.argv[1]))["seeds"]]' "$1/summary.json"
}

case $mode in
pack)
    mkdir -p "$to"
    for run in "$from"/*/; do
        run=${run%/}; name=$(basename "$run")
        [ -f "$run/summary.json" ] || ls "$run"/seed*/phase-* >/dev/null 2>&1 || continue
        rm -rf "${to:?}/$name"; mkdir -p "$to/$name"
        [ -f "$run/summary.json" ] && cp "$run/summary.json" "$to/$name/"
        done_seeds=$(finished_seeds "$run")
        for seed_dir in "$run"/seed*/; do
            seed_dir=${seed_dir%/}; seed=${seed_dir##*/seed}
            grep -qx "$seed" <<<"$done_seeds" && continue
            out="$to/$name/seed$seed"; mkdir -p "$out"
            # Weights are <phase>.safetensors (phase-<phase>.safetensors before the models were written once).
            for f in "$seed_dir"/phase-*.json "$seed_dir"/teacher-*.safetensors "$seed_dir"/merged.safetensors \
                     "$seed_dir"/phase-teacher-*.safetensors "$seed_dir"/phase-merged.safetensors "$seed_dir"/phase-*.progress.safetensors; do
                [ -f "$f" ] && cp "$f" "$out/"
            done
            if [ ! -f "$seed_dir/phase-merged.json" ]; then
                for g in "$seed_dir/gates.safetensors" "$seed_dir/phase-gates.safetensors"; do [ -f "$g" ] && cp "$g" "$out/"; done
            fi
            # A weights file without its record is an unfinished save: the record is written last.
            for w in "$out"/*.safetensors; do
                [ -f "$w" ] || continue
                case $w in *.progress.safetensors) continue ;; esac
                b=$(basename "$w" .safetensors); b=${b#phase-}
                [ -f "$out/phase-$b.json" ] || rm -f "$w"
            done
        done
        echo "$name: $(du -sh "$to/$name" | cut -f1)"
    done
    ;;
unpack)
    mkdir -p "$to"
    cp -a "$from"/. "$to"/
    ;;
*) usage ;;
esac
