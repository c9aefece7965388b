#!/usr/bin/env bash
# Run every fuzz target (func FuzzX in any package) on top of its committed
# seeds, one after the other, and print a line per target with the new
# inputs it tried. With MQCTL_FUZZ_OUT set, each target also appends a JSON
# line there (for RELIABILITY.md). A finding fails the script; go test
# writes the input that failed under the package's testdata/fuzz/, to
# commit with the fix, and this script names the file. So does a target
# that tried no new input: a budget its baseline used up fuzzed nothing.
#
# MQCTL_FUZZTIME (default 10s) is the budget of each target:
#   a duration (10s): go's -fuzztime, which also counts the baseline: go
#     first runs every seed and every input it kept from earlier runs
#     (under $(go env GOCACHE)/fuzz/), one at a time, to learn their
#     coverage, and fuzzes in what is left. `make reliability` gives 10s.
#   a count (2000x): that many new inputs after the baseline, however long
#     the baseline takes (go's own -fuzztime Nx counts the baseline in N;
#     this script asks go for baseline + N). `make test` uses one: a short
#     time on a busy machine can go to the baseline alone.
# Each package's test binary is built once, instrumented as `go test -fuzz`
# builds it, and run for each of its targets the way go test runs it (in
# the package's directory, with go's fuzz cache).
# `make test` runs this with a count, `make reliability` with the default.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${MQCTL_FUZZTIME:-10s}
count=
case $fuzztime in
  *x)
    count=${fuzztime%x}
    if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
      echo "fuzz: MQCTL_FUZZTIME=$fuzztime: want a duration (10s) or a count of new inputs (2000x)" >&2
      exit 2
    fi
    ;;
esac
cachedir=$(go env GOCACHE)/fuzz
status=0
ran=0
total_new=0
start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# fuzz BIN DIR PKG TARGET FUZZTIME: one fuzzing run, its output in $log.
fuzz() {
  (cd "$2" && "$1" -test.paniconexit0 -test.timeout=10m -test.run='^$' -test.fuzz="^$4\$" \
    -test.fuzztime="$5" -test.fuzzcachedir="$cachedir/$3") >"$log" 2>&1
}

while read -r pkg dir; do
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
  [ -n "$targets" ] || continue
  short=${pkg#github.com/mqctl/mqctl/}
  bin=$tmp/$(echo "$short" | tr / _).test
  if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$log" 2>&1; then
    status=1
    cat "$log" >&2
    echo "fuzz: $short: its test binary did not build (see above)" >&2
    continue
  fi
  for target in $targets; do
    ran=$((ran + 1))
    t0=$(date +%s.%N)
    # The baseline's size, from the first line go prints:
    # "fuzz: elapsed: 0s, gathering baseline coverage: 0/92 completed".
    # A run limited to one input prints it and stops after that input.
    baseline=0
    if [ -n "$count" ]; then
      fuzz "$bin" "$dir" "$pkg" "$target" 1x || true
      baseline=$({ sed -n 's|.*: 0/\([0-9]*\) completed.*|\1|p' "$log" || true; } | head -1)
      baseline=${baseline:-0}
      budget=$((baseline + count))x
    else
      budget=$fuzztime
    fi
    for try in 1 2; do
      result=ok
      fuzz "$bin" "$dir" "$pkg" "$target" "$budget" || result=FAIL
      # A run can end in "context deadline exceeded" with no failing input
      # when -fuzztime runs out while a worker is busy (a go toolchain
      # race, not a finding): try once more. A finding writes its input.
      if [ $result = ok ] || grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
        break
      fi
    done
    seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    # The baseline as this run counted it, and its last progress line:
    # "fuzz: elapsed: 3s, execs: 2459 (1184/sec), ..." where execs counts
    # the baseline too. None when the run ended in its baseline.
    b=$({ sed -n 's|.*: 0/\([0-9]*\) completed.*|\1|p' "$log" || true; } | head -1)
    baseline=${b:-$baseline}
    execs=$({ grep -o 'execs: [0-9]*' "$log" || true; } | tail -1 | awk '{print $2}')
    new=0
    [ -z "$execs" ] || new=$((execs - baseline))
    [ "$new" -ge 0 ] || new=0
    total_new=$((total_new + new))
    # "Failing input written to testdata/fuzz/FuzzX/0123abcd", relative to
    # the package's directory.
    crasher=$({ grep -o 'Failing input written to [^ ]*' "$log" || true; } | tail -1 | sed 's/^Failing input written to //')
    [ -z "$crasher" ] || crasher="${dir#"$PWD"/}/$crasher"
    printf 'fuzz: %-50s %-4s %8s new execs after a %s-input baseline, %s, %ss\n' \
      "$short.$target" "$result" "$new" "$baseline" "$fuzztime" "$seconds" >&2
    if [ "$result" = FAIL ]; then
      status=1
      cat "$log" >&2
      if [ -n "$crasher" ]; then
        echo "fuzz: $short.$target failed on the input saved in $crasher; fix the code and commit that file with the fix" >&2
      else
        echo "fuzz: $short.$target failed without a failing input (see the log above)" >&2
      fi
    elif [ "$new" = 0 ]; then
      status=1
      cat "$log" >&2
      echo "fuzz: $short.$target tried no new input: its $baseline-input baseline and start-up used up MQCTL_FUZZTIME=$fuzztime; give a count (2000x) or more time" >&2
    fi
    if [ -n "${MQCTL_FUZZ_OUT:-}" ]; then
      printf '{"target":"%s","package":"%s","fuzztime":"%s","execs":%s,"baseline":%s,"passed":%s,"crasher":"%s"}\n' \
        "$target" "$short" "$fuzztime" "$new" "$baseline" "$([ "$result" = ok ] && echo true || echo false)" "$crasher" >>"$MQCTL_FUZZ_OUT"
    fi
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
if [ "$ran" = 0 ]; then
  echo "fuzz: no fuzz target found (func FuzzX in a _test.go file)" >&2
  exit 1
fi
echo "fuzz: $ran targets, $total_new new execs in all, $(($(date +%s) - start))s" >&2
exit "$status"
