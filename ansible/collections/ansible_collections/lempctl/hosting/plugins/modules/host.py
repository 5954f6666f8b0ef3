#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host
short_description: A whole lempctl host in one task - its configuration, its sites, converged and checked
version_added: 0.3.0
description:
  - For fleets, where Ansible's cost per task and host adds up. One task does what the role
    C(lempctl_host) does in several, with one module start.
  - Writes O(config) as C(lempctl.yaml) and the O(private_files) (0600, root) when they differ,
    then declares O(sites) in one C(lempctl site put --file -) run, converges everything with
    C(lempctl apply), and checks with C(lempctl status --no-probe) that the host's services run.
  - lempctl validates the configuration and every site file before it changes anything; when it
    refuses them, or its first run fails (lempctl rolls that run back), the previous
    C(lempctl.yaml) and private files are put back, so the host is as it was.
  - Sites not listed are left alone unless O(prune) (their files removed, their data kept).
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: full
    description: The new configuration is written beside the old one and lempctl's dry runs read it; nothing is changed.
  diff_mode:
    support: full
    description: The configuration's diff, the site files' and every planned file's. Private files are never shown.
options:
  config:
    description:
      - The host's whole configuration (the fields of C(lempctl.yaml), see lempctl's
        C(docs/configuration.md)), written as C(lempctl.yaml) (under O(root); O(config_file) if
        given). Omit it to leave the file as it is.
    type: dict
  private_files:
    description:
      - Files only root reads (0600), such as the backup repository's password, written when
        their content differs. Their content is never logged or returned.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - A host path (under O(root)).
        type: path
        required: true
      content:
        description:
          - The file's content.
        type: str
        required: true
  sites:
    description:
      - The host's sites, each as M(lempctl.hosting.site) takes one.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The site's name (its FQDN, lower case).
        type: str
        required: true
      kind:
        description:
          - The site's kind.
        type: str
        required: true
        choices: [php, static, wordpress, redirect, proxy]
      state:
        description:
          - V(present) and V(enabled) write C(enabled) V(true), V(disabled) writes V(false).
        type: str
        choices: [present, enabled, disabled]
        default: present
      aliases:
        description:
          - Other host names of the site.
        type: list
        elements: str
        default: []
      config:
        description:
          - The other sections and fields of the site file, as for M(lempctl.hosting.site).
        type: dict
        default: {}
  prune:
    description:
      - Also remove the files of sites no longer declared (C(lempctl apply --prune)).
    type: bool
    default: false
  check_services:
    description:
      - Fail when one of the host's services does not run (nginx, a PHP-FPM master, fail2ban
        where configured). A converge with nothing to change reloads nothing, so without this
        a host whose nginx died would pass.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The host, its sites and their converge in one task
  lempctl.hosting.host:
    config:
      php_version: "8.2"
      database:
        host: db1.example.com
        credentials_file: /etc/lempctl/mariadb-admin.cnf
        tls:
          ca_file: /etc/lempctl/db-ca.pem
        web_hosts: ["{{ ansible_default_ipv4.address }}"]
        shared: true
        require_tls: true
    private_files:
      - path: /etc/lempctl/backup.password
        content: "{{ vault_backup_password }}"
    sites:
      - name: blog.example.com
        kind: wordpress
        config:
          wordpress:
            title: Blog
            admin_email: admin@example.com
"""

RETURN = r"""
changes:
  description: lempctl's plans (the sites' run, then the converge), one entry per step (action, kind, target, site, diff).
  returned: always
  type: list
  elements: dict
config_changed:
  description: Whether C(lempctl.yaml) was (or would be) rewritten.
  returned: always
  type: bool
private_files_changed:
  description: The private files that were (or would be) rewritten.
  returned: always
  type: list
  elements: str
stopped:
  description: The services found not running (the task failed).
  returned: failed
  type: list
  elements: str
rc:
  description: lempctl's exit code (failures only).
  returned: failed
  type: int
error_kind:
  description: lempctl's error class, V(invalid-input) (exit 2, nothing changed) or V(failure) (exit 1, rolled back).
  returned: failed
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    SITE_OPTIONS,
    Lempctl,
    argument_spec,
    site_text,
    to_yaml,
)

HEADER = '# managed by Ansible (lempctl.hosting.host); edits here are overwritten by the next run\n'


def under_root(root, path):
    return os.path.join(root, path.lstrip('/')) if root else path


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except (IOError, OSError):
        return None


