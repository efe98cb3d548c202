# geowp's backup and restore of one site, one step per container (POSIX sh:
# busybox in restic's image, bash or dash elsewhere). `sh geowp-backup.sh STEP`.
#
# Backup (a CronJob in every region, the same schedule everywhere):
#   claim   (MySQL client image) takes this run: a row in geowp_backup_runs,
#           whose primary key lets one region have it; the others end. Then
#           a consistent dump of the WordPress database (one transaction).
#   files   (restic image) stores the dump and wp-content in the repository,
#           two snapshots tagged with the run, and applies the retention.
#   record  (MySQL client image) marks the run finished with its snapshots.
# A run that another region took ends at `claim` and writes nothing.
# GEOWP_BACKUP_MODE=status: `record` prints the last finished run only.
#
# Restore (geowp-helper site restore: a Job from the geowp-restore template):
#   plan    (MySQL client) finds the run (GEOWP_RESTORE_RUN or the latest
#           finished one).
#   fetch   (restic) writes the dump out, puts WordPress in maintenance in
#           every region (a flag file in wp-content, which SyncThing copies)
#           and restores wp-content's files.
#   load    (MySQL client) loads the dump and ends the maintenance.
#
# Environment: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD_FILE,
# GEOWP_REGION, GEOWP_WORK (scratch shared by the steps), GEOWP_CONTENT
# (wp-content), GEOWP_INTERVAL_HOURS, GEOWP_KEEP_HOURLY/DAILY/WEEKLY, and
# restic's own RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, RESTIC_CACHE_DIR and
# credential variables. Nothing secret is ever printed.
set -eu

step=${1:?which step}
work=${GEOWP_WORK:?}
runs=geowp_backup_runs
flag="$GEOWP_CONTENT/uploads/.geowp-maintenance"

say() { echo "geowp-backup: $*"; }
fail() {
  echo "geowp-backup: $*" >&2
  exit 1
}

# the database as the wordpress user; the password from a file of mode 600,
# never on a command line
cnf="$work/client.cnf"
client_cnf() {
  umask 077
  printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nprotocol=TCP\n' \
    "$DB_USER" "$(cat "$DB_PASSWORD_FILE")" "$DB_HOST" "$DB_PORT" >"$cnf"
}
db() { mysql --defaults-extra-file="$cnf" --batch --skip-column-names "$DB_NAME" "$@"; }

# a run's name: letters, digits, T, Z, - only (it goes into SQL and tags)
valid_run() {
  case "$1" in
  '' | *[!A-Za-z0-9TZ-]*) return 1 ;;
  esac
  [ ${#1} -le 40 ]
}

# the scheduled run now: the UTC hour rounded down to the interval
scheduled_run() {
  h=$(date -u +%H)
  h=${h#0}
  i=${GEOWP_INTERVAL_HOURS:-1}
  printf '%sT%02d00Z' "$(date -u +%Y%m%d)" $((h / i * i))
}

# the snapshot id in the summary line of `restic backup --json`
snapshot_of() { sed -n 's/.*"message_type":"summary".*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' | tail -n 1; }

case "$step" in
claim)
  client_cnf
  if [ "${GEOWP_BACKUP_MODE:-backup}" = status ]; then
    touch "$work/skip"
    exit 0
  fi
  run=${GEOWP_BACKUP_RUN:-$(scheduled_run)}
  valid_run "$run" || fail "invalid run name '$run': letters, digits and - only"
  printf '%s\n' "$run" >"$work/run"
  db -e "CREATE TABLE IF NOT EXISTS $runs (
    run VARCHAR(40) NOT NULL PRIMARY KEY,
    region VARCHAR(63) NOT NULL,
    started_at DATETIME NOT NULL,
    finished_at DATETIME NULL,
    database_snapshot VARCHAR(64) NULL,
    files_snapshot VARCHAR(64) NULL)"
  if out=$(db -e "INSERT INTO $runs (run, region, started_at) VALUES ('$run', '$GEOWP_REGION', UTC_TIMESTAMP())" 2>&1); then
    say "run $run is this region's ($GEOWP_REGION)"
  else
    case "$out" in
    *"ERROR 1062"*)
      # taken: by this region's earlier attempt of the same run (a retry
      # goes on), or by another region (this one ends)
      owner=$(db -e "SELECT region FROM $runs WHERE run = '$run' AND finished_at IS NULL")
      if [ "$owner" != "$GEOWP_REGION" ]; then
        say "run $run is taken (${owner:-finished}): nothing to do here"
        touch "$work/skip"
        exit 0
      fi
      say "run $run: this region's earlier attempt did not finish; again"
      ;;
    *) fail "cannot claim run $run: $out" ;;
    esac
  fi
  # one transaction (a consistent snapshot on TiDB and InnoDB); no table
  # locks, no FLUSH (TiDB refuses FLUSH TABLES WITH READ LOCK), no
  # tablespaces or triggers (neither exists on TiDB); the run table stays out
  mysqldump --defaults-extra-file="$cnf" --single-transaction --skip-lock-tables \
    --skip-add-locks --skip-disable-keys --no-tablespaces --skip-triggers --hex-blob \
    --default-character-set=utf8mb4 --ignore-table="$DB_NAME.$runs" "$DB_NAME" >"$work/database.sql.part"
  mv "$work/database.sql.part" "$work/database.sql"
  say "database dumped ($(wc -c <"$work/database.sql") bytes)"
  ;;

