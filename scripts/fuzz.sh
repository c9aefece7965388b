#!/usr/bin/env bash
# Run every fuzz target (func FuzzX in any package) for $MQCTL_FUZZTIME
# (default 10s) on top of its committed seeds, one after the other, and
# print a line per target with its executions. With MQCTL_FUZZ_OUT set,
# each target also appends a JSON line there (for RELIABILITY.md). A
# finding fails the script; go test writes the input that failed under the
# package's testdata/fuzz/, to commit with the fix, and this script names
# the file. `make test` runs it with a short fuzz time, `make reliability`
# with the default.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${MQCTL_FUZZTIME:-10s}
status=0
ran=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while read -r pkg dir; do
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
  for target in $targets; do
    ran=$((ran + 1))
    for try in 1 2; do
      result=ok
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1 || result=FAIL
      # A run can end in "context deadline exceeded" with no failing input
      # when -fuzztime runs out while a worker is busy (a go toolchain
      # race, not a finding): try once more. A finding writes its input.
      if [ $result = ok ] || grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
        break
      fi
    done
    # The last progress line: "fuzz: elapsed: 10s, execs: 123456 (12345/sec), ..."
    # (none when the run ended before the first one, as with -fuzztime 1x).
    execs=$({ grep -o 'execs: [0-9]*' "$log" || true; } | tail -1 | awk '{print $2}')
    execs=${execs:-0}
    # "Failing input written to testdata/fuzz/FuzzX/0123abcd", relative to
    # the package's directory.
    crasher=$({ grep -o 'Failing input written to [^ ]*' "$log" || true; } | tail -1 | sed 's/^Failing input written to //')
    [ -z "$crasher" ] || crasher="${dir#"$PWD"/}/$crasher"
    short=${pkg#github.com/mqctl/mqctl/}
    printf 'fuzz: %-60s %-4s %10s execs in %s\n' "$short.$target" "$result" "$execs" "$fuzztime" >&2
    if [ "$result" = FAIL ]; then
      status=1
      cat "$log" >&2
      if [ -n "$crasher" ]; then
        echo "fuzz: $short.$target failed on the input saved in $crasher; fix the code and commit that file with the fix" >&2
      else
        echo "fuzz: $short.$target failed without a failing input (see the log above)" >&2
      fi
    fi
    if [ -n "${MQCTL_FUZZ_OUT:-}" ]; then
      printf '{"target":"%s","package":"%s","fuzztime":"%s","execs":%s,"passed":%s,"crasher":"%s"}\n' \
        "$target" "$short" "$fuzztime" "$execs" "$([ "$result" = ok ] && echo true || echo false)" "$crasher" >>"$MQCTL_FUZZ_OUT"
    fi
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
if [ "$ran" = 0 ]; then
  echo "fuzz: no fuzz target found (func FuzzX in a _test.go file)" >&2
  exit 1
fi
exit "$status"
