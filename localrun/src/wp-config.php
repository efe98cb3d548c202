<?php
// wp-config.php for WordPress run by geowp's tests and local demo from
// Debian's `wordpress` package. It honours the environment the official
// WordPress image reads (the variables geowp_cluster_stack renders into the
// WordPress Deployment): WORDPRESS_DB_HOST/USER/PASSWORD/NAME/CHARSET/COLLATE,
// WORDPRESS_TABLE_PREFIX, WORDPRESS_<SALT>, WORDPRESS_CONFIG_EXTRA, and for
// each of them NAME_FILE, a file holding the value.

function geowp_getenv($name, $default = '')
{
    $file = getenv($name . '_FILE');
    if ($file !== false && $file !== '') {
        return rtrim(file_get_contents($file), "\r\n");
    }
    $value = getenv($name);
    return $value === false ? $default : $value;
}

define('DB_NAME', geowp_getenv('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', geowp_getenv('WORDPRESS_DB_USER', 'wordpress'));
define('DB_PASSWORD', geowp_getenv('WORDPRESS_DB_PASSWORD'));
define('DB_HOST', geowp_getenv('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', geowp_getenv('WORDPRESS_DB_CHARSET', 'utf8'));
define('DB_COLLATE', geowp_getenv('WORDPRESS_DB_COLLATE', ''));

foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
    'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $geowp_key) {
    define($geowp_key, geowp_getenv('WORDPRESS_' . $geowp_key, 'unset ' . $geowp_key));
}

$table_prefix = geowp_getenv('WORDPRESS_TABLE_PREFIX', 'wp_');

// nothing leaves this machine: no update checks, no pings, no cron spawns
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);

$geowp_extra = geowp_getenv('WORDPRESS_CONFIG_EXTRA');
if ($geowp_extra !== '') {
    eval($geowp_extra);
}

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
