<?php
// geowp's runner of WordPress's scheduled events. A CronJob in every region
// starts it every minute; WordPress itself never starts them from page loads
// (DISABLE_WP_CRON).
//
// WordPress's own lock (the doing_cron transient in wp-cron.php) is not a
// mutex: it is read, then written, and a run that started before another
// finished works from the schedule it loaded at start, so two runs that
// overlap can run the same due event twice. This runner takes a named lock in
// the database first: GET_LOCK holds across every TiDB server, so across
// regions, and only one run in the whole site goes on; the others end at
// once. WordPress is loaded only once the lock is held, so each run reads the
// schedule the previous one left. The lock ends with the connection, when
// this process ends, or when its region is cut off and its session expires.
//
// Environment: the official image's WORDPRESS_DB_* (and NAME_FILE for each),
// as WordPress's own wp-config.php reads them; GEOWP_WORDPRESS_ROOT (default
// /var/www/html) is where WordPress is.

const GEOWP_CRON_LOCK = 'geowp-wp-cron';

function geowp_cron_env($name)
{
    $file = getenv($name . '_FILE');
    if ($file !== false && $file !== '') {
        $v = @file_get_contents($file);
        return $v === false ? '' : rtrim($v, "\r\n");
    }
    $v = getenv($name);
    return $v === false ? '' : $v;
}

mysqli_report(MYSQLI_REPORT_OFF);
$geowp_host = explode(':', geowp_cron_env('WORDPRESS_DB_HOST') ?: 'localhost', 2);
$geowp_db = mysqli_init();
$geowp_db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
if (!@$geowp_db->real_connect(
    $geowp_host[0],
    geowp_cron_env('WORDPRESS_DB_USER'),
    geowp_cron_env('WORDPRESS_DB_PASSWORD'),
    geowp_cron_env('WORDPRESS_DB_NAME'),
    isset($geowp_host[1]) ? (int) $geowp_host[1] : 3306
)) {
    fwrite(STDERR, 'geowp-cron: the database does not answer: ' . mysqli_connect_error() . "\n");
    exit(1);
}
// wait at most a second: another run holding the lock is running the events
$geowp_got = $geowp_db->query("SELECT GET_LOCK('" . GEOWP_CRON_LOCK . "', 1)");
$geowp_row = $geowp_got ? $geowp_got->fetch_row() : null;
if ($geowp_row === null || (string) $geowp_row[0] !== '1') {
    echo "geowp-cron: another run holds the lock; nothing to do\n";
    exit(0);
}
echo "geowp-cron: lock held, running due events\n";
register_shutdown_function(function () use ($geowp_db) {
    $geowp_db->query("SELECT RELEASE_LOCK('" . GEOWP_CRON_LOCK . "')");
    $geowp_db->close();
    echo "geowp-cron: done\n";
});
$geowp_root = getenv('GEOWP_WORDPRESS_ROOT') ?: '/var/www/html';
chdir($geowp_root);
require $geowp_root . '/wp-cron.php';