def write(path, data, mode):
    """Writes `data` to `path` atomically (a temporary file in the same directory renamed over)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.ansible-', dir=directory)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def restore(path, old, mode):
    """Puts `old` back at `path` (None: the file did not exist)."""
    if old is None:
        try:
            os.unlink(path)
        except OSError:
            pass
    else:
        write(path, old, mode)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            config=dict(type='dict'),
            private_files=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    path=dict(type='path', required=True),
                    content=dict(type='str', required=True, no_log=True),
                ),
            ),
            sites=dict(
                type='list',
                elements='dict',
                default=[],
                options=SITE_OPTIONS,
            ),
            prune=dict(type='bool', default=False),
            check_services=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root = p.get('root') or ''
    config_path = under_root(root, p.get('config_file') or '/etc/lempctl/lempctl.yaml')
    lempctl = Lempctl(module)
    result = dict(changed=False, changes=[], config_changed=False, private_files_changed=[])
    undo = []  # (path, old bytes, mode) of what this task wrote
    times = []  # (directory, (atime, mtime)) a check run restores

    if p.get('config') is not None:
        new = (HEADER + to_yaml(p['config'])).encode('utf-8')
        old = read(config_path)
        if new != old:
            result['config_changed'] = True
            if module._diff:
                result['diff'] = [dict(before_header=config_path, after_header=config_path,
                                       before=(old or b'').decode('utf-8', 'replace'),
                                       after=new.decode('utf-8'))]
            if module.check_mode:
                # lempctl's dry runs read the new configuration from a file beside the old one
                # (paths like sites.d are relative to it); the directory's times are put back
                directory = os.path.dirname(config_path)
                st = os.stat(directory)
                times.append((directory, (st.st_atime_ns, st.st_mtime_ns)))
                fd, tmp = tempfile.mkstemp(prefix='.ansible-check-', suffix='.yaml',
                                           dir=directory)
                os.write(fd, new)
                os.close(fd)
                undo.append((tmp, None, 0o644))
                shown = '/' + os.path.relpath(tmp, root) if root else tmp
                lempctl.base += ['--config', shown]
            else:
                undo.append((config_path, old, 0o644))
                write(config_path, new, 0o644)
    for f in p['private_files']:
        path = under_root(root, f['path'])
        new = f['content'].encode('utf-8')
        old = read(path)
        if new != old:
            result['private_files_changed'].append(f['path'])
            if not module.check_mode:
                undo.append((path, old, 0o600))
                write(path, new, 0o600)

    runs = []

    def run(args, data=None, ok_codes=(0,)):
        rc, parsed, out, err, cmd = lempctl.run(args, dry_run=module.check_mode and args[0] != 'status', data=data)
        if rc not in ok_codes or parsed is None:
            if not runs:
                # lempctl refused the input or rolled its only run back: the old files fit again
                for path, old, mode in reversed(undo):
                    restore(path, old, mode)
            lempctl.fail(rc, parsed, out, err, cmd)
        runs.append(args[0])
        return parsed

    def add(report):
        part = lempctl.report_result(report)
        result['changed'] |= part['changed']
        result['changes'] += part['changes']
        if module._diff:
            result.setdefault('diff', []).extend(part.get('diff') or [])

    try:
        if p['sites']:
            files = []
            for site in p['sites']:
                try:
                    files.append(site_text(site, 'lempctl.hosting.sites'))
                except ValueError as e:
                    for path, old, mode in reversed(undo):
                        restore(path, old, mode)
                    module.fail_json(msg='site %s: %s' % (site['name'], e))
            add(run(['site', 'put', '--file', '-'], data='---\n'.join(files)))
        add(run(['apply'] + (['--prune'] if p['prune'] else [])))
    finally:
        if module.check_mode:
            for path, old, mode in undo:
                restore(path, old, mode)
            for directory, ns in times:
                os.utime(directory, ns=ns)
    result['changed'] |= result['config_changed'] or bool(result['private_files_changed'])

    if p['check_services'] and not module.check_mode:
        # exit 1 means "something needs attention": only the services matter here
        status = run(['status', '--no-probe'], ok_codes=(0, 1))
        stopped = [s.get('service') for s in status.get('services') or [] if not s.get('running')]
        if stopped:
            module.fail_json(msg='not running: %s' % ', '.join(stopped), stopped=stopped, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
