# The two set-up commands of the README are `make run` and `make test`; both install what they
# need first. Everything downloaded or built goes to .llr/ (git-ignored) and is reused: a second
# run skips every step whose inputs did not change.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON    ?= python3.11
LLR       := .llr
VENV      := $(LLR)/venv
PY        := $(VENV)/bin/python
KAFKA_LIBS:= $(LLR)/kafka/libs
FERRETDB  := $(LLR)/bin/ferretdb
GEN       := $(LLR)/gen
GRPCURL   := $(LLR)/bin/grpcurl
INTEROP   := tests/integration/certification/interop
PROTOS    := $(shell find protos -name '*.proto' | sort)
SITE      := $(VENV)/lib/python3.11/site-packages

export GOFLAGS := -mod=readonly
export GOTOOLCHAIN := local
export CGO_ENABLED := 0

# >>> kpi dashboard test: headless Chromium (Debian package), installed when missing.
.PHONY: chromium
chromium:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }
# <<< kpi dashboard test

.PHONY: help deps infra-deps test-deps run test unit integration bench chaos stop status reset keys lock clean kustomize

help:
	@echo "make run    - install what is needed, start Kafka, FerretDB and the services with demo data"
	@echo "make test   - install what is needed and run the whole test suite on real Kafka and FerretDB"
	@echo "make status / make stop - the local infrastructure"
	@echo "make reset  - wipe the platform's data (Kafka, FerretDB, KPI state) and logs; keep the tools and keys"

deps: $(VENV)/.stamp $(GEN)/.stamp infra-deps chromium
infra-deps: $(KAFKA_LIBS)/.stamp $(FERRETDB)
# Third-party clients and tools that only the tests drive (kustomize renders deploy/k8s for its checks).
test-deps: $(GRPCURL) $(INTEROP)/node_modules/.stamp kustomize

# Python 3.11 virtualenv with every dependency pinned in requirements.lock. A .pth file puts the
# repository root and the generated protobuf code on the import path.
$(VENV)/.stamp: requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/$(GEN)" > $(SITE)/llr-paths.pth
	printf '#!/bin/sh\nexec "%s" -m services.cli "$$@"\n' "$(CURDIR)/$(PY)" > $(VENV)/bin/llr && chmod +x $(VENV)/bin/llr
	touch $@

# Apache Kafka broker jars (and the logging binding its POM lacks) from Maven Central.
$(KAFKA_LIBS)/.stamp: infra/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "error: mvn not found (Maven and Java 17 are required)" >&2; exit 1; }
	rm -rf $(KAFKA_LIBS)
	mvn --quiet --batch-mode -f infra/kafka/pom.xml dependency:copy-dependencies \
	    -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	touch $@

# FerretDB v1 (SQLite backend) embedded in a small Go module of ours, with its `_id` lookups
# corrected to use the `_id` index (see infra/ferretdb/build.sh); compiling the pure-Go SQLite
# driver takes minutes on 2 cores, so the binary is cached here.
$(FERRETDB): infra/ferretdb/main.go infra/ferretdb/go.mod infra/ferretdb/go.sum infra/ferretdb/build.sh
	@command -v go >/dev/null || { echo "error: go not found (Go >= 1.24 is required)" >&2; exit 1; }
	mkdir -p $(dir $@)
	cd infra/ferretdb && ./build.sh $(CURDIR)/$@ $(CURDIR)/$(LLR)/ferretdb-build

# grpcurl, the third-party gRPC client of the reflection test, pinned in infra/grpcurl/go.mod
# (go.sum checks every module) and built from the Go module proxy once.
$(GRPCURL): infra/grpcurl/go.mod infra/grpcurl/go.sum
	@command -v go >/dev/null || { echo "error: go not found (Go >= 1.24 is required)" >&2; exit 1; }
	mkdir -p $(dir $@)
	cd infra/grpcurl && go build -trimpath -o $(CURDIR)/$@.tmp \
	    -ldflags "-X main.version=$$(go list -m -f '{{.Version}}' github.com/fullstorydev/grpcurl)" \
	    github.com/fullstorydev/grpcurl/cmd/grpcurl
	mv $@.tmp $@

# The W3C VC reference verifier (npm: @digitalbazaar/vc and friends) of the credential
# interoperability test, exactly as pinned in package-lock.json; no network once installed.
$(INTEROP)/node_modules/.stamp: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
	    { echo "error: node and npm not found (Node.js >= 20 is required by the credential interoperability test)" >&2; exit 1; }
	cd $(INTEROP) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# Generated protobuf and gRPC code: never committed, never hand-edited.
