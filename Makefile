# avupload: every task the project has, one target each.
GO            ?= go
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# CYCLONEDX_GOMOD writes the release's SBOMs: make release installs it, at
# this version, into a temporary folder, so that it stays out of go.mod.
CYCLONEDX_GOMOD ?= github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
GENERATED     := gen go.mod go.sum
FUZZTIME      ?= 60s
# GO_OLDEST is the oldest Go release avupload supports (go.mod's go line),
# at a patch release the go command can fetch as a toolchain.
GO_OLDEST     ?= go1.25.14
# CROSS are the platforms checked besides the one building: build and vet
# every package, tests included.
CROSS         := windows/amd64 darwin/arm64
# TEST_GOMEMLIMIT is the soft memory limit of the test processes: the GC
# then hands freed memory back instead of letting the heap, and the race
# detector's shadow of it, grow from test to test (the sandbox package's
# tests peaked at 3.8 GB without it, 1.6 GB with it, for the same CPU time).
TEST_GOMEMLIMIT ?= 512MiB

.PHONY: all generate check-generated test test-temporal test-long test-oldest-go cross browser-test lint release bench bench-wan bench-batch fuzz demo clean

all: test

## generate: regenerate gen/ from openapi.yaml and api/, then tidy go.mod
generate:
	$(GO) generate ./...
	$(GO) mod tidy

## check-generated: fail when gen/ (or go.mod) differs from what openapi.yaml produces
check-generated:
	@snap=$$(mktemp -d) && trap 'rm -rf "$$snap"' EXIT && \
	cp -R $(GENERATED) "$$snap"/ && \
	$(MAKE) --no-print-directory generate >/dev/null && \
	for p in $(GENERATED); do \
		diff -ru "$$snap/$$p" "$$p" || { echo "check-generated: $$p is stale against openapi.yaml; run 'make generate' and commit the result" >&2; exit 1; }; \
	done && echo "check-generated: gen/ is up to date"

## test: vet, check the generated code, run every test with the race detector (about 7 minutes warm on 2 cores); the biggest cases are in test-long
test: check-generated
	$(GO) vet ./...
	GOMEMLIMIT=$(TEST_GOMEMLIMIT) $(GO) test -race -count=1 ./...

## test-temporal: the nested module contrib/temporal (Temporal workflows and activities, Go 1.26): vet, its package with the race detector, then its whole-stack tests against an in-process Temporal server and the sandbox, without it (it would instrument the whole server) (under a minute warm; the first build compiles the Temporal server's 200 modules, several minutes). Left out of make test, whose ./... does not enter the nested module
test-temporal:
	cd contrib/temporal && $(GO) vet ./...
	cd contrib/temporal && GOMEMLIMIT=$(TEST_GOMEMLIMIT) $(GO) test -race -count=1 .
	cd contrib/temporal && TEMPORAL_VERSION_CHECK_DISABLED=1 GOMEMLIMIT=$(TEST_GOMEMLIMIT) $(GO) test -count=1 ./e2e/ ./example/...

## browser-test: the official browser uploader (npm, pinned in e2e/browser/testdata) uploads to `avupload sandbox --tls` from another origin in headless Chromium (its token from a wrapper.TokenHandler on a third origin), and the sandbox's player page plays a stored video; needs chromium and npm, fails without them
browser-test:
	cd e2e/browser/testdata && npm ci --ignore-scripts --no-audit --no-fund
	$(GO) vet -tags browser ./e2e/browser/ ./sandbox/
	$(GO) test -tags browser -count=1 ./e2e/browser/
	$(GO) test -tags browser -count=1 -run InChromium ./sandbox/

## test-long: the cases too big for `make test` (300 MiB uploads, 32 concurrent uploads, a 200 MiB body, many more crash runs), tests named TestLong* in files built with the tag `long`; CI runs them
test-long:
	$(GO) vet -tags long ./...
	GOMEMLIMIT=$(TEST_GOMEMLIMIT) $(GO) test -race -count=1 -tags long -run '^TestLong' ./...

