# parley: `make run` starts the server, `make test` runs every test.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test deps check unit fuzz e2e build bench

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

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# Each fuzz target for FUZZTIME inputs (a count, not a duration: a timed
# run can end with a spurious "context deadline exceeded" while the engine
# minimizes a new input). Their seed corpora
# already run in every go test. A failure leaves the input in testdata/fuzz.
FUZZTIME ?= 50000x
FUZZ_TARGETS = ./signaling:FuzzHandle ./clips/probe:FuzzProbe ./configs:FuzzParseRoom \
	./configs:FuzzLoadServer ./access:FuzzVerifyToken ./recorder:FuzzRecord ./signaling:FuzzSDPFrag
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
# generator on CPU 1. Writes
# bench/results.json and bench/results.md.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./sfu ./recorder
	@mkdir -p bench
	taskset -c 1 bin/parley-bench -server bin/parley -server-cpus 0 -matrix standard -repeat 3 \
		-revision "$$(git describe --always --dirty 2>/dev/null)" -json bench/results.json -md bench/results.md
