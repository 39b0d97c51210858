#!/usr/bin/env bash
# Builds the S3-compatible server the API's blob-store tests run against — SeaweedFS's `weed`,
# which checks SigV4 signatures and signed payload hashes as AWS S3 does — once, into Parley's
# cache: ${XDG_CACHE_HOME:-~/.cache}/parley/bin/weed (beside the Temporal CLI). Idempotent: a
# cached binary of the pinned version is kept. Only tests use it; a deployment brings its own
# S3-compatible store (README, "Blobs in an S3-compatible store").
#
# Why not `go install …@version`: SeaweedFS's go.mod carries a replace directive, which
# `go install` refuses; so a throwaway module requires the pinned version, repeats that one
# directive, and `go build`s the command from it, with the versions SeaweedFS's go.sum pins.
set -euo pipefail

MODULE=github.com/seaweedfs/seaweedfs
VERSION=v0.0.0-20261109003541-7506e5f91cd6
BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/parley/bin"
WEED="$BIN_DIR/weed"
STAMP="$BIN_DIR/weed.version"

if [ -x "$WEED" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
  echo "cached: $WEED (SeaweedFS $VERSION)"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed, and it builds the S3 test server. Install Go 1.26 or later (https://go.dev/doc/install, or your distribution's golang package) and run this again." >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cat >"$staging/go.mod" <<EOF
module parley.invalid/s3-test-server

go 1.26

require $MODULE $VERSION

// SeaweedFS's own replace directive (its go.mod), the reason go install refuses the module.
replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
EOF
echo "building SeaweedFS $VERSION with go build (several minutes, once)…"
started=$(date +%s)
(
  cd "$staging"
  export GOFLAGS=-buildvcs=false
  go get "$MODULE/weed@$VERSION"
  go build -ldflags=-s -o "$staging/weed" "$MODULE/weed"
)
mv "$staging/weed" "$WEED"
echo "$VERSION" >"$STAMP"
echo "built: $WEED in $(( $(date +%s) - started )) s"
