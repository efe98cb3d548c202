<?php
/**
 * Plugin Name: geowp found rows
 * Description: Answers SQL_CALC_FOUND_ROWS and FOUND_ROWS() with a COUNT(*), because TiDB has no SQL_CALC_FOUND_ROWS (with its no-op functions turned on, FOUND_ROWS() counts only the rows after LIMIT, so WordPress shows one page). Works on every query through $wpdb: posts, users, comments and plugins alike. Installed by geowp; harmless on MySQL and MariaDB.
 * Version: 1
 */

if (!defined('ABSPATH')) {
    exit;
}

final class Geowp_Found_Rows
{
    /** @var int|null The answer to the next SELECT FOUND_ROWS(). */
    private static $found = null;
    /** @var bool True while counting, so the count itself is left alone. */
    private static $counting = false;

    /** The `query` filter: every statement $wpdb sends passes here first. */
    public static function query($sql)
    {
        if (self::$counting || !is_string($sql)) {
            return $sql;
        }
        if (preg_match('/^\s*SELECT\s+FOUND_ROWS\(\s*\)\s*(AS\s+\S+\s*)?;?\s*$/i', $sql)) {
            return 'SELECT ' . (int) self::$found . ' AS `FOUND_ROWS()`';
        }
        if (!preg_match('/^\s*SELECT\s+SQL_CALC_FOUND_ROWS\s+/i', $sql)) {
            return $sql;
        }
        $plain = preg_replace('/^\s*SELECT\s+SQL_CALC_FOUND_ROWS\s+/i', 'SELECT ', $sql, 1);
        self::$found = self::count($plain);
        return $plain;
    }

    /** How many rows $select gives without its LIMIT. */
    private static function count($select)
    {
        global $wpdb;
        $all = self::without_limit($select);
        self::$counting = true;
        $suppress = $wpdb->suppress_errors(true);
        $n = $wpdb->get_var("SELECT COUNT(*) FROM ($all) AS geowp_found_rows");
        if ($n === null && !preg_match('/^\s*SELECT\s+DISTINCT\b/i', $all)) {
            // a select list with two columns of one name cannot be a derived
            // table: count the rows, not the columns
            $rows = preg_replace('/^\s*SELECT\s+.*?\s+FROM\s+/is', 'SELECT 1 FROM ', $all, 1);
            $n = $wpdb->get_var("SELECT COUNT(*) FROM ($rows) AS geowp_found_rows");
        }
        $wpdb->suppress_errors($suppress);
        self::$counting = false;
        return $n === null ? 0 : (int) $n;
    }

    /**
     * $sql without its last top-level LIMIT clause (LIMIT n, LIMIT n, m,
     * LIMIT n OFFSET m); LIMITs inside quotes or parentheses are kept.
     */
    public static function without_limit($sql)
    {
        $len = strlen($sql);
        $depth = 0;
        $quote = null;
        $last = -1;
        for ($i = 0; $i < $len; $i++) {
            $c = $sql[$i];
            if ($quote !== null) {
                if ($c === '\\') {
                    $i++;
                } elseif ($c === $quote) {
                    $quote = null;
                }
                continue;
            }
            if ($c === "'" || $c === '"' || $c === '`') {
                $quote = $c;
            } elseif ($c === '(') {
                $depth++;
            } elseif ($c === ')') {
                $depth--;
            } elseif ($depth === 0 && ($c === 'L' || $c === 'l')
                && strncasecmp(substr($sql, $i, 5), 'LIMIT', 5) === 0
                && ($i === 0 || !ctype_alnum($sql[$i - 1]) && $sql[$i - 1] !== '_')
                && ($i + 5 >= $len || !ctype_alnum($sql[$i + 5]) && $sql[$i + 5] !== '_')) {
                $last = $i;
            }
        }
        if ($last < 0) {
            return $sql;
        }
        $tail = substr($sql, $last);
        if (!preg_match('/^LIMIT\s+\d+\s*(,\s*\d+\s*|OFFSET\s+\d+\s*)?;?\s*$/i', $tail)) {
            return $sql;
        }
        return rtrim(substr($sql, 0, $last));
    }
}

add_filter('query', array('Geowp_Found_Rows', 'query'));
