#!/usr/bin/env bash
# make demo / make demo-down. Everything lives in .demo/ of the checkout.
# Today: runs the provider under real Terraform on examples/terraform/local.
# The three simulated regions (fake API servers, real SyncThing) are added
# by the stack, sync-group and demo issues.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
TF=$ROOT/.tools/bin/terraform
step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

setup_cli() {
  mkdir -p "$DEMO/mirror/registry.terraform.io/geowp/geowp/0.1.0/linux_amd64" "$DEMO/tmp"
  ln -sf "$ROOT/target/debug/terraform-provider-geowp" \
    "$DEMO/mirror/registry.terraform.io/geowp/geowp/0.1.0/linux_amd64/terraform-provider-geowp_v0.1.0"
  cat > "$DEMO/cli.tfrc" <<CFG
provider_installation {
  filesystem_mirror {
    path = "$DEMO/mirror"
  }
}
CFG
  export TF_CLI_CONFIG_FILE="$DEMO/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0 TMPDIR="$DEMO/tmp"
}

case "${1:-up}" in
  up)
    [ -x "$TF" ] || fail "Terraform is missing: run 'make tools' (or 'make demo', which does it)"
    [ -x target/debug/terraform-provider-geowp ] || fail "the provider is not built: run 'make demo'"
    setup_cli
    step "Terraform working directory: .demo/work (a copy of examples/terraform/local)"
    mkdir -p "$DEMO/work"
    cp examples/terraform/local/*.tf "$DEMO/work/"
    # a rebuilt provider has a new checksum: forget the old lock
    rm -rf "$DEMO/work/.terraform" "$DEMO/work/.terraform.lock.hcl"
    cd "$DEMO/work"
    step "terraform init (provider from the local mirror .demo/mirror)"
    "$TF" init -no-color >/dev/null || fail "terraform init failed: see the output above"
    step "terraform apply"
    "$TF" apply -no-color -auto-approve || fail "terraform apply failed: see the errors above"
    step "a second plan must show no changes"
    "$TF" plan -no-color -detailed-exitcode >/dev/null && echo "No changes." || fail "the second plan was not empty"
    step "done. Explore with: cd .demo/work && TF_CLI_CONFIG_FILE=$DEMO/cli.tfrc $TF state show geowp_site.demo"
    echo "    (the three-region WordPress demo arrives with geowp_cluster_stack; see README.md)"
    echo "    make demo-down removes it."
    ;;
  down)
    if [ -d "$DEMO/work" ] && [ -x "$TF" ]; then
      setup_cli
      step "terraform destroy"
      (cd "$DEMO/work" && "$TF" destroy -no-color -auto-approve) || fail "terraform destroy failed: see above; .demo/ is kept"
    fi
    rm -rf "$DEMO"
    step "removed .demo/"
    ;;
  *) fail "usage: scripts/demo.sh up|down" ;;
esac
