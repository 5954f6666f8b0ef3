#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: site
short_description: A lempctl site, declared as its site file
version_added: 0.1.0
description:
  - Writes the site's file in lempctl's sites directory and converges that site, through
    C(lempctl site put NAME --file -). lempctl validates the file exactly as C(lempctl apply)
    reads it; an invalid file is refused with lempctl's message and nothing is written.
  - A failed converge (nginx or PHP-FPM rejects the result, the health check fails) is rolled
    back by lempctl, site file included.
  - O(state=absent) runs C(lempctl site remove NAME --yes); the configuration goes, the site's
    data and user stay (unless O(purge)).
  - One lempctl run per task, whatever the number of sites on the host.
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: full
    description: Runs lempctl with C(--dry-run); the plan is returned and nothing is written.
  diff_mode:
    support: full
    description: The site file's diff and the diff of every file of the plan. Files that hold secrets are never shown.
options:
  name:
    description:
      - The site's name (its FQDN, lower case), as in the file's C(name).
    type: str
    required: true
  state:
    description:
      - V(present) and V(enabled) write the file with C(enabled) set to V(true), V(disabled) with V(false).
      - Without O(kind), V(enabled) and V(disabled) only switch an existing site (C(lempctl site enable|disable)).
      - V(absent) removes the site's configuration and keeps its data.
    type: str
    choices: [present, absent, enabled, disabled]
    default: present
  kind:
    description:
      - The site's kind. Required with O(state=present).
    type: str
    choices: [php, static, wordpress, redirect, proxy]
  aliases:
    description:
      - Other host names of the site.
    type: list
    elements: str
    default: []
  config:
    description:
      - The other sections and fields of the site file (C(php), C(cache), C(tls), C(redirect),
        C(proxy), C(health), C(db), C(wordpress), C(backup), C(s3), C(security), C(access),
        C(document_root)), as
        documented in lempctl's docs/configuration.md. They are checked by lempctl, not here;
        an unknown section fails with lempctl's message.
      - C(name), C(kind), C(aliases) and C(enabled) are set with the module's options.
    type: dict
    default: {}
  purge:
    description:
      - With O(state=absent), also archive and delete the site's data and user (C(--purge)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: A WordPress site with a page cache and nightly backups
  lempctl.hosting.site:
    name: blog.example.com
    kind: wordpress
    aliases: [www.blog.example.com]
    config:
      cache: fastcgi
      php:
        memory_limit: 256M
      wordpress:
        title: Blog
        admin_email: admin@example.com
      backup:
        schedule: "30 2 * * *"

- name: Stop serving a site (files and data stay)
  lempctl.hosting.site:
    name: old.example.com
    state: disabled

- name: Remove a site's configuration, keep its data
  lempctl.hosting.site:
    name: old.example.com
    state: absent
"""

RETURN = r"""
changes:
  description: lempctl's plan, one entry per step (action, kind, target, site, diff).
  returned: always
  type: list
  elements: dict
site_file:
  description: The text of the site file the module wrote (or would write).
  returned: when O(state) is not V(absent) and O(kind) is set
  type: str
rc:
  description: lempctl's exit code (failures only).
  returned: failed
  type: int
error_kind:
  description: lempctl's error class, V(invalid-input) (exit 2, nothing changed) or V(failure) (exit 1, rolled back).
  returned: failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    KINDS,
    Lempctl,
    argument_spec,
    site_text,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent', 'enabled', 'disabled']),
            kind=dict(type='str', choices=KINDS),
            aliases=dict(type='list', elements='str', default=[]),
            config=dict(type='dict', default={}),
            purge=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ['kind'])],
        supports_check_mode=True,
    )
    p = module.params
    lempctl = Lempctl(module)
    name = p['name']
    dry_run = module.check_mode

    if p['state'] == 'absent':
        names = lempctl.call(['site', 'list', '--names'])
        if name not in names:
            module.exit_json(changed=False, changes=[])
        args = ['site', 'remove', name, '--yes']
        if p['purge']:
            args.append('--purge')
        report = lempctl.call(args, dry_run=dry_run)
        module.exit_json(**lempctl.report_result(report))

    if p['kind'] is None:
        # enabled/disabled of a site declared elsewhere: only switch it
        verb = 'enable' if p['state'] == 'enabled' else 'disable'
        report = lempctl.call(['site', verb, name], dry_run=dry_run)
        module.exit_json(**lempctl.report_result(report))

    try:
        text = site_text(p, 'lempctl.hosting.site')
    except ValueError as e:
        module.fail_json(msg=str(e))
    report = lempctl.call(['site', 'put', name, '--file', '-'], dry_run=dry_run, data=text)
    result = lempctl.report_result(report)
    result['site_file'] = text
    module.exit_json(**result)


if __name__ == '__main__':
    main()
