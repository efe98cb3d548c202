#!/usr/bin/env bash
# make demo / demo-down / demo-region-down / demo-region-up: one WordPress
# site over three simulated regions on this machine, no cloud and no Docker.
# Everything lives in .demo/:
#   .demo/regions/NAME/     a fake Kubernetes API server (TLS, token) and its
#                           kubeconfig; runtime/ the pods geowp-localrun runs
#   .demo/db/               the MariaDB server standing in for TiDB's SQL layer
#   .demo/haproxy.cfg       the global load balancer in front of the regions
#   .demo/site.json         the site's URL, admin, and each region's URL and wp-content
#   .demo/kubeconfig        all three regions' contexts (geowp-helper kubeconfig merge)
#   .demo/work/local        the Terraform working directory (examples/terraform/local)
# Settings: GEOWP_DEMO_DIR (.demo), GEOWP_DEMO_PORT (8080, the site's port),
# GEOWP_DEMO_NET (11: regions get 127.11.*, 127.12.*, 127.13.*),
# GEOWP_TERRAFORM (a Terraform binary; .tools/bin/terraform, 1.0.3, otherwise),
# GEOWP_DEMO_BIN (the directory of geowp's binaries; target/debug, otherwise:
# another build's, to compare releases on the same demo),
# GEOWP_DEMO_RTT (e.g. "us-east=0,eu-west=80,ap-south=150": milliseconds of
# round trip from each region to the database's leaders; every SQL statement
# a region's TiDB would send there waits for it, see localrun/src/sqldelay.rs;
# unset: 0 everywhere),
# GEOWP_DEMO_OWNER (a process ID: when that process ends, killed or not, the
# demo's processes are stopped and its directory removed; the tests set it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${GEOWP_DEMO_DIR:-$ROOT/.demo}
TF=${GEOWP_TERRAFORM:-$ROOT/.tools/bin/terraform}
BIN=${GEOWP_DEMO_BIN:-$ROOT/target/debug}
PORT=${GEOWP_DEMO_PORT:-8080}
NET=${GEOWP_DEMO_NET:-11}
REGIONS=(us-east eu-west ap-south)
SITE_HOST="demo.localhost:$PORT"
SITE_URL="http://$SITE_HOST"
step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

# region name -> milliseconds of round trip to the data (GEOWP_DEMO_RTT)
rtt_of() {
  local pair name ms
  [ -n "${GEOWP_DEMO_RTT:-}" ] || { echo 0; return 0; }
  IFS=',' read -ra pairs <<<"$GEOWP_DEMO_RTT"
  for pair in "${pairs[@]}"; do
    name=${pair%%=*}; ms=${pair#*=}
    [[ "$pair" == *=* && "$ms" =~ ^[0-9]+$ ]] || fail "GEOWP_DEMO_RTT: '$pair' is not REGION=MILLISECONDS (e.g. us-east=0,eu-west=80,ap-south=150)"
    index_of "$name" >/dev/null
    [ "$name" = "$1" ] && { echo "$ms"; return 0; }
  done
  echo 0
}

# region index -> its address prefix 127.N
prefix() { echo "127.$((NET + $1))"; }
index_of() {
  local i
  for i in "${!REGIONS[@]}"; do [ "${REGIONS[$i]}" = "$1" ] && { echo "$i"; return 0; }; done
  fail "no region $1 (regions: ${REGIONS[*]})"
}

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

kill_tree() { # pid file, signal: the process group the pid leads
  local f=$1 sig=${2:-TERM}
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
}

wait_for_line() { # file, pattern, what
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "$3 did not start: see $1 and the log beside it"
}

port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))' "$1" "$2" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_region() { # name
  local r=$1 i d listen
  i=$(index_of "$r"); d=$DEMO/regions/$r
  mkdir -p "$d"
  [ -f "$d/token" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$d/token"
  # the same port after a restart: kubeconfigs and Terraform state name it
  listen=127.0.0.1:0; [ -f "$d/apiserver.port" ] && listen=127.0.0.1:$(cat "$d/apiserver.port")
  rm -f "$d/apiserver.out"
  setsid "$BIN/geowp-fake-apiserver" --name "$r" --token "$(cat "$d/token")" --data "$d/objects.json" --cert-dir "$d/certs" \
    --kubeconfig "$d/kubeconfig" --listen "$listen" --behavior external --ip-prefix "$(prefix "$i")" \
    >"$d/apiserver.out" 2>"$d/apiserver.log" </dev/null &
  echo $! >"$d/apiserver.pid"
  wait_for_line "$d/apiserver.out" '^listening on' "the API server of $r"
  sed 's/^listening on https:\/\/127.0.0.1://' "$d/apiserver.out" >"$d/apiserver.port"
  setsid "$BIN/geowp-localrun" run --kubeconfig "$d/kubeconfig" --name "$r" --dir "$d/runtime" \
    --ip-prefix "$(prefix "$i")" --db "127.0.0.1:$(cat "$DEMO/db/port")" --db-rtt-ms "$(rtt_of "$r")" \
    >"$d/runtime.log" 2>&1 </dev/null &
  echo $! >"$d/runtime.pid"
}

