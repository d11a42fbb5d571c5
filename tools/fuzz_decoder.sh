#!/usr/bin/env bash
# Fuzz the C frame decoder under AddressSanitizer + UndefinedBehaviorSanitizer; exits non-zero on any crash.
#
#   tools/fuzz_decoder.sh [RUNS]      (default 1000000 inputs for each of the two targets)
#
# 1. tools/fuzz_decoder_harness.c: libFuzzer target (clang -fsanitize=fuzzer when clang is installed); with gcc
#    only, the same target runs under its built-in structure-aware driver (valid streams + damage, random bytes).
# 2. tools/fuzz_decoder_atheris.py: atheris (libFuzzer) over an ASan+UBSan cffi build of the decoder, with
#    comparison feedback (-fsanitize-coverage=trace-cmp, -use_value_profile=1).
# Both run at low priority (nice) on one core each, one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-1000000}"
PY="${PYTHON:-.venv/bin/python}"
OUT=build/fuzz
mkdir -p "$OUT"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
SOURCES="tools/fuzz_decoder_harness.c native/src/frames.c native/src/sha256.c"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== 1/2 C harness ($RUNS inputs)"
if command -v clang >/dev/null 2>&1 && echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' \
        | clang -x c - -fsanitize=fuzzer -o /dev/null 2>/dev/null; then
    # shellcheck disable=SC2086
    clang -O1 -g -std=c11 $SAN -fsanitize=fuzzer -Inative/src $SOURCES -o "$OUT/fuzz_decoder_libfuzzer"
    mkdir -p "$OUT/corpus_c"
    nice -n 10 "$OUT/fuzz_decoder_libfuzzer" -runs="$RUNS" -max_len=1024 "$OUT/corpus_c"
else
    echo "(no clang with libFuzzer: gcc build with the standalone driver)"
    # shellcheck disable=SC2086
    gcc -O1 -g -std=c11 $SAN -DASICRC_STANDALONE_DRIVER -Inative/src $SOURCES -o "$OUT/fuzz_decoder_standalone"
    nice -n 10 "$OUT/fuzz_decoder_standalone" "$RUNS" "${FUZZ_SEED:-1}"
fi

echo "== 2/2 atheris over the ASan+UBSan cffi build ($RUNS inputs)"
"$PY" tools/fuzz_build_asan.py "$OUT" >/dev/null
mkdir -p "$OUT/corpus"
"$PY" tools/fuzz_decoder_atheris.py --seed-corpus "$OUT/corpus"
RUNTIME="$("$PY" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
status=0
LD_PRELOAD="$RUNTIME" ASICRC_FUZZ_BUILD="$OUT" nice -n 10 "$PY" tools/fuzz_decoder_atheris.py \
    -runs="$RUNS" -max_len=512 -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$OUT/" "$OUT/corpus" >"$OUT/atheris.log" 2>&1 \
    || status=$?
grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Traceback|AssertionError|ERROR)' "$OUT/atheris.log" || true
if [ "$status" -ne 0 ]; then
    echo "fuzz_decoder: atheris target FAILED (exit $status), see $OUT/atheris.log and the crash-* file" >&2
    exit "$status"
fi
echo "fuzz_decoder: OK, 0 crashes"