## test-oldest-go: vet with GO_OLDEST, then the library, sandbox and CLI tests (not e2e, not -race: the newest Go runs those); the go command fetches the toolchain
test-oldest-go:
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) version
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) vet ./...
	GOTOOLCHAIN=$(GO_OLDEST) $(GO) test -count=1 ./gen/... ./wrapper/... ./sandbox/... ./cmd/...

## cross: build and vet every package, tests included, for each platform in CROSS (Windows, macOS)
cross:
	@set -e; for p in $(CROSS); do \
		echo "cross: $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./...; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./...; \
	done

## lint: golangci-lint, run at a pinned version so it stays out of go.mod
lint:
	$(GOLANGCI_LINT) run ./...

## release: build the CLI for linux, darwin and windows on amd64 and arm64 (static, -trimpath, stamped with RELEASE_VERSION, default the library's, and git's commit), one archive each (tar.gz, zip for windows) with a CycloneDX SBOM each and SHA256SUMS, into RELEASE_DIR (default dist/); publishes nothing
RELEASE_DIR     ?= dist
RELEASE_VERSION ?=
release:
	GO="$(GO)" $(GO) run ./scripts/release -dir "$(RELEASE_DIR)" $(if $(RELEASE_VERSION),-version "$(RELEASE_VERSION)") -cyclonedx "$(CYCLONEDX_GOMOD)"

## demo: build the CLI, start a local sandbox, mint a token, upload a 300 MiB sample in chunks, interrupt and resume it, check its sha256
demo:
	GO="$(GO)" bash scripts/demo.sh

## bench: whole-process comparisons with curl on loopback (1 GiB, alternated runs, medians) and the Go benchmarks; writes bench/results/<date>.md. Not run by CI (about 10 minutes)
bench:
	GO="$(GO)" bash bench/run.sh

## bench-wan: avupload with its defaults and with fixed 50 MiB chunks four at once, a chunked curl loop and the official Node client (npm, pinned in bench/wanbench/node), files of 20, 100 and 1,000 MiB, over TLS through a 200 Mbit/s shaping proxy at 40 ms and 150 ms round trip (bench/wanbench); medians of WAN_ROUNDS alternated rounds and each one's share of the protocol's limit and floor. WAN_CLIENTS=grid adds concurrency 1, 2, 4, 8 over HTTP/2 and HTTP/1.1. Not run by CI (about 30 minutes)
WAN_SIZE_MIB  ?= 20,100,1000
WAN_CHUNK_MIB ?= 50
WAN_ROUNDS    ?= 3
WAN_CLIENTS   ?= defaults,fixed,curl,node
WAN_WORK      ?= $(shell test -d /dev/shm && echo /dev/shm)
bench-wan:
	cd bench/wanbench/node && npm ci --ignore-scripts --no-audit --no-fund
	$(GO) build -o bench/wanbench/wanbench ./bench/wanbench
	$(GO) build -o bench/wanbench/wanbench-client ./bench/wanbench/client
	bench/wanbench/wanbench -size-mib $(WAN_SIZE_MIB) -chunk-mib $(WAN_CHUNK_MIB) -rounds $(WAN_ROUNDS) -clients $(WAN_CLIENTS) -work "$(WAN_WORK)" -node bench/wanbench/node -client-bin bench/wanbench/wanbench-client; \
	rc=$$?; rm -f bench/wanbench/wanbench bench/wanbench/wanbench-client; exit $$rc

## bench-batch: batches on loopback: 200 files of 1-8 MiB at --jobs 4 against one file of their size, peak RSS of 6 x 300 MiB at --jobs 2, files/s of 10,000 tiny files with and without a journal. Not run by CI (about 15 minutes)
bench-batch:
	GO="$(GO)" bash bench/batch.sh

## fuzz: run every fuzz target of every package for FUZZTIME (default 60s) each. Not run by CI
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
			echo "fuzz: $$target in $$pkg for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

clean:
	rm -rf bench/results dist
