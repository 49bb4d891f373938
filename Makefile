# ferry — see README.md. Every target installs what it needs.
GO       ?= go
BIN      := bin/ferry
FUZZTIME ?= 5s
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all build deps test fuzz e2e e2e-bin demo bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ferry

deps:
	./scripts/install-deps.sh

# Every test: unit, fuzz seeds, integration with the real peers, end to end against real
# API servers, and a short run of every fuzz target. With CI=true nothing may skip.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) e2e
	$(MAKE) fuzz

# kube-apiserver and etcd built from their Go modules, cached by version in .cache/.
e2e-bin:
	./test/e2e/build-apiserver.sh

# The end-to-end suite (its own Go module, test/e2e).
e2e: deps e2e-bin
	cd test/e2e && $(GO) test -count=1 -timeout 30m ./...

# A short run of every fuzz target (go test -fuzz takes one target per run).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > .fuzz.log 2>&1 || { cat .fuzz.log; exit 1; }; \
	  done; \
	done; rm -f .fuzz.log

demo: deps build
	./scripts/demo.sh

# Benchmarks against the reference path (rsync + stunnel + squid), ratios printed.
# Temporary trees go under .cache/: /tmp on these machines is slow to create files in.
bench: deps build
	mkdir -p .cache/tmp
	TMPDIR=$(CURDIR)/.cache/tmp $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench

clean:
	rm -rf bin
