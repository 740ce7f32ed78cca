#!/usr/bin/env bash
# Runs the test suite under a sanitizer (issue 25, item 4), in its own build directory
# (.build-<sanitizer>) so the normal build is untouched, and prints the build and test times.
#
#   scripts/reliability/sanitizers.sh address [test filter]
#   scripts/reliability/sanitizers.sh thread  [test filter]
#
# Swift has no -sanitize=undefined on Linux: Swift code traps on overflow, out-of-bounds and
# nil by construction, in debug and release alike; the one C file (the oneDNN shim) is plain
# calls. Leak reports are off (ASAN_OPTIONS=detect_leaks=0): the Swift runtime keeps metadata
# for the life of the process, and memory bounds are checked by the fuzzers' limits instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
san=${1:?address or thread}
filter=${2:-}
export AMALGAM_REQUIRE_DATA=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
start=$(date +%s)
swift build --build-tests --sanitize="$san" --scratch-path ".build-$san"
built=$(date +%s)
swift test --skip-build --sanitize="$san" --scratch-path ".build-$san" --disable-swift-testing ${filter:+--filter "$filter"}
end=$(date +%s)
echo "sanitizer $san${filter:+ (filter $filter)}: build $((built - start)) s, tests $((end - built)) s"
