#!/usr/bin/env bash
# Checks that the generated files in the tree (api/**/zz_generated.deepcopy.go and
# config/crd/bases) are what `make generate` writes from the types in api/. It generates
# into a temporary copy of the inputs, so the tree is never touched, and needs nothing
# but the repository and the Go module proxy (controller-gen comes from tools/go.mod).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The inputs of `make generate`, without its outputs: a stale or extra generated file in
# the tree then shows up as a difference.
cp -R Makefile go.mod go.sum api tools "$tmp/"
find "$tmp/api" -name zz_generated.deepcopy.go -delete

if ! make --no-print-directory -C "$tmp" generate GO="$GO" >"$tmp/generate.log" 2>&1; then
	cat "$tmp/generate.log" >&2
	echo "verify-generated: make generate failed in a copy of the tree (output above)" >&2
	exit 1
fi

status=0
diff -ru api "$tmp/api" >"$tmp/api.diff" || status=1
mkdir -p "$tmp/config/crd/bases"
diff -ru config/crd/bases "$tmp/config/crd/bases" >"$tmp/crd.diff" || status=1
if [ "$status" -ne 0 ]; then
	cat "$tmp/api.diff" "$tmp/crd.diff" >&2
	echo >&2
	echo "verify-generated: the generated files above differ from what 'make generate' writes" >&2
	echo "from the types in api/. Run 'make generate' and commit the result." >&2
	exit 1
fi
echo "verify-generated: zz_generated.deepcopy.go and config/crd/bases are up to date"
