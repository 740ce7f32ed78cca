#!/usr/bin/env bash
# Fuzzes every reader with libFuzzer (issue 25, item 3): builds the targets of Fuzz/ with
# -sanitize=fuzzer,address and runs each from its seed corpus (Fuzz/Corpus/<target>, made by
# make_fuzz_corpus.py) until it has executed RUNS inputs or spent SECONDS, whichever is first,
# under libFuzzer's limits: 2 GB resident, no single allocation over 1 GB, 10 s per input.
# libFuzzer's in-run leak hunting is off (-detect_leaks=0: it stops a run at the first leak);
# AddressSanitizer's leak check at exit stays on, so a run that leaked ends FOUND in the summary
# (how Foundation's 4 KiB leak per empty file read was found; readFile avoids it since).
# A crash, sanitizer report, leak of the limits, hang, or an error message that does not name
# its file on one line (FuzzSupport.expectCleanOutcome) stops the target and leaves the input
# as OUT/<target>-crash-*; the regression tests keep what was found.
#
#   scripts/reliability/fuzz.sh [RUNS (default 1000000)] [SECONDS (default 900)] [targets...]
#
# Writes OUT/<target>.log (libFuzzer's output) and OUT/summary.tsv (executions, time,
# executions per second, coverage, features, corpus size, status per target);
# OUT defaults to docs/reliability/fuzz.
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1000000}; seconds=${2:-900}
shift 2 2>/dev/null || shift $#
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(FuzzSafeTensors FuzzIDX FuzzCSV FuzzLIBSVM FuzzWordPiece FuzzBertConfig FuzzCheckpoint FuzzNPY FuzzWAV)
out=${FUZZ_OUT:-docs/reliability/fuzz}
mkdir -p "$out"
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
swift build --package-path Fuzz "${flags[@]}" || exit 1
bin=$(swift build --package-path Fuzz "${flags[@]}" --show-bin-path)
[ -f "$out/summary.tsv" ] || printf "target\texecutions\tseconds\texec_per_s\tcoverage\tfeatures\tcorpus\tstatus\n" > "$out/summary.tsv"
for t in "${targets[@]}"; do
    work=$(mktemp -d)
    cp Fuzz/Corpus/"$t"/* "$work"/
    start=$(date +%s)
    "$bin/$t" "$work" -runs="$runs" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -detect_leaks=0 \
        -print_final_stats=1 -artifact_prefix="$out/$t-" > "$out/$t.log" 2>&1
    status=$?
    end=$(date +%s)
    execs=$(grep 'stat::number_of_executed_units:' "$out/$t.log" | tail -1 | awk '{print $2}')
    persec=$(grep 'stat::average_exec_per_sec:' "$out/$t.log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$out/$t.log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
    corpus=$(ls "$work" | wc -l)
    verdict=$([ $status -eq 0 ] && echo clean || echo "FOUND (exit $status)")
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$t" "${execs:-0}" "$((end - start))" "${persec:-0}" "${cov:-?}" "${ft:-?}" "$corpus" "$verdict" | tee -a "$out/summary.tsv"
    rm -rf "$work"
done
