# ferry — see README.md. Every target installs what it needs.
GO       ?= go
BIN      := bin/ferry
# A count of inputs, not a duration: with a duration, Go 1.26's fuzzing coordinator can fail a
# target with a bare "context deadline exceeded" when its time runs out on a busy machine
# (golang/go#75804, fixed in Go 1.27). A real finding always writes a failing input.
FUZZTIME ?= 20000x
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all build deps test fuzz e2e e2e-bin demo bench clean generate verify-generated image

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ferry

deps:
	./scripts/install-deps.sh

# Every test: unit, fuzz seeds, integration with the real peers, the demo (the main job, whose
# last step fails if the trees differ), end to end against real API servers, and a short run
# of every fuzz target. With CI=true nothing may skip.
test: deps
	@unformatted=$$(gofmt -l . ); [ -z "$$unformatted" ] || { echo "not gofmt-ed: $$unformatted"; exit 1; }
	$(GO) vet ./...
	$(MAKE) verify-generated
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) demo
	$(MAKE) e2e
	$(MAKE) fuzz

# kube-apiserver and etcd built from their Go modules, cached by version in .cache/.
e2e-bin:
	./test/e2e/build-apiserver.sh

# The end-to-end suite (its own Go module, test/e2e).
e2e: deps e2e-bin
	cd test/e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...

# A short run of every fuzz target of both modules (go test -fuzz takes one target per run).
fuzz:
	@for mod in . test/e2e; do \
	  for pkg in $$(cd $$mod && $(GO) list ./...); do \
	    for f in $$(cd $$mod && $(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	      echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	      (cd $$mod && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) > .fuzz.log 2>&1 || { cat .fuzz.log; exit 1; }; \
	    done; \
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

# The container image, without a container engine: a static binary as the only layer
# (hack/image). Writes bin/ferry-image.tar (docker load) and bin/ferry-oci (an OCI layout
# for skopeo or crane) and prints the digest; pushes nothing.
IMAGE   ?= ferrydvm/ferry:dev
VERSION ?= dev
image:
	mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/ferrydvm/ferry/internal/cli.Version=$(VERSION)" -o bin/image/ferry ./cmd/ferry
	$(GO) run ./hack/image --binary bin/image/ferry --version $(VERSION) --tag $(IMAGE) --tarball bin/ferry-image.tar --oci bin/ferry-oci

# controller-gen comes from its own module, tools/go.mod, so that ferry's go.mod does not
# carry controller-tools; the go command fetches and builds it on first use.
CONTROLLER_GEN := $(GO) tool -modfile=tools/go.mod controller-gen

# The deep-copy methods and the CRDs, from the types and markers in api/.
generate:
	$(CONTROLLER_GEN) object paths=./api/... crd paths=./api/... output:crd:artifacts:config=config/crd/bases

# Fails when the generated files in the tree are not what `make generate` writes.
verify-generated:
	GO="$(GO)" ./hack/verify-generated.sh