files)
  if [ -e "$work/skip" ]; then exit 0; fi
  run=$(cat "$work/run")
  if ! restic cat config >/dev/null 2>&1; then
    say "no repository at the configured location yet: initialising it"
    restic init >/dev/null
  fi
  # locks of runs that were killed (stale after 30 minutes); live ones stay
  restic unlock >/dev/null 2>&1 || true
  tags="--host geowp --tag geowp --tag run-$run"
  # shellcheck disable=SC2086
  db_id=$(restic backup --json $tags --tag database --stdin --stdin-filename database.sql <"$work/database.sql" | snapshot_of)
  [ -n "$db_id" ] || fail "restic stored the database but printed no snapshot id"
  # shellcheck disable=SC2086
  files_id=$(cd "$GEOWP_CONTENT" && restic backup --json $tags --tag files --exclude-caches --exclude .geowp-maintenance . | snapshot_of)
  [ -n "$files_id" ] || fail "restic stored wp-content but printed no snapshot id"
  printf '%s %s\n' "$db_id" "$files_id" >"$work/snapshots"
  say "run $run stored: database $db_id, files $files_id"
  keep="--keep-hourly ${GEOWP_KEEP_HOURLY:-48} --keep-daily ${GEOWP_KEEP_DAILY:-30} --keep-weekly ${GEOWP_KEEP_WEEKLY:-12}"
  if [ "$keep" = "--keep-hourly 0 --keep-daily 0 --keep-weekly 0" ]; then
    say "no retention policy: every backup is kept"
  else
    # shellcheck disable=SC2086
    restic forget --host geowp --tag database $keep >/dev/null
    # shellcheck disable=SC2086
    restic forget --host geowp --tag files $keep --prune >/dev/null
    say "retention applied ($keep)"
  fi
  ;;

record)
  if [ "${GEOWP_BACKUP_MODE:-backup}" = status ]; then
    last=$(db -e "SELECT run, DATE_FORMAT(finished_at, '%Y-%m-%dT%H:%i:%sZ') FROM $runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1" 2>/dev/null || true)
    if [ -n "$last" ]; then
      set -- $last
      echo "last-good-backup run=$1 finished=$2"
    else
      echo "last-good-backup none"
    fi
    exit 0
  fi
  if [ -e "$work/skip" ]; then exit 0; fi
  run=$(cat "$work/run")
  read -r db_id files_id <"$work/snapshots"
  db -e "UPDATE $runs SET finished_at = UTC_TIMESTAMP(), database_snapshot = '$db_id', files_snapshot = '$files_id' WHERE run = '$run'"
  say "backup $run finished in region $GEOWP_REGION (database $db_id, files $files_id)"
  ;;

plan)
  client_cnf
  want=${GEOWP_RESTORE_RUN:-latest}
  if [ "$want" = latest ]; then
    row=$(db -e "SELECT run, database_snapshot, files_snapshot FROM $runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1" 2>/dev/null || true)
  else
    valid_run "$want" || fail "invalid run name '$want'"
    row=$(db -e "SELECT run, database_snapshot, files_snapshot FROM $runs WHERE run = '$want' AND finished_at IS NOT NULL" 2>/dev/null || true)
  fi
  [ -n "$row" ] || fail "no finished backup '$want' (geowp-helper site status shows the last one)"
  # shellcheck disable=SC2086
  set -- $row
  printf '%s %s %s\n' "$1" "$2" "$3" >"$work/restore"
  say "restoring backup $1"
  ;;

fetch)
  read -r run db_id files_id <"$work/restore"
  # by the run's tags: a run the retention removed is not found, whatever
  # the record says
  if ! restic dump --host geowp --tag "database,run-$run" latest /database.sql >"$work/database.sql"; then
    fail "backup $run is not in the repository (removed by the retention policy, or another repository): nothing was changed"
  fi
  say "database of $run fetched ($(wc -c <"$work/database.sql") bytes)"
  # from here until the load ends, WordPress answers 503 in every region
  mkdir -p "$GEOWP_CONTENT/uploads"
  touch "$flag"
  say "WordPress is in maintenance in every region until the restore is done"
  # files the backup has are written back; files made since stay
  restic restore latest --host geowp --tag "files,run-$run" --target "$GEOWP_CONTENT" >/dev/null
  say "wp-content of $run restored"
  ;;

load)
  read -r run db_id files_id <"$work/restore"
  db <"$work/database.sql"
  rm -f "$flag"
  say "backup $run restored: database and files; maintenance over"
  ;;

*) fail "unknown step $step" ;;
esac
