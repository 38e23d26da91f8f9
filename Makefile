# syncfs: the two commands a new user needs are `make demo` and `make test`.

GO       ?= go
BIN      := bin
PKGS     := ./...
# CI's limit is about 30 minutes; make test must stay well under it.
TEST_TIMEOUT ?= 20m

.PHONY: all build demo test vet fmt-check bench bench-remote bench-browse clean

all: build

build:
	$(GO) build -o $(BIN)/syncfs ./cmd/syncfs
	$(GO) build -o $(BIN)/fakesolver ./cmd/fakesolver

# Mount a demo directory over a file:// remote in a temp dir, run a
# solver-like writer with in-place rewrites, show status, unmount.
demo: build
	./scripts/demo.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: fmt-check vet build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# Benchmarks: figures for README.md, as ratios against a native baseline
# measured in the same run. Long; not part of make test.
bench: build
	./scripts/bench.sh

bench-remote:
	$(GO) test -run '^$$' -bench 'Put$$|Get$$|PutVsRclone' -benchtime 5x -count 3 ./remote/s3/

# Reading remote trees: the read-only mount against syncfs get, rclone
# mount and a local copy (root, MinIO, rclone).
bench-browse:
	$(GO) test -run '^$$' -bench Browse -benchtime 5x -timeout 60m ./tests/browse/

clean:
	rm -rf $(BIN)
