# waitroom — run `make help` for the targets.
GO ?= go
BIN := bin

.PHONY: help test test-short bench bench-gateway bench-swarm lint build demo services fuzz screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

test: services ## vet + race tests against the real Redis and PostgreSQL
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## quick tests, no race detector
	$(GO) test -count=1 -short ./...

services: ## check that Redis and PostgreSQL for the tests are reachable
	@.ci/check-services

bench: ## Go benchmarks and the standard surge scenarios; writes docs/benchmarks.md (needs jq, curl, redis-server)
	.ci/bench

bench-gateway: ## proxy vs nginx vs bare Go (wrk) and WebSockets held (wsload); writes docs/benchmarks-gateway-latest.md (needs nginx, wrk)
	.ci/bench-gateway

bench-swarm: ## 1,000 people and a 20-bot swarm at once, protections off and on; writes docs/benchmarks-swarm.md (needs redis-server, curl)
	.ci/bench-swarm

lint: ## gofmt + go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

# The demo runs as a built binary, not `go run`: go run exits 1 when Ctrl-C
# stops its child, which make reports as an error; the binary exits 0.
demo: ## run gateway + ticketd + embedded Redis with a live simulated crowd (http://localhost:8080/); Ctrl-C stops
	$(GO) build -o $(BIN)/waitroom ./cmd/waitroom
	@exec $(BIN)/waitroom demo

build: ## build the three binaries into bin/
	$(GO) build -o $(BIN)/ ./cmd/waitroom ./cmd/ticketd ./cmd/surge

fuzz: ## run each fuzzer for 20s
	@for pkg in ./queue ./token ./gateway ./web ./internal/ticketd; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; done; done

IMAGE ?= ghcr.io/waitroom/waitroom
TAG ?= dev
.PHONY: image deploy-check

image: ## build the container image with docker (needs a Docker engine): ghcr.io/waitroom/waitroom:dev, or IMAGE=… TAG=…
	docker build -f deploy/Dockerfile -t $(IMAGE):$(TAG) .

deploy-check: ## offline checks of deploy/ (manifests, compose, Dockerfile, workflows, units, nginx -t)
	$(GO) test -count=1 -run '^Test(ShippedConfigs|Kubernetes|Manifest|Compose|Dockerfile|MakeImage|ImageWorkflow|WorkflowsLint|ShellScripts|Systemd|NginxConfigCheck|NginxRecipe)' ./deploy

screenshots: ## regenerate docs/screenshots: queue page (desktop, 390x844 phone), dashboard, shop (needs chromium)
	@mkdir -p docs/screenshots
	WAITROOM_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestBrowserQueueThroughGateway|TestDashboardInBrowser' ./web/
	WAITROOM_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestBrowserShopOnPhoneBehindGateway' ./internal/ticketd/
