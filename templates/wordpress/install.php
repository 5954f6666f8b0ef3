<?php
// What `wp core install` does, without wp-cli: run by lempctl as the site's user with PHP CLI.
// Arguments: docroot url title admin_user admin_email locale. The admin password comes from the
// environment (LEMPCTL_WP_ADMIN_PASSWORD), never from argv. Exit 0 installed, 3 already installed.
// On failure the tables this run created are dropped, so a retry starts clean.
[$_, $docroot, $url, $title, $user, $email, $locale] = $argv;
$pass = getenv('LEMPCTL_WP_ADMIN_PASSWORD');
if ($pass === false || $pass === '') {
    fwrite(STDERR, "no admin password in LEMPCTL_WP_ADMIN_PASSWORD\n");
    exit(2);
}
define('WP_INSTALLING', true);
$u = parse_url($url);
$_SERVER['HTTP_HOST'] = $u['host'] . (isset($u['port']) ? ':' . $u['port'] : '');
$_SERVER['SERVER_NAME'] = $u['host'];
$_SERVER['SERVER_PORT'] = $u['port'] ?? (($u['scheme'] ?? 'http') === 'https' ? 443 : 80);
$_SERVER['REQUEST_URI'] = '/wp-admin/install.php';
$_SERVER['PHP_SELF'] = '/wp-admin/install.php';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (($u['scheme'] ?? 'http') === 'https') {
    $_SERVER['HTTPS'] = 'on';
}
// No mail server is assumed: the welcome mail is skipped (upgrade.php defines it only if missing).
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {}
require $docroot . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
if (is_blog_installed()) {
    fwrite(STDERR, "already installed\n");
    exit(3);
}
try {
    $r = wp_install($title, $user, $email, true, '', wp_slash($pass), $locale);
    if (is_wp_error($r) || empty($r['user_id'])) {
        throw new RuntimeException(is_wp_error($r) ? $r->get_error_message() : 'wp_install returned no user');
    }
    update_option('siteurl', $url);
    update_option('home', $url);
    printf("installed: user_id=%d url=%s\n", $r['user_id'], $url);
} catch (Throwable $e) {
    global $wpdb;
    foreach ($wpdb->tables('all') as $table) {
        $wpdb->query("DROP TABLE IF EXISTS `$table`");
    }
    fwrite(STDERR, 'install failed: ' . $e->getMessage() . "\n");
    exit(1);
}
