#!/usr/bin/env bash
# Installs what `make test` and `make bench` need and the machine lacks:
# rabbitmq-server (the tests' real RabbitMQ) and kcat (the Kafka peer for
# interop tests and benchmarks), tmux (tests that drive a terminal), GNU time
# and hyperfine (make bench), from Debian's packages.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have rabbitmq-server || need+=(rabbitmq-server)
have kcat || need+=(kcat)
[ -x /usr/bin/time ] || need+=(time)          # peak RSS in make bench
have hyperfine || need+=(hyperfine)             # start-up time in make bench
have tmux || need+=(tmux)                       # terminal tests of lag --watch

# promtool checks monitoring/alerts.yml (tests in internal/serve). It comes
# from Debian's prometheus package, unpacked under .tools/ rather than
# installed, so no Prometheus service is set up on the machine.
fetch_promtool() {
  have promtool || [ -x .tools/bin/promtool ] && return 0
  echo "install-deps: unpacking promtool from Debian's prometheus package into .tools/" >&2
  mkdir -p .tools/bin .tools/dl
  chmod a+rwx .tools/dl # apt downloads as its _apt user where that user may write
  (cd .tools/dl && apt-get download -qq prometheus >/dev/null && dpkg -x prometheus_*.deb ../prometheus && rm -f prometheus_*.deb)
  ln -sf ../prometheus/usr/bin/promtool .tools/bin/promtool
}
cd "$(dirname "$0")/.."
if [ ${#need[@]} -eq 0 ]; then
  fetch_promtool
  exit 0
fi

echo "install-deps: installing ${need[*]} with apt-get" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# policy-rc.d-less machines would start the system service; our tests run
# their own isolated node, so the service is stopped again if it started.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ " ${need[*]} " == *" rabbitmq-server "* ]] && command -v systemctl >/dev/null 2>&1; then
  $sudo systemctl stop rabbitmq-server >/dev/null 2>&1 || true
fi
fetch_promtool
