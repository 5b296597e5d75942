# vitro: the two set-up commands of README.md, and the chores around them.
#
#   make learn   install what vitro needs, build it, and run the walkthrough
#   make test    install what vitro needs, build it, and run every test
#   make bench   install what vitro needs, build a release, run the benchmarks
#                (BENCH_ARGS=--quick for a short run)
#   make bench-pull   the same for the pull and unpack benchmark (Benchmarks/pull)
#
# All three run as root (vitro makes namespaces and mounts).

export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
# No $ORIGIN run path: vitro loads no library of its own, and the dynamic loader would
# look for libc and libm in .build/release (and its hwcaps subdirectories) first, two
# dozen failed opens at every start.
RELEASE_FLAGS = -c release --static-swift-stdlib --disable-local-rpath
BIN = .build/release

.PHONY: deps build release learn test unit golden bench bench-pull clean

deps:
	./scripts/install-deps

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build $(RELEASE_FLAGS)

learn: deps release
	$(BIN)/vitro learn run

test: deps build
	$(SWIFT) test --skip-build

# Tests that need no root and no kernel objects.
unit: build
	$(SWIFT) test --skip-build --filter 'VitroUnitTests|VitroNativeLibTests'

# Regenerate the golden traces in Traces/ from a fresh run (review the diff!).
golden: build
	./scripts/make-golden .build/debug/vitro

# The benchmarks (Benchmarks/README.md): start-up, throughput, detached, network churn,
# vitro beside runc, Docker (where a daemon runs) and a C floor.
bench: deps release
	./Benchmarks/run $(BENCH_ARGS)

# Pull and unpack of a ~110 MB three-layer image from a local registry, beside skopeo,
# umoci and gzip | tar (Benchmarks/README.md).
bench-pull: deps release
	./Benchmarks/pull $(BENCH_ARGS)

clean:
	rm -rf .build
