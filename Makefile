# Every command of the project runs through these targets, in the README and
# in CI alike.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOOS     ?= linux
GOARCH   ?= amd64
# The dev server checks webhook signatures with this token unless
# TWILIO_AUTH_TOKEN is set, so captured webhooks replay exactly as in production.
DEV_AUTH_TOKEN ?= switchboard-dev-auth-token

.PHONY: run call test lint build bench bench-archive replay lambda ami verify-deploy clean

# IMPORT_EDGES is a go list template printing "package imports dependency",
# one line per import of the package, its tests and its external tests.
IMPORT_EDGES := {{$$p := .ImportPath}}{{range .Imports}}{{$$p}} imports {{.}}{{"\n"}}{{end}}{{range .TestImports}}{{$$p}} (test) imports {{.}}{{"\n"}}{{end}}{{range .XTestImports}}{{$$p}} (test) imports {{.}}{{"\n"}}{{end}}

## run: the dev server on embedded defaults (memory store, ./data blobs, scripted assistant)
run:
	TWILIO_AUTH_TOKEN="$${TWILIO_AUTH_TOKEN:-$(DEV_AUTH_TOKEN)}" $(GO) run ./cmd/switchboard serve

## call: a phone call from this terminal to `make run`'s server (start it first): type what the caller says; "!" interrupts
call:
	$(GO) run ./cmd/call --url http://localhost:8080 --auth-token "$${TWILIO_AUTH_TOKEN:-$(DEV_AUTH_TOKEN)}"

## test: the whole suite, PostgreSQL included (a throwaway cluster is started when TEST_DATABASE_URL is unset)
test:
	$(GO) test -race -count=1 -timeout 15m ./...

## lint: gofmt, vet, staticcheck (a Go tool, versioned in go.mod) and the import rules: storage/ imports no handlers or runtime, the binary links no test helper
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@edges=$$($(GO) list -f '$(IMPORT_EDGES)' ./storage/...) || exit 1; \
	bad=$$(echo "$$edges" | grep -E ' switchboard/(handlers|runtime)(/|$$)'); \
	if [ -n "$$bad" ]; then echo "storage/ must not import handlers or runtime:"; echo "$$bad"; exit 1; fi; \
	echo "storage/ imports neither handlers nor runtime"
	@for tags in "" lambda.norpc; do \
		deps=$$($(GO) list -deps -tags "$$tags" ./cmd/switchboard) || exit 1; \
		bad=$$(echo "$$deps" | grep -E '^switchboard/.*test$$|^net/http/httptest$$'); \
		if [ -n "$$bad" ]; then echo "cmd/switchboard (tags \"$$tags\") links test code:"; echo "$$bad"; exit 1; fi; \
	done; \
	echo "cmd/switchboard links no test helper and no net/http/httptest"

## build: the one binary, for the AMI (linux/amd64 unless GOOS/GOARCH say otherwise)
build:
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/switchboard ./cmd/switchboard

## bench: Go benchmarks, then the webhooks against PostgreSQL next to pgbench (never part of test)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...
	$(GO) run ./cmd/bench

## replay: every fixture in testdata/webhooks against `make run`'s server (start it first), re-signed with its token
replay:
	$(GO) run ./cmd/replay --url http://localhost:8080 --auth-token "$${TWILIO_AUTH_TOKEN:-$(DEV_AUTH_TOKEN)}" testdata/webhooks

## bench-archive: archive a 512 MiB recording from cmd/fakecloud (a separate process) into its fake S3: peak memory, throughput against plain copies
bench-archive:
	$(GO) test -run '^$$' -bench '^BenchmarkArchive$$' -benchtime 3x -count=1 -timeout 30m ./e2e

## lambda: dist/switchboard-lambda.zip, the binary as `bootstrap` for the provided.al2023 runtime
lambda:
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)" -o dist/bootstrap ./cmd/switchboard
	cd dist && rm -f switchboard-lambda.zip && zip -q -X switchboard-lambda.zip bootstrap

## ami: the AMI from ami/ with Packer (AMI_REGION and AMI_COPY_REGIONS; see ami/README.md)
AMI_REGION       ?= eu-west-1
AMI_COPY_REGIONS ?= []
ami: build
	packer init ami/
	packer build -var region=$(AMI_REGION) -var app_version=$(VERSION) -var 'copy_regions=$(AMI_COPY_REGIONS)' ami/

## verify-deploy: shellcheck, systemd-analyze, terraform fmt/init (offline, from the provider mirror)/validate/test, IaC scan (deploy/verify.sh)
verify-deploy:
	deploy/verify.sh

clean:
	rm -rf bin dist