stop_region() { # name
  local d=$DEMO/regions/$1
  kill_tree "$d/runtime.pid" TERM
  kill_tree "$d/apiserver.pid" TERM
}

down() {
  [ -d "$DEMO" ] || { echo "nothing to take down ($DEMO does not exist)"; return 0; }
  setup_cli
  for r in "${REGIONS[@]}"; do
    if [ -f "$DEMO/regions/$r/apiserver.port" ] && [ ! -f "$DEMO/regions/$r/apiserver.pid" ]; then
      echo "bringing $r back for the destroy"; start_region "$r"
    fi
  done
  if [ -f "$DEMO/work/local/terraform.tfstate" ] && [ -x "$TF" ]; then
    step "terraform destroy (the regions must still be up for it)"
    (cd "$DEMO/work/local" && "$TF" destroy -no-color -auto-approve >"$DEMO/destroy.log" 2>&1) \
      && echo "destroyed; see $DEMO/destroy.log" \
      || echo "terraform destroy failed (see $DEMO/destroy.log); removing everything anyway"
  fi
  step "stopping the load balancer, the regions' pods and API servers, and the database"
  stop_all
  rm -rf "$DEMO"
  echo "removed $DEMO"
}

stop_all() {
  kill_tree "$DEMO/haproxy.pid" TERM
  for r in "${REGIONS[@]}"; do stop_region "$r"; done
  kill_tree "$DEMO/db/pid.server" TERM
  kill_tree "$DEMO/backups.pid" TERM
  # the owner's watcher (GEOWP_DEMO_OWNER), unless this is it
  if [ -f "$DEMO/watch.pid" ] && [ "$(cat "$DEMO/watch.pid")" != "$$" ]; then kill_tree "$DEMO/watch.pid" TERM; fi
}

# the demo's owner (GEOWP_DEMO_OWNER) is gone: stop every process, keep nothing
# (the fake clusters go with the directory, so there is nothing to destroy)
abandon() {
  [ -d "$DEMO" ] || return 0
  stop_all
  rm -rf "$DEMO"
}

need() { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || fail "$1 is missing: $2"; }

