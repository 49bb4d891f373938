# ferry — see README.md. Every target installs what it needs.
GO       ?= go
BIN      := bin/ferry
FUZZTIME ?= 5s
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all build deps test unit fuzz demo bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ferry

deps:
	./scripts/install-deps.sh

# Every test: unit, fuzz seeds, integration with the real peers. With CI=true nothing may skip.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# A short run of every fuzz target (go test -fuzz takes one target per run).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || exit 1; \
	  done; \
	done

demo: deps build
	./scripts/demo.sh

bench: deps build
	$(GO) run ./bench

clean:
	rm -rf bin
