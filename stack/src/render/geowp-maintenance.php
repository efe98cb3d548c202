<?php
/*
 * Plugin Name: geowp maintenance
 * Description: Holds the site in maintenance while a backup is restored. Installed by geowp (do not edit: the next apply puts it back).
 *
 * A restore (geowp-helper site restore) writes wp-content/uploads/.geowp-maintenance
 * before it touches the database and removes it when the database and the
 * files are back. SyncThing copies the file to every region within seconds,
 * so every region answers 503 meanwhile: visitors get the page cache's
 * stored pages (it keeps them while WordPress fails), editors a notice, and
 * nobody writes into a database being replaced. The cron runner (PHP's
 * command line) runs no events meanwhile.
 */

if (!defined('ABSPATH')) {
    exit;
}

if (file_exists(WP_CONTENT_DIR . '/uploads/.geowp-maintenance')) {
    if (PHP_SAPI === 'cli') {
        fwrite(STDERR, "geowp: a backup is being restored; no scheduled events run until it is done\n");
        exit(0);
    }
    header('Retry-After: 60');
    wp_die(
        '<h1>Back in a few minutes</h1><p>This site is being restored from a backup.</p>',
        'Maintenance',
        array('response' => 503)
    );
}
