vcl 4.1;
# geowp's page cache: Varnish in front of this region's WordPress.
# Visitors who are not logged in get pages from memory; everyone else, and
# every write, goes to WordPress untouched. Rendered by geowp (do not edit:
# the next apply puts it back). Works with Varnish 7.1 and later.
# Rendered from stack/src/render/geowp.vcl by cache.rs.

import std;

# WordPress's Service in this region. The probe asks WordPress's health page,
# which answers 200 only while the database answers: while it fails, pages
# are served stale for as long as page_cache_stale_if_error allows.
backend wordpress {
    .host = "@BACKEND_HOST@";
    .port = "@BACKEND_PORT@";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 30s;
    .probe = {
        .request =
            "GET @HEALTH_PATH@ HTTP/1.1"
            "Host: localhost"
            "User-Agent: geowp-page-cache"
            "Connection: close";
        .expected_response = 200;
        .interval = 5s;
        .timeout = 2s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
}

sub vcl_recv {
    # The purge listener: reached only by WordPress and its cron runner
    # (NetworkPolicy), never through the load balancer.
    if (local.socket == "purge") {
        if (req.url == "/ready") {
            return (synth(200, "Ready"));
        }
        if (req.method == "BAN") {
            # every page of the site: the front page, archives, feeds and
            # sitemaps list a post as well as its own URL does
            ban("obj.status != 0");
            return (synth(200, "Banned"));
        }
        return (synth(405, "Method Not Allowed"));
    }
    if (req.method == "BAN" || req.method == "PURGE") {
        return (synth(405, "Method Not Allowed"));
    }
    unset req.http.geowp-cache;
    # WordPress's health page: the load balancer's check reaches WordPress
    if (req.url ~ "^@HEALTH_PATH_RE@($|\?)") {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.http.Authorization) {
        return (pass);
    }
    # wp-admin, login, sign-up, comments, cron, XML-RPC, previews
    if (req.url ~ "^/(wp-admin|wp-login\.php|wp-signup\.php|wp-activate\.php|wp-comments-post\.php|wp-cron\.php|xmlrpc\.php)" ||
        req.url ~ "[?&](preview|preview_id|_wpnonce)=") {
        return (pass);
    }
    # Logged in (wordpress_logged_in_HASH, wordpress_HASH, wordpress_sec_HASH),
    # a password-protected post's cookie, a comment author's cookie, or a
    # logged-in user's settings cookie: fresh from WordPress, never stored.
    if (req.http.Cookie ~ "(^|;\s*)(wordpress_(logged_in_|sec_)?[0-9a-f]+|wp-postpass_[0-9a-f]+|comment_author_[0-9a-z_]+|wp-settings-[0-9]+)=") {
        return (pass);
    }
    # Other cookies (analytics and the like) do not change the page
    unset req.http.Cookie;
    if (req.restarts > 0 && req.http.geowp-stale) {
        # WordPress failed: the stored page, however old
        set req.grace = @STALE_IF_ERROR@s;
    } elsif (std.healthy(req.backend_hint)) {
        # serve a page this much past its ttl while one request refreshes it
        set req.grace = @HEALTHY_GRACE@s;
    }
    return (hash);
}

sub vcl_backend_response {
    if (bereq.uncacheable) {
        return (deliver);
    }
    # WordPress failed: keep the stored page, if any. A fetch that completes,
    # even one not stored, replaces it (varnish-cache@varnish-7.1.1
    # bin/varnishd/cache/cache_fetch.c:749-750, HSH_Kill of the stale
    # object); an abandoned one does not. The client side then sees a 503
    # and looks again (vcl_synth).
    if (beresp.status >= 500) {
        return (abandon);
    }
    # never store a response that sets a cookie or asks not to be stored
    if (beresp.http.Set-Cookie ||
        beresp.http.Cache-Control ~ "(private|no-cache|no-store)" ||
        beresp.http.Vary == "*") {
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # a file SyncThing has not brought yet (WordPress answers 404, or a 301
    # to its guess): ask again next time
    if (beresp.status != 200 && bereq.url ~ "^/wp-content/") {
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # large files (video, archives) pass through, keeping memory for pages
    if (std.integer(beresp.http.Content-Length, 0) > 8388608) {
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.status == 200 || beresp.status == 203 || beresp.status == 204 ||
        beresp.status == 300 || beresp.status == 301 || beresp.status == 308 ||
        beresp.status == 404 || beresp.status == 410) {
        set beresp.ttl = @TTL@s;
        set beresp.grace = @STALE_IF_ERROR@s;
        return (deliver);
    }
    # anything else (302, 5xx, ...): not stored
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    return (deliver);
}

sub vcl_hit {
    if (obj.ttl <= 0s) {
        set req.http.geowp-cache = "stale";
    } else {
        set req.http.geowp-cache = "hit";
    }
}

sub vcl_miss {
    set req.http.geowp-cache = "miss";
}

sub vcl_pass {
    set req.http.geowp-cache = "pass";
}

sub vcl_deliver {
    set resp.http.X-Geowp-Cache = req.http.geowp-cache;
    unset resp.http.Via;
    unset resp.http.X-Varnish;
}

sub vcl_synth {
    # WordPress could not answer a page the cache may hold (its fetch was
    # abandoned): look again, accepting any stored copy however old
    if (resp.status == 503 && req.restarts == 0 && req.http.geowp-cache == "miss") {
        set req.http.geowp-stale = "1";
        return (restart);
    }
    if (req.http.geowp-cache) {
        set resp.http.X-Geowp-Cache = req.http.geowp-cache;
    }
}

sub vcl_backend_error {
    # WordPress unreachable: keep the stored page (see vcl_backend_response)
    if (!bereq.uncacheable) {
        return (abandon);
    }
}
