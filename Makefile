# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit e2e test-real real-k8s bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kubefed demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy --strict (pyproject [tool.mypy]) over every package
typecheck: $(STAMP)
	$(BIN)/mypy shared services sim kubefedctl kubefed bench compare

# The fast inner loop: pure and single-process tests (under a minute on 2 cores). `make e2e` is the
# rest of the default tier: control planes, services as processes, kubectl, the shipping tiers.
# Together they are every test but the real-cluster tier (the split: tests/conftest.py).
unit: $(STAMP)
	$(BIN)/pytest -q -m "not real and not e2e" $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/pytest -q -m "e2e and not real" $(PYTEST_ARGS)

# Pinned upstream programs (kube-apiserver, etcd, KWOK, ...) built from Go modules into
# $${XDG_CACHE_HOME:-~/.cache}/kubefed-ng/bin, reused by every clone (docs/real-clusters.md).
real-k8s: $(STAMP)
	$(BIN)/python -m sim.real

# The real-cluster tier: runs when the programs are built or Go can build them; CI must run it.
REAL_PROGRAMS := etcd kube-apiserver kube-controller-manager kube-scheduler kwok e2e.test controller-manager kubefedctl coredns external-dns
test-real: $(STAMP)
	@if $(BIN)/python -c 'import sys, sim.real as r; sys.exit(0 if r.all_built() else 1)' || command -v go >/dev/null; then \
		$(BIN)/python -m sim.real $(REAL_PROGRAMS) && $(BIN)/pytest -q -m real $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "CI: the real-cluster tier needs Go (go version) or the built programs; none found" >&2; exit 1; \
	else \
		echo "real-cluster tier not run: no Go toolchain and no built programs (make real-k8s)"; \
	fi

test: lint typecheck unit e2e test-real soak-ci

bench: $(STAMP)
	$(BIN)/python -m bench --mode full

bench-quick: $(STAMP)
	$(BIN)/python -m bench --mode quick

.PHONY: soak soak-ci
# Chaos soak (bench/soak.py): changes and faults for SOAK_SECONDS (default 600) on a 3-server NATS
# cluster, then the invariants; one summary line, bench/results/soak.json, exit 1 on a violation.
soak: $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-600} $(BIN)/python -m bench.soak

soak-ci: $(STAMP)
	mkdir -p build && SOAK_SECONDS=120 SOAK_OUT=build/soak-ci.json $(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .kubefed-demo

# ---- shipping tiers (issue #19): each is a pytest marker and also runs in `make e2e` --------------
# Debian packages the container and prometheus tiers need (root only; the tiers install them
# themselves when CI=true, tests/support/tools.py).
.PHONY: test-tools image test-container
test-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap prometheus; \
	else \
		echo "as root: apt-get install podman runc debootstrap prometheus" >&2; exit 1; \
	fi

# The image, with podman on a debootstrap-made Debian base (tests/container/_podman.py).
image: $(STAMP)
	$(BIN)/python -m tests.container._podman

test-container: $(STAMP)
	$(BIN)/pytest -q -m container $(PYTEST_ARGS)

.PHONY: test-prometheus
# promtool check/test of deploy/prometheus, then Debian's Prometheus against a running control plane.
test-prometheus: $(STAMP)
	$(BIN)/pytest -q -m prometheus $(PYTEST_ARGS)

.PHONY: test-helm
# The chart with the pinned helm (built into the real-cluster cache) and a real kube-apiserver.
test-helm: $(STAMP)
	$(BIN)/pytest -q -m helm $(PYTEST_ARGS)

.PHONY: dist test-release
# sdist and wheel into dist/ (the version is pyproject.toml's).
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

test-release: $(STAMP)
	$(BIN)/pytest -q -m release $(PYTEST_ARGS)

.PHONY: test-jaeger
# One change's trace through Jaeger v2 (built from its pinned module into the real-cluster cache).
test-jaeger: $(STAMP)
	$(BIN)/pytest -q -m jaeger $(PYTEST_ARGS)

# ---- KubeFed v0.10.0 as the oracle (issue #13) ---------------------------------------------------
.PHONY: kubefed-e2e
# KubeFed's own e2e suite against this control plane on a real fleet; one line `N passed, M failed`
# and bench/results/kubefed-e2e.json (about 40 minutes on 2 cores).
kubefed-e2e: $(STAMP)
	$(BIN)/python -m sim.real etcd kube-apiserver kube-controller-manager kube-scheduler kwok controller-manager kubefedctl e2e.test
	$(BIN)/python -m compare e2e

.PHONY: kubefed-e2e-oracle compare bench-vs-kubefed
# The same suite against KubeFed itself (the oracle): bench/results/kubefed-e2e-kubefed.json.
kubefed-e2e-oracle: $(STAMP)
	$(BIN)/python -m sim.real etcd kube-apiserver kube-controller-manager kube-scheduler kwok controller-manager kubefedctl e2e.test
	$(BIN)/python -m compare e2e --against kubefed --out bench/results/kubefed-e2e-kubefed.json

.PHONY: conformance-report
# The simulator against a real kube-apiserver, probe by probe; writes bench/results/conformance-diff.json
# (a test run writes build/conformance-diff.json and leaves the checkout alone).
conformance-report: $(STAMP)
	$(BIN)/python -m sim.real $(REAL_PROGRAMS)
	KUBEFED_CONFORMANCE_REPORT=bench/results/conformance-diff.json $(BIN)/pytest -q -m real tests/real/test_differential.py

# The differential harness: every scenario on KubeFed and on ours, side by side; writes
# bench/results/compare-kubefed.json and regenerates the table in docs/compatibility.md.
compare: $(STAMP)
	$(BIN)/python -m sim.real etcd kube-apiserver kube-controller-manager kube-scheduler kwok controller-manager kubefedctl
	$(BIN)/python -m compare diff; rc=$$?; $(BIN)/python -m compare doc; exit $$rc

# The benchmark against KubeFed on same-size real fleets: bench/results/vs-kubefed.json.
bench-vs-kubefed: $(STAMP)
	$(BIN)/python -m bench --against kubefed