# Generated into a fresh directory that replaces the old one only when protoc succeeded.
$(GEN)/.stamp: $(PROTOS) $(VENV)/.stamp
	@tmp=$$(mktemp -d $(LLR)/gen.XXXXXX) && \
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS) && \
	touch $$tmp/.stamp && rm -rf $(GEN) && mv $$tmp $(GEN) || { rm -rf $$tmp; exit 1; }
	@echo "protobuf code generated in $(GEN)"

run: deps
	$(PY) -m infra.run

# pytest exits 5 when it collected no test: that is a failure here, never a green run.
test: deps test-deps
	@LLR_KUSTOMIZE=$(abspath $(LLR)/bin/kustomize) $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Benchmarks (never part of `make test`): writes bench-results.json and prints a table.
bench: deps
	$(PY) -m bench $(BENCH_ARGS)

# Chaos (never part of `make test`, which runs a short schedule): KILLS SIGKILLs of the broker,
# FerretDB and the services under load, on private servers, then the audit; SEED picks the order.
KILLS ?= 20
SEED ?= 1
chaos: deps
	$(PY) -m tests.integration.e2e.chaos --kills $(KILLS) --seed $(SEED)

unit: deps
	$(PY) -m pytest tests/unit

integration: deps test-deps
	$(PY) -m pytest tests/integration

status: $(VENV)/.stamp
	$(PY) -m infra.stack status

stop: $(VENV)/.stamp
	$(PY) -m infra.stack stop

# Wipe the platform's data and logs for a fresh demo; keeps the virtualenv, the Kafka jars, the
# FerretDB binary, the generated code and the development keys (see infra/reset.py).
reset: $(VENV)/.stamp
	$(PY) -m infra.reset

# Development keys (.llr/keys): the token-signing key pair, the credential issuer key, the
# development CA with the services' TLS certificate (.llr/keys/tls) and the Kafka principals'
# passwords (.llr/keys/kafka); also used by docker-compose.
keys: $(VENV)/.stamp
	$(PY) -c 'from infra.run import ensure_dev_keys; from infra.stack import InfraSettings; print(ensure_dev_keys(InfraSettings().home))'
	$(PY) -c 'from infra.stack import Stack; print(sorted(Stack().kafka_passwords()), "Kafka passwords in .llr/keys/kafka")'
	$(PY) -c 'from services.certification.entrypoints.main import ensure_development_issuer_key as k; from services.certification.settings import CertificationSettings as S; k(S())'
	@# docker compose bind-mounts its secrets with this machine's owner and mode: the image's user
	@# (10001) must be able to read the issuer key; the directory keeps other users out here.
	chmod 700 $(LLR)/keys $(LLR)/keys/kafka && chmod 644 $(LLR)/keys/certification-issuer.pem \
	    $(LLR)/keys/tls/server-key.pem $(LLR)/keys/kafka/*.password

# Renders deploy/k8s as `kubectl kustomize` does (.llr/bin/kustomize, pinned; about two minutes to
# build from the Go module proxy on 2 cores, once). `make test` requires it: tests/unit/deploy checks
# the rendered objects.
KUSTOMIZE_VERSION := v5.8.1
kustomize: $(LLR)/bin/kustomize-$(KUSTOMIZE_VERSION)
$(LLR)/bin/kustomize-$(KUSTOMIZE_VERSION):
	@command -v go >/dev/null || { echo "error: go not found (Go >= 1.24 is required)" >&2; exit 1; }
	GOFLAGS= GOBIN=$(abspath $(LLR)/bin) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	touch $@

# Re-pin every dependency after changing requirements.in.
lock:
	rm -rf $(LLR)/lockenv && $(PYTHON) -m venv $(LLR)/lockenv
	$(LLR)/lockenv/bin/pip install --quiet -r requirements.in
	{ echo '# Generated by `make lock` from requirements.in; every version pinned. Do not edit by hand.'; \
	  $(LLR)/lockenv/bin/pip freeze; } > requirements.lock
	rm -rf $(LLR)/lockenv

# Everything, tools included (the next make downloads and builds them again); `make reset` keeps them.
clean: stop
	rm -rf $(LLR) $(INTEROP)/node_modules
