#!/usr/bin/env bash
# `make test`: start one isolated RabbitMQ for the whole run (unless
# MQCTL_TEST_AMQP_URL points at one), run every test with -race, fuzz each
# fuzz target for $MQCTL_FUZZTIME (default 2000x), stop it. Kafka (kfake) and
# NATS (nats-server) are embedded in the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${MQCTL_BIN:-bin/mqctl}
# Tools install-deps.sh unpacked rather than installed (promtool).
export PATH="$PWD/.tools/bin:$PATH"
if [ -z "${MQCTL_TEST_AMQP_URL:-}" ]; then
  tmp=$(mktemp -d)
  MQCTL_CONFIG="$tmp/config.yaml" "$bin" sandbox --no-kafka --no-nats --no-contexts \
    --amqp-port 0 --amqp-api-port 0 >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
  }
  trap stop EXIT
  for _ in $(seq 1 120); do
    grep -q '^rabbitmq ' "$tmp/out" && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "test: the test RabbitMQ did not start:" >&2
      cat "$tmp/err" >&2
      exit 1
    fi
    sleep 0.5
  done
  line=$(grep '^rabbitmq ' "$tmp/out") || { echo "test: RabbitMQ not up after 60s" >&2; cat "$tmp/err" >&2; exit 1; }
  amqp=$(echo "$line" | awk '{print $2}')
  api=$(echo "$line" | sed -n 's/.* api=\([^ ]*\).*/\1/p')
  export MQCTL_TEST_AMQP_URL="${amqp/amqp:\/\//amqp://guest:guest@}"
  export MQCTL_TEST_AMQP_API_URL="$api"
  echo "test: RabbitMQ for this run at ${amqp} (api ${api})" >&2
fi
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
export MQCTL_BIN="$bin"
go test -race -count=1 -timeout 20m ./...
# Then every fuzz target briefly on top of its seeds (`go test` above ran
# the seeds alone; `make reliability` fuzzes 10 s each): 2000 new inputs
# each after its baseline (the seeds and the inputs go kept from earlier
# runs, which go runs first). A time would not do: on a busy machine 2s
# went to the baseline alone for several targets, which then fuzzed
# nothing. A finding fails the run and names the file holding the failing
# input; so does a target that tried no new input.
MQCTL_FUZZTIME=${MQCTL_FUZZTIME:-2000x} scripts/fuzz.sh
