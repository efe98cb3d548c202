<?php
/*
 * Plugin Name: geowp page cache
 * Description: Bans this region's cached pages when published content changes. Installed by geowp (do not edit: the next apply puts it back).
 *
 * GEOWP_PAGE_CACHE_PURGE is "HOST:PORT" of the cache's purge listener: a
 * headless Service whose name resolves to every cache pod of the region,
 * each sent one BAN at the end of a request that changed content. The other
 * regions' caches are not reached: their pages expire within the ttl
 * (docs/guides/page-cache.md). Without the variable the plugin does nothing.
 *
 * A visitor's page may be rendered from reads a few seconds old
 * (geowp-stale-reads.php): right after a ban, such a page could bring the
 * old content back into the cache. So the time of each change is kept in
 * the option geowp_content_changed_at, and for a few seconds after it
 * visitors' pages read fresh.
 */

if (!defined('ABSPATH')) {
    exit;
}

/** Every address of the purge listener: [[ip, port], ...]. */
function geowp_page_cache_targets() {
    $target = getenv('GEOWP_PAGE_CACHE_PURGE');
    if (!$target || strpos($target, ':') === false) {
        return array();
    }
    $at = strrpos($target, ':');
    $host = substr($target, 0, $at);
    $port = (int) substr($target, $at + 1);
    $ips = filter_var($host, FILTER_VALIDATE_IP) ? array($host) : gethostbynamel($host);
    if (!$ips || $port <= 0) {
        error_log("geowp page cache: $host does not resolve; cached pages were not banned");
        return array();
    }
    $out = array();
    foreach ($ips as $ip) {
        $out[] = array($ip, $port);
    }
    return $out;
}

/** Sends the BAN to every cache pod; returns how many took it. */
function geowp_page_cache_ban_now() {
    $banned = 0;
    foreach (geowp_page_cache_targets() as $t) {
        list($ip, $port) = $t;
        $s = @fsockopen($ip, $port, $errno, $errstr, 2);
        if (!$s) {
            error_log("geowp page cache: cannot reach $ip:$port ($errstr); its pages expire within the ttl");
            continue;
        }
        stream_set_timeout($s, 2);
        fwrite($s, "BAN / HTTP/1.1\r\nHost: geowp-page-cache\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        $status = fgets($s);
        fclose($s);
        if ($status !== false && preg_match('#^HTTP/1\.[01] 200 #', $status)) {
            $banned++;
        } else {
            error_log("geowp page cache: $ip:$port refused the ban: " . trim((string) $status));
        }
    }
    return $banned;
}

/**
 * Content changed: when the request ends (a save changes many things), the
 * time of the change is written for geowp-stale-reads.php (a page rendered
 * from reads older than the change must not be stored again), then the
 * region's pages are banned, once.
 */
function geowp_page_cache_changed() {
    static $queued = false;
    if ($queued || !getenv('GEOWP_PAGE_CACHE_PURGE')) {
        return;
    }
    $queued = true;
    add_action('shutdown', function () {
        update_option('geowp_content_changed_at', (string) time(), false);
        geowp_page_cache_ban_now();
    });
}

/** A post visitors can see before or after the change. */
function geowp_page_cache_post($new_status, $old_status, $post) {
    if (!$post || wp_is_post_revision($post) || wp_is_post_autosave($post)) {
        return;
    }
    if (!is_post_type_viewable($post->post_type)) {
        return;
    }
    if ($new_status === 'publish' || $old_status === 'publish') {
        geowp_page_cache_changed();
    }
}
add_action('transition_post_status', 'geowp_page_cache_post', 10, 3);

add_action('deleted_post', function ($id, $post = null) {
    if ($post && $post->post_status === 'publish' && is_post_type_viewable($post->post_type)) {
        geowp_page_cache_changed();
    }
}, 10, 2);

// comments, terms, menus, widgets, the theme and its customizer, plugins
foreach (array(
    'wp_update_comment_count', 'edited_term', 'created_term', 'delete_term',
    'wp_update_nav_menu', 'update_option_sidebars_widgets', 'switch_theme',
    'customize_save_after', 'activated_plugin', 'deactivated_plugin',
) as $hook) {
    add_action($hook, 'geowp_page_cache_changed');
}

// settings every page shows
foreach (array(
    'blogname', 'blogdescription', 'permalink_structure', 'show_on_front',
    'page_on_front', 'page_for_posts', 'posts_per_page', 'sticky_posts',
    'date_format', 'time_format', 'site_icon',
) as $option) {
    add_action("update_option_$option", 'geowp_page_cache_changed');
}
