<?php
// Small WordPress tasks run by lempctl as the site's user with PHP CLI (never via argv secrets).
// Arguments: docroot task. Tasks: `set-admin-password` (LEMPCTL_WP_ADMIN and
// LEMPCTL_WP_ADMIN_PASSWORD from the environment).
[$_, $docroot, $task] = $argv;
$_SERVER['HTTP_HOST'] = getenv('LEMPCTL_WP_HOST') ?: 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $docroot . '/wp-load.php';
switch ($task) {
    case 'set-admin-password':
        $user = get_user_by('login', getenv('LEMPCTL_WP_ADMIN'));
        if (!$user) {
            fwrite(STDERR, "no such user\n");
            exit(1);
        }
        wp_set_password(getenv('LEMPCTL_WP_ADMIN_PASSWORD'), $user->ID);
        echo "password set\n";
        break;
    default:
        fwrite(STDERR, "unknown task $task\n");
        exit(2);
}
