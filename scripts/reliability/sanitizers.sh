#!/usr/bin/env bash
# Runs the test suite under a sanitizer (issue 25, item 4), in its own build directory
# (.build-<sanitizer>) so the normal build is untouched, and prints the build and test times.
#
#   scripts/reliability/sanitizers.sh address   [test filter]
#   scripts/reliability/sanitizers.sh thread    [test filter]
#   scripts/reliability/sanitizers.sh undefined
#   CONFIG=release scripts/reliability/sanitizers.sh thread [test filter]
#
# CONFIG=release builds the suite optimised (directory .build-<sanitizer>-release): under
# ThreadSanitizer the debug suite runs about five times slower than under AddressSanitizer, and
# its command-line tests, which train networks in a sanitized debug `amalgam`, take hours.
#
# swiftc has no -sanitize=undefined on Linux ("unsupported option"; SwiftPM lists it, the
# compiler refuses it): Swift code traps on overflow, out-of-bounds and nil by construction, in
# debug and release alike. The package's one C file, the oneDNN shim, is checked under
# UndefinedBehaviorSanitizer (and AddressSanitizer) by `undefined`: it builds the shim with the
# probe scripts/reliability/threads.c, which creates and runs convolutions (forward, backward
# data and weights) and products through it, and fails on the first report.
# Leak reports are off (ASAN_OPTIONS=detect_leaks=0): the Swift runtime keeps metadata for the
# life of the process, and memory bounds are checked by the fuzzers' limits instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
san=${1:?address, thread or undefined}
filter=${2:-}
if [ "$san" = undefined ]; then
    start=$(date +%s)
    cc -O1 -g -fsanitize=undefined,address -fno-sanitize-recover=all -I Sources/CAmalgamDNNL/include \
        scripts/reliability/threads.c Sources/CAmalgamDNNL/amalgam_dnnl.c -ldl -lopenblas -o /tmp/amalgam-threads-ubsan
    ASAN_OPTIONS=detect_leaks=0 /tmp/amalgam-threads-ubsan
    echo "sanitizer undefined (oneDNN shim, scripts/reliability/threads.c): $(( $(date +%s) - start )) s, clean"
    exit 0
fi
export AMALGAM_REQUIRE_DATA=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
config=${CONFIG:-debug}
scratch=".build-$san"
flags=()
# Optimised test builds need -enable-testing for the tests' @testable imports.
[ "$config" = release ] && scratch=".build-$san-release" && flags=(-Xswiftc -enable-testing)
start=$(date +%s)
swift build -c "$config" --build-tests --sanitize="$san" --scratch-path "$scratch" "${flags[@]}"
built=$(date +%s)
swift test -c "$config" --skip-build --sanitize="$san" --scratch-path "$scratch" "${flags[@]}" --disable-swift-testing ${filter:+--filter "$filter"}
end=$(date +%s)
echo "sanitizer $san ($config)${filter:+ (filter $filter)}: build $((built - start)) s, tests $((end - built)) s"
