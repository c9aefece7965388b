#!/usr/bin/env bash
# `make reliability`: run the fault scenarios (cmd/reliability_e2e_test.go,
# TestReliability...) $MQCTL_RELIABILITY_RUNS times each (default 20), the
# secret-leak test (cmd/secrets_e2e_test.go) and every fuzz target for
# $MQCTL_FUZZTIME (default 10s, scripts/fuzz.sh), and write RELIABILITY.md
# from the figures they record. MQCTL_RELIABILITY_RUNS=0 skips the
# scenarios and keeps the scenario part of the RELIABILITY.md in the tree
# as it is (it names the run it comes from). RELIABILITY.md is written even
# when a test failed (it says so); the exit status is the tests'. `make
# test` runs the same scenarios once each, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${MQCTL_RELIABILITY_RUNS:-20}
bin=${MQCTL_BIN:-bin/mqctl}
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
tmp=$(mktemp -d)
pid=""
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap stop EXIT

# The same isolated RabbitMQ as scripts/test.sh, unless one is given.
if [ -z "${MQCTL_TEST_AMQP_URL:-}" ]; then
  MQCTL_CONFIG="$tmp/config.yaml" "$bin" sandbox --no-kafka --no-nats --no-contexts \
    --amqp-port 0 --amqp-api-port 0 >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1 120); do
    grep -q '^rabbitmq ' "$tmp/out" && break
    kill -0 "$pid" 2>/dev/null || { echo "reliability: the test RabbitMQ did not start:" >&2; cat "$tmp/err" >&2; exit 1; }
    sleep 0.5
  done
  line=$(grep '^rabbitmq ' "$tmp/out") || { echo "reliability: RabbitMQ not up after 60s" >&2; cat "$tmp/err" >&2; exit 1; }
  amqp=$(echo "$line" | awk '{print $2}')
  export MQCTL_TEST_AMQP_URL="${amqp/amqp:\/\//amqp://guest:guest@}"
  export MQCTL_TEST_AMQP_API_URL=$(echo "$line" | sed -n 's/.* api=\([^ ]*\).*/\1/p')
fi

# The figures stay in RELIABILITY*.jsonl (not committed), for a look at a
# run's raw lines next to RELIABILITY.log.
rm -f RELIABILITY.jsonl RELIABILITY-leak.jsonl RELIABILITY-fuzz.jsonl
: >RELIABILITY.log
export MQCTL_BIN="$bin" MQCTL_RELIABILITY_RUNS="$runs" MQCTL_RELIABILITY_OUT="$PWD/RELIABILITY.jsonl"
status=0
seconds=0
if [ "$runs" != 0 ]; then
  echo "reliability: $runs runs per scenario; log in RELIABILITY.log" >&2
  start=$(date +%s)
  # No -race here: the brokers run in the test process, and the race
  # detector's slow-down would change the timing the faults land at.
  go test -count=1 -timeout 4h -run '^TestReliability' -v ./cmd/ >>RELIABILITY.log 2>&1 || status=$?
  seconds=$(($(date +%s) - start))
  grep -E '^\s*--- (PASS|FAIL)|lost|reliability.go' RELIABILITY.log >&2 || true
fi

echo "reliability: the secret-leak test" >&2
MQCTL_LEAK_OUT="$PWD/RELIABILITY-leak.jsonl" \
  go test -count=1 -timeout 20m -run '^TestSecretsNeverPrinted$' -v ./cmd/ >>RELIABILITY.log 2>&1 || status=1
grep -E '^--- (PASS|FAIL): TestSecretsNeverPrinted|searched the output' RELIABILITY.log >&2 || true

echo "reliability: fuzz targets, ${MQCTL_FUZZTIME:-10s} each" >&2
{ MQCTL_FUZZTIME="${MQCTL_FUZZTIME:-10s}" MQCTL_FUZZ_OUT="$PWD/RELIABILITY-fuzz.jsonl" \
  scripts/fuzz.sh 2>&1 | tee -a RELIABILITY.log >&2; } || status=1

args=(-out RELIABILITY.md -commit "$(git describe --always --dirty 2>/dev/null || echo unknown)" -runs "$runs" -seconds "$seconds")
[ ! -s RELIABILITY-fuzz.jsonl ] || args+=(-fuzz RELIABILITY-fuzz.jsonl)
[ ! -s RELIABILITY-leak.jsonl ] || args+=(-leak RELIABILITY-leak.jsonl)
if [ "$runs" = 0 ]; then
  go run ./internal/reliability/report -keep RELIABILITY.md "${args[@]}"
  echo "reliability: RELIABILITY.md written; its scenario part kept as it was" >&2
elif [ -s RELIABILITY.jsonl ]; then
  go run ./internal/reliability/report -in RELIABILITY.jsonl "${args[@]}"
  echo "reliability: RELIABILITY.md written (scenarios ${seconds}s)" >&2
else
  echo "reliability: no scenario recorded figures; RELIABILITY.md left as it was" >&2
fi
exit "$status"