up() {
  local t0=$SECONDS
  for x in "$TF" "$BIN/terraform-provider-geowp" "$BIN/geowp-fake-apiserver" "$BIN/geowp-helper" "$BIN/geowp-localrun"; do
    need "$x" "run 'make demo' (it installs and builds everything)"
  done
  for x in syncthing haproxy php /usr/sbin/mariadbd mariadb /usr/sbin/varnishd restic rclone; do need "$x" "run 'make demo' (it installs Debian's packages: scripts/tools.sh)"; done
  [ -f /usr/share/wordpress/wp-settings.php ] || fail "Debian's wordpress is missing: run 'make demo'"
  need kubectl "install it (Debian: kubernetes-client) and run again"
  if [ -d "$DEMO" ]; then
    step "an earlier demo is here: taking it down first"
    down
  fi
  for i in "${!REGIONS[@]}"; do
    for a in 127.0.0.1 "$(prefix "$i").0.1"; do
      port_free "$a" "$PORT" || fail "$a:$PORT is taken: set GEOWP_DEMO_PORT to a free port (and GEOWP_DEMO_NET to move the regions' 127.N addresses)"
    done
  done
  mkdir -p "$DEMO/regions" "$DEMO/db"
  setup_cli
  if [ -n "${GEOWP_DEMO_OWNER:-}" ]; then
    # a demo a process owns (the tests') goes when its owner does, killed or not
    setsid "$BIN/geowp-localrun" watch --pid "$GEOWP_DEMO_OWNER" -- bash "$ROOT/scripts/demo.sh" abandon \
      >"$DEMO/watch.log" 2>&1 </dev/null &
    echo $! >"$DEMO/watch.pid"
  fi

  step "the database: one MariaDB server for every region, standing in for TiDB (TiDB binaries cannot be installed here)"
  free_port >"$DEMO/db/port"
  setsid "$BIN/geowp-localrun" mariadb --dir "$DEMO/db" --port "$(cat "$DEMO/db/port")" >"$DEMO/db/out" 2>"$DEMO/db/log" </dev/null &
  echo $! >"$DEMO/db/pid.server"
  wait_for_line "$DEMO/db/out" '^listening on' "MariaDB"
  echo "  127.0.0.1:$(cat "$DEMO/db/port")"

  step "the backup repository: restic's REST protocol served by rclone from $DEMO/backups (a stand-in for object storage)"
  mkdir -p "$DEMO/backups"
  free_port >"$DEMO/backups.port"
  setsid rclone serve restic "$DEMO/backups/repository" --addr "127.0.0.1:$(cat "$DEMO/backups.port")" --config /dev/null \
    >"$DEMO/backups.log" 2>&1 </dev/null &
  echo $! >"$DEMO/backups.pid"
  wait_for_line "$DEMO/backups.log" 'Serving restic REST API' "rclone's restic server"
  echo "  rest:http://127.0.0.1:$(cat "$DEMO/backups.port")/"

  step "three regions: fake Kubernetes API servers (TLS, tokens), each with geowp-localrun running its pods as processes"
  for r in "${REGIONS[@]}"; do
    start_region "$r"
    i=$(index_of "$r")
    echo "  $r: API https://127.0.0.1:$(cat "$DEMO/regions/$r/apiserver.port"), Services at $(prefix "$i").*  (kubeconfig: $DEMO/regions/$r/kubeconfig)"
  done

  step "writing the Terraform inputs ($DEMO/work/local/terraform.tfvars.json)"
  mkdir -p "$DEMO/work"
  cp -r examples/terraform/local examples/terraform/modules "$DEMO/work/"
  python3 - "$DEMO" "$NET" "$SITE_URL" "${REGIONS[@]}" <<'PY'
import json, sys
demo, net, site_url, regions = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
backups = f"rest:http://127.0.0.1:{open(demo + '/backups.port').read().strip()}/"
clusters = {}
for i, r in enumerate(regions):
    d = f"{demo}/regions/{r}"
    p = f"127.{net + i}"
    clusters[r] = {"host": f"https://127.0.0.1:{open(d + '/apiserver.port').read().strip()}",
                   "cluster_ca_certificate": open(f"{d}/certs/ca.pem").read(),
                   "token": open(f"{d}/token").read().strip(),
                   # static load balancer addresses, as a cloud would reserve them
                   "pd_ip": f"{p}.4.1", "tikv_ip": f"{p}.4.2", "syncthing_ip": f"{p}.4.3"}
json.dump({"clusters": clusters, "site_url": site_url, "backup_repository": backups},
          open(f"{demo}/work/local/terraform.tfvars.json", "w"), indent=2)
PY

  cd "$DEMO/work/local"
  step "terraform init (provider from the local mirror $DEMO/mirror)"
  "$TF" init -no-color >"$DEMO/init.log" 2>&1 || fail "terraform init failed: see $DEMO/init.log"
  step "terraform apply: the site's secrets, a stack in each region, the SyncThing group (it waits for real readiness)"
  "$TF" apply -no-color -auto-approve >"$DEMO/apply.log" 2>&1 || { grep -E 'Error|error' -A8 "$DEMO/apply.log" | head -40; fail "terraform apply failed: see $DEMO/apply.log"; }
  grep -E 'Creation complete|Apply complete' "$DEMO/apply.log" | sed 's/^/  /'
  "$TF" plan -no-color -detailed-exitcode >"$DEMO/plan.log" 2>&1 || fail "a second plan is not empty: see $DEMO/plan.log and run 'make demo-down'"
  echo "  a second plan shows no changes"
  endpoints=$("$TF" output -json wordpress_endpoints)
  health=$("$TF" output -raw health_check_path)
  cd "$ROOT"

  step "merging the regions' kubeconfigs into $DEMO/kubeconfig (geowp-helper kubeconfig merge)"
  "$BIN/geowp-helper" kubeconfig merge -o "$DEMO/kubeconfig" --current us-east \
    "$DEMO/regions/us-east/kubeconfig" "$DEMO/regions/eu-west/kubeconfig" "$DEMO/regions/ap-south/kubeconfig"
  export KUBECONFIG=$DEMO/kubeconfig
  for r in "${REGIONS[@]}"; do
    echo "  $r: $(kubectl --context "$r" -n geowp get pods --no-headers 2>/dev/null | awk '{printf "%s %s  ", $1, $2}')"
  done

  step "the global load balancer: HAProxy on $SITE_URL, health-checking $health in every region"
  backends=()
  for r in "${REGIONS[@]}"; do
    i=$(index_of "$r")
    wp=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]].split("//")[1].rstrip("/"))' "$endpoints" "$r")
    case $wp in *:*) ;; *) wp=$wp:80 ;; esac
    backends+=(--backend "$r=$wp,$(prefix "$i").0.1:$PORT")
  done
  "$BIN/geowp-localrun" haproxy-config --listen "127.0.0.1:$PORT" --host "$SITE_HOST" --health-path "$health" \
    "${backends[@]}" --out "$DEMO/haproxy.cfg"
  haproxy -c -q -f "$DEMO/haproxy.cfg" || fail "HAProxy refuses $DEMO/haproxy.cfg"
  setsid haproxy -db -f "$DEMO/haproxy.cfg" >"$DEMO/haproxy.log" 2>&1 </dev/null &
  echo $! >"$DEMO/haproxy.pid"

  # installed where the data is closest (GEOWP_DEMO_RTT; all 0: the load
  # balancer): an install is hundreds of statements
  local via=$SITE_URL near="" best="" r ms
  for r in "${REGIONS[@]}"; do
    ms=$(rtt_of "$r")
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; near=$r; fi
  done
  if [ -n "${GEOWP_DEMO_RTT:-}" ]; then
    via="http://$(prefix "$(index_of "$near")").0.1:$PORT"
    step "installing WordPress through its install page, in $near (nearest the data)"
  else
    step "installing WordPress through its install page, via the load balancer"
  fi
  password=$("$BIN/geowp-localrun" install-wordpress --site-url "$via" --title "geowp demo" --user admin \
    --password-file "$DEMO/admin-password") || fail "WordPress did not install: see $DEMO/regions/*/runtime/pods/geowp/wordpress-*/wordpress.log"
  python3 - "$DEMO" "$SITE_URL" "$password" "$PORT" "$NET" "${REGIONS[@]}" <<'PY'
