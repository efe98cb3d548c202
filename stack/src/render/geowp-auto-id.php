<?php
/**
 * Plugin Name: geowp monotonic IDs
 * Description: Creates WordPress's posts, comments, users and terms tables with TiDB's AUTO_ID_CACHE 1, so that their IDs grow in the order rows are written in every region (TiDB otherwise hands each TiDB server its own batch of 30000 IDs: unique, but a post written in one region can get a smaller ID than an older one from another). Written as a TiDB comment, which MySQL and MariaDB ignore. Applies when WordPress creates its tables (install, new tables on upgrade); installed by geowp.
 * Version: 1
 */

if (!defined('ABSPATH')) {
    exit;
}

final class Geowp_Auto_Id
{
    /** Tables (without the prefix) whose IDs people see: ?p=, ?cat=, comment and user numbers. */
    const TABLES = array('posts', 'comments', 'users', 'terms');

    /** TiDB reads the option inside its feature comment; other servers see a comment. */
    const OPTION = ' /*T![auto_id_cache] AUTO_ID_CACHE=1 */';

    /**
     * The `dbdelta_create_queries` filter: the CREATE TABLE statements
     * dbDelta() is about to run, keyed by table name.
     */
    public static function create_queries($queries)
    {
        global $wpdb;
        if (!is_array($queries)) {
            return $queries;
        }
        $ours = array();
        foreach (self::TABLES as $t) {
            $ours[] = strtolower($wpdb->prefix . $t);
            $ours[] = strtolower($wpdb->base_prefix . $t);
        }
        foreach ($queries as $table => $sql) {
            if (!is_string($sql) || !in_array(strtolower(trim($table, '`')), $ours, true)) {
                continue;
            }
            if (stripos($sql, 'AUTO_ID_CACHE') !== false || !preg_match('/^\s*CREATE\s+TABLE\b/i', $sql)) {
                continue;
            }
            $queries[$table] = rtrim($sql, "; \t\n\r") . self::OPTION;
        }
        return $queries;
    }
}

add_filter('dbdelta_create_queries', array('Geowp_Auto_Id', 'create_queries'));
