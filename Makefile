# parley: `make run` starts the server, `make test` runs every test.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test deps check unit fuzz e2e build bench release

run:
	$(GO) run ./cmd/parley

build:
	$(GO) build -o bin/parley ./cmd/parley
	$(GO) build -o bin/parley-bench ./cmd/parley-bench

# Everything CI runs: dependencies, static checks, all tests.
test: deps check unit fuzz e2e

deps:
	./scripts/install-deps.sh

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The shaped-link tests run again without the race detector
# (scripts/shaped-tests.sh says why).
unit:
	$(GO) test -race -count=1 -timeout 20m ./...
	GO=$(GO) ./scripts/shaped-tests.sh

# Each fuzz target for FUZZTIME inputs (a count, not a duration: a timed
# run can end with a spurious "context deadline exceeded" while the engine
# minimizes a new input). Their seed corpora
# already run in every go test. A failure leaves the input in testdata/fuzz.
FUZZTIME ?= 50000x
FUZZ_TARGETS = ./signaling:FuzzHandle ./clips/probe:FuzzProbe ./configs:FuzzParseRoom \
	./configs:FuzzLoadServer ./access:FuzzVerifyToken ./recorder:FuzzRecord ./signaling:FuzzSDPFrag \
	./sfu/vp8:FuzzDescriptor ./sfu/vp9:FuzzDescriptor
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# The browser client in headless Chromium (playwright-core), against the
# binary built from this tree.
e2e: build
	./scripts/e2e.sh

# Benchmarks: the Go benchmarks of the per-packet path and the recorder,
# then the load matrix of cmd/parley-bench, each scenario three times
# (the median is kept) against a fresh server pinned to CPU 0 with the
# generator on CPU 1, then the latencies people feel (50 trials of each).
# Writes bench/results.json and bench/results.md, bench/latency.json and
# bench/latency.md.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./sfu ./recorder
	@mkdir -p bench
	taskset -c 1 bin/parley-bench -server bin/parley -server-cpus 0 -matrix standard -repeat 3 \
		-revision "$$(git describe --always --dirty 2>/dev/null)" -json bench/results.json -md bench/results.md
	taskset -c 1 bin/parley-bench -server bin/parley -server-cpus 0 -latency 50 -json bench/latency.json -md bench/latency.md

# Release binaries: static (no cgo, no libc needed), for linux/amd64 and
# linux/arm64, in dist/ with their SHA-256 sums in dist/SHA256SUMS. The
# version is the git tag (or the commit), stamped with the commit and the
# commit's time, so that the same commit builds the same bytes. The
# Dockerfile builds with the same flags (RELEASE_BUILD, checked by
# packaging/packaging_test.go).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
RELEASE_LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
RELEASE_PLATFORMS = linux/amd64 linux/arm64
RELEASE_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)"

release:
	@rm -rf dist && mkdir -p dist
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "build dist/parley-$(VERSION)-$$os-$$arch"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_BUILD) -o dist/parley-$(VERSION)-$$os-$$arch ./cmd/parley; \
	done
	cd dist && sha256sum parley-* > SHA256SUMS && cat SHA256SUMS