import glob, json, sys
demo, url, pw, port, net, regions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]
out = {"site_url": url, "admin": {"user": "admin", "password": pw}, "regions": {}}
for i, r in enumerate(regions):
    content = sorted(glob.glob(f"{demo}/regions/{r}/runtime/volumes/geowp/export-nfs-0/pvc-*"))
    out["regions"][r] = {"wordpress_url": f"http://127.{net + i}.0.1:{port}/",
                         "wp_content": content[0] if content else None}
json.dump(out, open(f"{demo}/site.json", "w"), indent=2)
PY

  step "the demo is running (ready in $((SECONDS - t0)) s)"
  cat <<TXT
  the site:       $SITE_URL   (open it in a browser)
  admin:          $SITE_URL/wp-admin/   user admin, password $password
  each region:    $(for i in "${!REGIONS[@]}"; do printf '%s http://%s.0.1:%s/   ' "${REGIONS[$i]}" "$(prefix "$i")" "$PORT"; done)
  everything:     $DEMO/site.json
  kubectl:        KUBECONFIG=$DEMO/kubeconfig kubectl --context eu-west -n geowp get pods
  a region down:  make demo-region-down REGION=eu-west   (and demo-region-up)
  backups:        make demo-backup   (a backup now; hourly ones are scheduled)   make demo-restore [BACKUP=NAME]
  Terraform:      cd $DEMO/work/local && TF_CLI_CONFIG_FILE=$DEMO/cli.tfrc $TF plan
  stop it all:    make demo-down
  Real: Terraform, the provider, WordPress and PHP, Varnish (each region's page cache),
        SyncThing replicating wp-content, HAProxy, MariaDB standing in for TiDB's SQL layer, kubectl.
  Distance to the data (GEOWP_DEMO_RTT): $(for r in "${REGIONS[@]}"; do printf '%s %s ms   ' "$r" "$(rtt_of "$r")"; done)
  Simulated: the Kubernetes API servers, NFS (each region's wp-content is a directory),
        TiDB's distribution (PD and TiKV do not run; one MariaDB serves every region).
TXT
}

# a backup now, or a restore (of the latest or a named backup), through
# geowp-helper as a user would run it
backup() {
  [ -f "$DEMO/kubeconfig" ] || fail "the demo is not up: make demo"
  "$BIN/geowp-helper" site backup --kubeconfig "$DEMO/kubeconfig" "$@"
}
restore() {
  [ -f "$DEMO/kubeconfig" ] || fail "the demo is not up: make demo"
  "$BIN/geowp-helper" site restore --kubeconfig "$DEMO/kubeconfig" --backup "${1:-latest}"
}

region() { # down|up NAME
  [ -d "$DEMO/regions/${2:-}" ] || fail "usage: make demo-region-$1 REGION=NAME (one of: ${REGIONS[*]}); is the demo up?"
  case $1 in
    down) stop_region "$2"; echo "region $2 is down: its pods and API server are stopped" ;;
    up)
      [ -f "$DEMO/regions/$2/apiserver.pid" ] && kill -0 "$(cat "$DEMO/regions/$2/apiserver.pid")" 2>/dev/null && { echo "region $2 is already up"; return 0; }
      start_region "$2"; echo "region $2 is up again: its pods are starting" ;;
  esac
}

# a bad GEOWP_DEMO_RTT is said before anything starts
for r in "${REGIONS[@]}"; do rtt_of "$r" >/dev/null || exit 1; done

case "${1:-up}" in
  up) up ;;
  down) down ;;
  abandon) abandon ;;
  region-down) region down "${2:-}" ;;
  region-up) region up "${2:-}" ;;
  backup) backup ;;
  restore) restore "${2:-}" ;;
  *) fail "usage: scripts/demo.sh up|down|region-down NAME|region-up NAME|backup|restore [NAME]" ;;
esac
