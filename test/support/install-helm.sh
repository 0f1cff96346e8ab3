#!/usr/bin/env bash
# helm for the chart test (test/e2e/helm-chart.test.ts), built from its Go module through the Go
# module proxy into .cache/tools/ (gitignored): no release binary is downloaded. Run by .ci/setup
# before the tests, and by the test itself when the binary is missing. Measured on 2 shared cores:
# about 5.5 minutes from nothing (compiling helm and its Kubernetes modules), about 20 s with Go's
# build cache warm. Prints the binary's path on stdout; go's output goes to stderr.
set -euo pipefail

version=v3.22.0
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.cache/tools"
dir="$tools/helm-$version"

if [ ! -x "$dir/helm" ]; then
  command -v go >/dev/null 2>&1 || { echo "install-helm: go is needed to build helm $version" >&2; exit 1; }
  mkdir -p "$tools"
  scratch="$(mktemp -d "$tools/.helm-$version-XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  GOBIN="$scratch" go install "helm.sh/helm/v3/cmd/helm@$version" >&2
  rm -rf "$dir"
  mv "$scratch" "$dir"
  trap - EXIT
fi
"$dir/helm" version --short >&2
echo "$dir/helm"
