# The two commands a user needs are `make demo` and `make test`; both install
# what is missing first (scripts/install-deps) and build what is stale.
#
#   make build      configure and build with the preset (PRESET=ci by default)
#   make test       every CTest label: unit, integration, e2e, faults, image;
#                   then `make locks` and `make sanitize`
#   make unit       only `ctest -L unit` (under a minute)
#   make locks      build with clang -Wthread-safety: the lock annotations
#                   (scripts/check-locks)
#   make sanitize   unit and agent integration tests under ASan/UBSan and TSan
#                   (scripts/sanitize)
#   make image      build the container image with buildah (scripts/build-image)
#   make demo       local control plane, simulated nodes, operator, agents, sample pool
#   make demo-down  stop what `make demo` started
#   make clean      remove build/

PRESET ?= ci
BUILD_DIR := build/$(PRESET)
CLUSTER := tests/cluster/bin/cluster
CTEST_ARGS ?=

.PHONY: all deps deps-build build cluster test unit locks sanitize image demo demo-down clean

all: build

deps:
	@scripts/install-deps build test image

deps-build:
	@scripts/install-deps build

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET)

build: deps-build $(BUILD_DIR)/build.ninja
	cmake --build --preset $(PRESET)

# Builds the Kubernetes control plane from Go modules (cached; minutes when cold).
cluster: deps
	@$(CLUSTER) bin-dir >/dev/null

test: deps build cluster
	ctest --preset $(PRESET) --no-tests=error $(CTEST_ARGS)
	@scripts/check-locks
	@scripts/sanitize

locks: deps
	@scripts/check-locks

sanitize: deps cluster
	@scripts/sanitize

unit: build
	ctest --preset $(PRESET) --no-tests=error -L unit $(CTEST_ARGS)

image:
	@scripts/build-image

demo: deps build cluster
	@scripts/demo up

demo-down:
	@scripts/demo down

clean:
	rm -rf build
