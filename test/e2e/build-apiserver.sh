#!/usr/bin/env bash
# Builds the kube-apiserver and etcd that ferry's end-to-end tests run, from the Go
# modules pinned in test/e2e/go.mod, into a cache folder keyed by the Kubernetes
# version:
#
#   ${FERRY_CACHE:-<repo>/.cache}/bin/k8s-<version>/{kube-apiserver,etcd}
#
# (test/e2e/cluster looks in the same place). Does nothing when both binaries are
# already there; --force rebuilds. A cold build takes about 5 minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${FERRY_CACHE:-$repo/.cache}"

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

# The k8s.io/kubernetes requirement (test/e2e/cluster reads go.mod the same way).
version="$(awk '$1 == "require" { $1 = ""; $0 = $0 } $1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
if [ -z "$version" ]; then
  echo "build-apiserver: no k8s.io/kubernetes requirement in $here/go.mod" >&2
  exit 1
fi
out="$cache/bin/k8s-$version"

if [ "$force" -eq 0 ] && [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; then
  echo "build-apiserver: up to date in $out"
else
  mkdir -p "$out"
  # Build into a scratch folder and move the binaries in last, so an interrupted
  # build never leaves a half-written binary where the tests look.
  tmp="$(mktemp -d "$out/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "build-apiserver: building kube-apiserver and etcd $version into $out (about 5 minutes cold)"
  start=$SECONDS
  # The version the server reports (/version), as a release build stamps it.
  minor="${version#v1.}"; minor="${minor%%.*}"
  stamp="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $stamp" -o "$tmp/" ./cmd/kube-apiserver ./cmd/etcd)
  mv -f "$tmp/etcd" "$out/etcd"
  mv -f "$tmp/kube-apiserver" "$out/kube-apiserver"
  echo "build-apiserver: built in $((SECONDS - start))s"
fi

echo "kube-apiserver: $out/kube-apiserver"
echo "etcd:           $out/etcd"
