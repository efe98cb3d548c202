#!/usr/bin/env bash
# make demo / make demo-down: one WordPress site over three simulated regions
# on this machine, no cloud and no Docker. Everything lives in .demo/:
#   .demo/regions/NAME/          a fake Kubernetes API server (TLS, token), its
#                                kubeconfig, and the region's SyncThing daemon
#   .demo/regions/NAME/wp-content  that region's replicated wp-content folder
#   .demo/kubeconfig             all three regions' contexts (geowp-helper kubeconfig merge)
#   .demo/work/local             the Terraform working directory (examples/terraform/local)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${GEOWP_DEMO_DIR:-$ROOT/.demo}
# Terraform 1.0.3 from .tools/ unless GEOWP_TERRAFORM names another
TF=${GEOWP_TERRAFORM:-$ROOT/.tools/bin/terraform}
BIN=$ROOT/target/debug
REGIONS=(us-east eu-west ap-south)
step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

setup_cli() {
  mkdir -p "$DEMO/mirror/registry.terraform.io/geowp/geowp/0.1.0/linux_amd64" "$DEMO/tmp"
  ln -sf "$BIN/terraform-provider-geowp" \
    "$DEMO/mirror/registry.terraform.io/geowp/geowp/0.1.0/linux_amd64/terraform-provider-geowp_v0.1.0"
  cat > "$DEMO/cli.tfrc" <<CFG
provider_installation {
  filesystem_mirror {
    path = "$DEMO/mirror"
  }
}
CFG
  export TF_CLI_CONFIG_FILE="$DEMO/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0 TMPDIR="$DEMO/tmp"
  # Terraform and kubectl write caches under $HOME; keep them in .demo/ too
  mkdir -p "$DEMO/home"
  export HOME="$DEMO/home"
}

kill_tree() { # pid file, signal
  local f=$1 sig=${2:-TERM}
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
}

