#!/usr/bin/env bash
# Run every benchmark in bench/ once, strictly one after another (never two at once: the machine is shared),
# with the sizes used for docs/benchmarks.md, then print a summary of exit codes, wall times and load averages.
#
#   bench/run_all.sh [LOGDIR]        # default LOGDIR: build/bench-logs
#   ONLY="native drivers" bench/run_all.sh   # a subset, by the names in the table below
#
# Needs: .venv with asicrc installed (./scripts/test or ./scripts/run creates it), reservoirpy (test extra) for
# bench_reservoir.py, mosquitto for bench_daemon.py. Total wall time about 5 minutes.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
LOGDIR=${1:-build/bench-logs}
mkdir -p "$LOGDIR"

BENCHES=(
  "native|bench/bench_native.py --frames 1000000 --ref-frames 50000 --nonces 200000"
  "stratum|bench/bench_stratum.py --miners 50 --shares 400 --reps 3 --rate 1000 --seconds 5"
  "sim|bench/bench_sim.py --seconds 30 --speed 1"
  "vtime|bench/bench_vtime.py --steps 200 --speed 15 --seeds 7 --full-steps 1000"
  "drivers|bench/bench_drivers.py --frames 200000 --chunk 4096"
  "tpf|bench/bench_tpf.py --n 1000000 --repeats 7"
  "reservoir|bench/bench_reservoir.py --rows 20000 --cols 500 --repeat 3"
  "puf|bench/bench_puf.py --model lv06 --shares 30"
  "daemon|bench/bench_daemon.py --duration 120 --warmup 30"
)

echo "run_all: $(date -u +%FT%TZ), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
summary=()
logs=()
failed=0
for entry in "${BENCHES[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
    continue
  fi
  log="$LOGDIR/$name.log"
  logs+=("$log")
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  echo
  echo "=== $name: $PY $cmd   (load before: $load0)"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086  # $cmd is a fixed word list from the table above
  $PY $cmd 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  [ "$rc" -ne 0 ] && failed=$((failed + 1))
  summary+=("$(printf '%-10s rc=%-3s %7.1f s   load %s -> %s' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$load0" "$load1")")
done

echo
echo "=== summary (logs in $LOGDIR; rc=1 from bench_daemon/bench_stratum means a goal was missed or a share refused)"
printf '%s\n' "${summary[@]}"
echo "goal lines:"
grep -hiE "goal|ratio" "${logs[@]}" | sed 's/^/  /'
exit "$failed"
