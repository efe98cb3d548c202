<?php
/*
 * geowp stale reads: the wp-content/db.php drop-in. A visitor's page is read
 * from this region's own TiDB replicas, a few seconds old, without a round
 * trip to another region. Installed by geowp (do not edit: the next apply
 * puts it back).
 *
 * WordPress loads this file before it makes its database connection
 * (require_wp_db in wp-includes/load.php) and uses the $wpdb it defines, so
 * the settings are made as the connection opens, before WordPress's first
 * query (the autoloaded options): a must-use plugin loads only after those.
 *
 * For a request of a visitor who is not logged in (GET or HEAD, no login,
 * comment-author or post-password cookie, not wp-admin, login, cron,
 * XML-RPC, a preview or a nonce), the connection reads as of
 * GEOWP_STALE_READ_SECONDS ago (TiDB's `tidb_read_staleness`) from the
 * closest replica (`tidb_replica_read = 'closest-replicas'`). Such pages
 * are the ones the page cache stores, so they were never more current than
 * its ttl. Everyone else reads fresh, and so do visitors for a few seconds
 * after content changed (see geowp_stale_reads_recent_change). The first
 * statement of a request that writes turns fresh reads back on for the
 * rest of that request, so a request reads what it wrote.
 *
 * The settings sit in TiDB's own comment syntax (`/*T! ... *\/`, run by
 * TiDB, a comment to MySQL and MariaDB), after a user variable every server
 * takes: on MariaDB (the demo) the statement only sets @geowp_stale_reads.
 */

if (!defined('ABSPATH')) {
    exit;
}

/** Whether this request is a visitor's read (see above). */
function geowp_stale_reads_wanted() {
    $seconds = (int) getenv('GEOWP_STALE_READ_SECONDS');
    if ($seconds <= 0 || PHP_SAPI === 'cli') {
        return false;
    }
    $method = isset($_SERVER['REQUEST_METHOD']) ? $_SERVER['REQUEST_METHOD'] : '';
    if ($method !== 'GET' && $method !== 'HEAD') {
        return false;
    }
    if (defined('WP_ADMIN') || defined('DOING_CRON') || defined('XMLRPC_REQUEST') || defined('DOING_AJAX')) {
        return false;
    }
    $path = isset($_SERVER['REQUEST_URI']) ? (string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) : '';
    if (preg_match('#/(wp-admin/|wp-login\.php|wp-signup\.php|wp-activate\.php|wp-comments-post\.php|wp-cron\.php|xmlrpc\.php)#', $path)) {
        return false;
    }
    foreach (array('preview', 'preview_id', '_wpnonce') as $q) {
        if (isset($_GET[$q])) {
            return false;
        }
    }
    foreach (array_keys($_COOKIE) as $name) {
        if (preg_match('/^(wordpress_(logged_in_|sec_)?[0-9a-f]+|wp-postpass_[0-9a-f]+|comment_author_[0-9a-z_]+|wp-settings-[0-9]+)$/', $name)) {
            return false;
        }
    }
    return true;
}

/** The statement that turns stale reads on (true) or off (false). */
function geowp_stale_reads_statement($on) {
    if ($on) {
        $seconds = (int) getenv('GEOWP_STALE_READ_SECONDS');
        return "SET @geowp_stale_reads = $seconds /*T! , SESSION tidb_read_staleness = -$seconds, SESSION tidb_replica_read = 'closest-replicas' */";
    }
    return "SET @geowp_stale_reads = 0 /*T! , SESSION tidb_read_staleness = '', SESSION tidb_replica_read = @@GLOBAL.tidb_replica_read */";
}

/**
 * Whether content changed within the staleness (and a second of clock
 * skew): a stale read could then miss the change, and with the page cache
 * the page would bring the old content back right after the change banned
 * it. One fresh single-row read on `$db`, of what geowp-page-cache.php
 * writes (its errors kept quiet: before WordPress is installed there is no
 * table).
 */
function geowp_stale_reads_recent_change($db) {
    if (!getenv('GEOWP_PAGE_CACHE_PURGE')) {
        return false;
    }
    $prefix = isset($GLOBALS['table_prefix']) ? $GLOBALS['table_prefix'] : 'wp_';
    $quiet = $db->suppress_errors(true);
    $at = $db->get_var("SELECT option_value FROM `{$prefix}options` WHERE option_name = 'geowp_content_changed_at'");
    $db->suppress_errors($quiet);
    return $at !== null && (int) $at >= time() - (int) getenv('GEOWP_STALE_READ_SECONDS') - 1;
}

/** Whether `$query` only reads (and takes no lock). */
function geowp_stale_reads_only_reads($query) {
    return preg_match('/^\s*(\(\s*)?(SELECT|SHOW|SET|DESCRIBE|DESC|EXPLAIN)\b/i', $query)
        && !preg_match('/\bFOR\s+(UPDATE|SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b|\bGET_LOCK\s*\(/i', $query);
}

/**
 * WordPress's database class, with the stale-read settings made each time
 * its connection opens (a reconnect loses them), and fresh reads from a
 * request's first write on.
 */
class geowp_stale_reads_wpdb extends wpdb {
    /** Whether this connection reads stale now. */
    private $geowp_stale = false;

    public function db_connect($allow_bail = true) {
        $connected = parent::db_connect($allow_bail);
        $this->geowp_stale = false;
        if ($connected && geowp_stale_reads_wanted() && !geowp_stale_reads_recent_change($this)) {
            parent::query(geowp_stale_reads_statement(true));
            $this->geowp_stale = true;
        }
        return $connected;
    }

    public function query($query) {
        if ($this->geowp_stale && !geowp_stale_reads_only_reads($query)) {
            $this->geowp_stale = false;
            parent::query(geowp_stale_reads_statement(false));
        }
        return parent::query($query);
    }
}

$wpdb = new geowp_stale_reads_wpdb(DB_USER, DB_PASSWORD, DB_NAME, DB_HOST);