down() {
  [ -d "$DEMO" ] || { echo "nothing to take down (.demo/ does not exist)"; return 0; }
  setup_cli
  if [ -f "$DEMO/work/local/terraform.tfstate" ] && [ -x "$TF" ]; then
    step "terraform destroy (the regions must still be up for it)"
    (cd "$DEMO/work/local" && "$TF" destroy -no-color -auto-approve >"$DEMO/destroy.log" 2>&1) \
      && echo "destroyed; see .demo/destroy.log" \
      || echo "terraform destroy failed (see .demo/destroy.log); removing everything anyway"
  fi
  step "stopping SyncThing daemons and API servers"
  for r in "${REGIONS[@]}"; do
    kill_tree "$DEMO/regions/$r/syncthing.pid" KILL
    kill_tree "$DEMO/regions/$r/apiserver.pid" TERM
  done
  rm -rf "$DEMO"
  echo "removed .demo/"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

up() {
  for x in "$TF" "$BIN/terraform-provider-geowp" "$BIN/geowp-fake-apiserver" "$BIN/geowp-helper"; do
    [ -x "$x" ] || fail "$x is missing: run 'make demo' (it installs and builds everything)"
  done
  command -v syncthing >/dev/null || fail "syncthing is missing: run 'make demo' (it installs it)"
  command -v kubectl >/dev/null || fail "kubectl is missing: install it (Debian: kubernetes-client) and run again"
  if [ -d "$DEMO" ]; then
    step "an earlier demo is here: taking it down first"
    down
  fi
  mkdir -p "$DEMO/regions"
  setup_cli

  step "starting three regions: fake Kubernetes API servers with TLS and tokens"
  for r in "${REGIONS[@]}"; do
    d=$DEMO/regions/$r
    mkdir -p "$d"
    token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    setsid "$BIN/geowp-fake-apiserver" --name "$r" --token "$token" --data "$d/objects.json" --cert-dir "$d/certs" \
      --kubeconfig "$d/kubeconfig" --ready-delay 300ms >"$d/apiserver.out" 2>"$d/apiserver.log" </dev/null &
    echo $! >"$d/apiserver.pid"
    echo "$token" >"$d/token"
  done
  for r in "${REGIONS[@]}"; do
    d=$DEMO/regions/$r
    for _ in $(seq 100); do grep -q '^listening on' "$d/apiserver.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^listening on' "$d/apiserver.out" || fail "the API server of $r did not start: see $d/apiserver.log"
    echo "  $r: $(sed 's/^listening on //' "$d/apiserver.out")  (kubeconfig: .demo/regions/$r/kubeconfig)"
  done

  step "writing the Terraform inputs (.demo/work/local/terraform.tfvars.json)"
  mkdir -p "$DEMO/work"
  cp -r examples/terraform/local examples/terraform/modules "$DEMO/work/"
  for r in "${REGIONS[@]}"; do
    d=$DEMO/regions/$r
    echo "$(free_port) $(free_port)" >"$d/ports"
    mkdir -p "$d/wp-content/.stfolder" "$d/syncthing"
  done
  python3 - "$DEMO" "${REGIONS[@]}" <<'PY'
import json, sys
demo, regions = sys.argv[1], sys.argv[2:]
clusters, over = {}, {}
for i, r in enumerate(regions):
    d = f"{demo}/regions/{r}"
    url = open(f"{d}/apiserver.out").read().split()[-1]
    sync, gui = open(f"{d}/ports").read().split()
    clusters[r] = {"host": url, "cluster_ca_certificate": open(f"{d}/certs/ca.pem").read(),
                   "token": open(f"{d}/token").read().strip(),
                   "pd_ip": f"10.{i}.0.1", "tikv_ip": f"10.{i}.0.2", "syncthing_ip": f"10.{i}.0.3"}
    over[r] = {"address": f"tcp://127.0.0.1:{sync}", "listen_address": f"tcp://127.0.0.1:{sync}",
               "gui_address": f"127.0.0.1:{gui}", "folder_path": f"{d}/wp-content"}
json.dump({"clusters": clusters, "syncthing_overrides": over}, open(f"{demo}/work/local/terraform.tfvars.json", "w"), indent=2)
PY

  cd "$DEMO/work/local"
  step "terraform init (provider from the local mirror .demo/mirror)"
  "$TF" init -no-color >"$DEMO/init.log" 2>&1 || fail "terraform init failed: see .demo/init.log"
  step "terraform apply: the site's secrets, a stack in each region, the SyncThing group"
  "$TF" apply -no-color -auto-approve 2>&1 | grep -E 'Creating|Creation complete|Apply complete|Error|error' || true
  "$TF" plan -no-color -detailed-exitcode >"$DEMO/plan.log" 2>&1 || fail "the apply failed or a second plan is not empty: see .demo/plan.log and run 'make demo-down'"
  echo "a second plan shows no changes"
  cd "$ROOT"

  step "merging the regions' kubeconfigs into .demo/kubeconfig (geowp-helper kubeconfig merge)"
  "$BIN/geowp-helper" kubeconfig merge -o "$DEMO/kubeconfig" --current us-east \
    "$DEMO/regions/us-east/kubeconfig" "$DEMO/regions/eu-west/kubeconfig" "$DEMO/regions/ap-south/kubeconfig"
  export KUBECONFIG=$DEMO/kubeconfig

  step "what each region holds"
  for r in "${REGIONS[@]}"; do
    n=$(kubectl --context "$r" -n geowp get all,cm,secret,pvc,sa,role,rolebinding -o name | wc -l)
    echo "  $r: $n objects in namespace geowp; $(kubectl --context "$r" -n geowp get sts -o name | tr '\n' ' ')"
  done
  (cd "$DEMO/work/local" && "$TF" output -no-color syncthing_device_ids && "$TF" output -no-color wordpress_endpoints && "$TF" output -no-color tidb_endpoints)

  step "starting one real SyncThing daemon per region from what the provider wrote into its cluster"
  for r in "${REGIONS[@]}"; do
    d=$DEMO/regions/$r
    kubectl --context "$r" -n geowp get secret syncthing-identity -o 'jsonpath={.data.cert\.pem}' | base64 -d >"$d/syncthing/cert.pem"
    kubectl --context "$r" -n geowp get secret syncthing-identity -o 'jsonpath={.data.key\.pem}' | base64 -d >"$d/syncthing/key.pem"
    kubectl --context "$r" -n geowp get secret syncthing-group -o 'jsonpath={.data.config\.xml}' | base64 -d >"$d/syncthing/config.xml"
    chmod 600 "$d/syncthing/key.pem"
    HOME=$d/syncthing STMONITORED=yes STNOUPGRADE=1 setsid syncthing serve --home="$d/syncthing" --no-browser \
      --no-restart --no-default-folder >"$d/syncthing.log" 2>&1 </dev/null &
    echo $! >"$d/syncthing.pid"
    echo "  $r: device $(syncthing --home="$d/syncthing" --device-id 2>/dev/null | cut -c1-7)..., folder .demo/regions/$r/wp-content"
    # one after another: SyncThing 1.19 can stall when peers start at the same instant
    sleep 1
  done

  step "writing a file into us-east's wp-content and waiting for it in eu-west and ap-south"
  f=uploads/hello-from-us-east.txt
  mkdir -p "$DEMO/regions/us-east/wp-content/uploads"
  echo "written in us-east at $(date -u +%H:%M:%S)" >"$DEMO/regions/us-east/wp-content/$f"
  start=$(date +%s.%N)
  for r in eu-west ap-south; do
    for _ in $(seq 1200); do [ -f "$DEMO/regions/$r/wp-content/$f" ] && break; sleep 0.1; done
    [ -f "$DEMO/regions/$r/wp-content/$f" ] || fail "the file did not reach $r in 2 minutes: see .demo/regions/$r/syncthing.log"
    printf '  arrived in %s after %s s: %s\n' "$r" "$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')" "$(cat "$DEMO/regions/$r/wp-content/$f")"
  done

  step "the group as SyncThing sees it (geowp-helper sync status, over each daemon's REST API)"
  status_args=()
  for r in "${REGIONS[@]}"; do
    d=$DEMO/regions/$r
    read -r _ gui <"$d/ports"
    sed -n 's:.*<apikey>\(.*\)</apikey>.*:\1:p' "$d/syncthing/config.xml" >"$d/syncthing/apikey"
    chmod 600 "$d/syncthing/apikey"
    status_args+=(--api "http://127.0.0.1:$gui" --api-key "@$d/syncthing/apikey" --name "$r")
  done
  "$BIN/geowp-helper" sync status "${status_args[@]}" --wait 60s | sed 's/^/  /' ||
    fail "SyncThing reports the group unhealthy: see .demo/regions/*/syncthing.log"

  step "the demo is running"
  cat <<TXT
  group status:   target/debug/geowp-helper sync status --api http://127.0.0.1:PORT --api-key @.demo/regions/REGION/syncthing/apikey ...
                  (ports in .demo/regions/*/ports: peer port, then GUI port)
  kubectl:        KUBECONFIG=.demo/kubeconfig kubectl --context eu-west -n geowp get all
  wp-content:     .demo/regions/{us-east,eu-west,ap-south}/wp-content  (write a file in one, watch the others)
  Terraform:      cd .demo/work/local && TF_CLI_CONFIG_FILE=$DEMO/cli.tfrc $TF plan
  stop it all:    make demo-down
  Simulated: the clusters (fake API servers; pods do not run, their status is simulated).
  Real: Terraform, the provider, kubectl, and SyncThing replicating the files.
TXT
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) fail "usage: scripts/demo.sh up|down" ;;
esac
