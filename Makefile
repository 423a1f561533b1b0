# Plumb build. Everything here needs only Go; `make proto` and `make lint`
# install their pinned tools into .tools/bin on first use.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/plumb-dev/plumb/pkg/version.Version=$(VERSION)
TOOLS     := $(CURDIR)/.tools/bin
BUF       := $(TOOLS)/buf
BINARIES  := plumb-agent plumb-collector plumbctl

BUF_VERSION                ?= v1.75.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
# grpc-gateway's plugins: keep at the version of the
# github.com/grpc-ecosystem/grpc-gateway/v2 module in go.mod (its runtime).
GRPC_GATEWAY_VERSION       ?= v2.33.0
STATICCHECK_VERSION        ?= v0.8.2

.PHONY: all build test test-short fuzz soak lint proto tools demo bench clean packages api-baseline

all: build

build: $(addprefix bin/,$(BINARIES))

bin/plumb-agent: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./agent/cmd/plumb-agent
bin/plumb-collector: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./collector/cmd/plumb-collector
bin/plumbctl: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./collector/cmd/plumbctl
FORCE:

# The whole suite: unit tests, then e2e tests against the real binaries.
test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 12m ./...

test-short:
	$(GO) test -short -count=1 ./...

# Go native fuzzing: each target in FUZZ_TARGETS (package:FuzzName) for
# FUZZTIME, one after another. FUZZTIME is a duration or a count of
# inputs (3000x); CI uses a count, because with a duration Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" at the
# deadline on a busy machine (golang/go#75804, fixed in Go 1.27). Add
# yours to the list. `go test ./...` already runs every target's seed
# corpus; a crasher lands in the package's testdata/fuzz/ and stays there
# as a regression seed.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./pkg/termsafe:FuzzBytes \
	./pkg/termsafe:FuzzParse \
	./pkg/termsafe:FuzzJSON \
	./pkg/fact:FuzzDisplayRoundTrip \
	./pkg/fact:FuzzParseDisplay \
	./pkg/config:FuzzLoad \
	./agent/cmd/plumb-agent:FuzzConfig \
	./collector/cmd/plumb-collector:FuzzConfig \
	./collector/cmd/plumbctl:FuzzConfigFile \
	./agent/source/dpkg:FuzzParseStatus \
	./agent/source/dpkg:FuzzParseMD5Sums \
	./agent/source/rpm:FuzzHeaderBlob \
	./agent/hostpath:FuzzResolve \
	./collector/ingest:FuzzSyncRequest \
	./agent/stream:FuzzCollectorMessages \
	./collector/auth:FuzzParseSecret \
	./pkg/pki:FuzzVerifyChain \
	./collector/page:FuzzDecode \
	./collector/query:FuzzDriftPageToken

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# The disk oracle at length (e2e/oracle_test.go): SOAK_SEEDS seeded runs,
# cycling through its fault mixes, of SOAK_OPS operations each, then one
# summary line: seeds, operations, divergent facts, divergences per
# million ops. SOAK_SEED fixes the base seed. The test's output and the
# output of every failed run's processes go to soak/.
SOAK_SEEDS ?= 12
SOAK_OPS   ?= 200000
SOAK_SEED  ?=

soak:
	@rm -rf soak && mkdir -p soak
	@echo "soak: $(SOAK_SEEDS) runs of $(SOAK_OPS) operations; log in soak/oracle.log"
	@PLUMB_ORACLE_RUNS=$(SOAK_SEEDS) PLUMB_ORACLE_OPS=$(SOAK_OPS) $(if $(SOAK_SEED),PLUMB_ORACLE_SEED=$(SOAK_SEED)) \
	  PLUMB_ORACLE_SUMMARY=$(CURDIR)/soak/summary.txt PLUMB_E2E_LOGDIR=$(CURDIR)/soak \
	  $(GO) test -count=1 -timeout 3h -run '^TestDiskOracle$$' ./e2e/ > soak/oracle.log 2>&1; \
	  status=$$?; grep -E -- '--- (PASS|FAIL): TestDiskOracle/' soak/oracle.log; \
	  cat soak/summary.txt 2>/dev/null || echo "soak: no summary; see soak/oracle.log"; exit $$status

$(BUF):
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/protoc-gen-grpc-gateway:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(TOOLS)/protoc-gen-openapiv2:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

tools: $(BUF) $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2

# Go types, gRPC stubs, the HTTP gateway (proto/gateway/) and the OpenAPI
# document (collector/httpapi/openapi.swagger.json), all from proto/ and its
# HTTP rules in proto/plumb/v1/http.yaml.
proto: tools
	$(BUF) generate

api-baseline: $(BUF)
	$(BUF) build -o $(API_BASELINE)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# API stability: `buf breaking` compares proto/ with API_BASELINE, an image
# of the API as last released (checked in, so it needs no git history or
# tag). Refresh it at each release with `make api-baseline` and commit it
# with the release; between releases every change must be compatible
# (FILE and WIRE_JSON rules in buf.yaml).
API_BASELINE := proto/baseline/v1.binpb

lint: $(BUF) $(TOOLS)/staticcheck
	$(BUF) lint
	$(BUF) breaking --against $(API_BASELINE)
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Plumb's main job on this host: a collector with its embedded bbolt, an
# agent watching /etc, and a live view of drift as it happens.
demo: build
	./scripts/demo.sh

bench: build
	PLUMB_BENCH_BIN=$(CURDIR)/bin $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/...

# .deb and .rpm of plumb-agent and plumb-collector (with plumbctl) for
# amd64 and arm64 into dist/; see packaging/README.md. nfpm is a tool, not a
# module dependency: it is installed into .tools/bin, outside go.mod.
NFPM         := $(TOOLS)/nfpm
NFPM_VERSION ?= v2.45.2

$(NFPM):
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

packages: $(NFPM)
	NFPM=$(NFPM) GO=$(GO) ./scripts/packages.sh

# lintian, rpmlint, rpm/dpkg install and purge, systemd-analyze verify and
# security on the packages. Needs root and scripts/ci-deps.sh's packages.
.PHONY: check-packages
check-packages: packages
	./scripts/check-packages.sh

clean:
	rm -rf bin dist soak
