# mqctl — see README.md. `make demo` and `make test` are the two commands a
# newcomer needs; both install what is missing.
GO      ?= go
BIN     := bin/mqctl
PKG     := github.com/mqctl/mqctl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/cmd.version=$(VERSION) -X $(PKG)/cmd.commit=$(COMMIT)
SHELLS  := bash zsh fish powershell

.PHONY: build deps test demo completions man lint bench reliability clean

# mqctl-sandbox holds the embedded brokers; `mqctl sandbox` execs it, so the
# brokers cost nothing in the start-up of every other command.
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)-sandbox ./cmd/mqctl-sandbox

deps:
	scripts/install-deps.sh

test: deps build
	scripts/test.sh

demo: deps build
	scripts/demo.sh

completions: build
	@for sh in $(SHELLS); do $(BIN) completion $$sh > completions/mqctl.$$sh; done
	@echo "completions/ regenerated"

# One page per command (cobra's doc generator), committed; a test fails
# when man/ differs from what the commands say.
man:
	$(GO) run ./cmd/mqctl-genman man
	@echo "man/ regenerated"

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: deps build
	scripts/bench.sh

# The fault scenarios, 20 runs each (MQCTL_RELIABILITY_RUNS=N to change;
# 0 keeps the scenario figures in RELIABILITY.md), the secret-leak test and
# every fuzz target for 10 s (MQCTL_FUZZTIME), figures into RELIABILITY.md;
# `make test` runs the scenarios once each and fuzzes each target briefly.
reliability: deps build
	scripts/reliability.sh

clean:
	rm -rf bin .bench RELIABILITY.log RELIABILITY.jsonl RELIABILITY-fuzz.jsonl RELIABILITY-leak.jsonl
