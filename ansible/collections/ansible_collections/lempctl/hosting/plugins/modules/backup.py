#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup
short_description: Run or verify lempctl's site backups
version_added: 0.1.0
description:
  - O(action=run) runs C(lempctl backup run) for the listed sites (or C(--all)); it always
    reports a change (a new snapshot in the repository).
  - O(action=verify) runs C(lempctl backup verify) (repository check and a test restore of the
    latest run into scratch space); it changes nothing and fails when the backup does not verify.
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: partial
    description: lempctl has no dry run of these commands.
    details: In check mode the module runs nothing and returns the command it would run (V(changed) for O(action=run)).
  diff_mode:
    support: none
    description: Certificates and backups have no file diff to show.
options:
  action:
    description:
      - What to do.
    type: str
    choices: [run, verify]
    default: run
  sites:
    description:
      - The sites. Empty means every site (C(--all)) for O(action=run) and the whole repository for O(action=verify).
      - O(action=verify) takes at most one site.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Back up a site now
  lempctl.hosting.backup:
    sites: [blog.example.com]

- name: Verify the latest backup of a site
  lempctl.hosting.backup:
    action: verify
    sites: [blog.example.com]
"""

RETURN = r"""
result:
  description: lempctl's JSON answer of the command (see lempctl's docs/backups.md).
  returned: success, not in check mode
  type: dict
command:
  description: The lempctl command line run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    Lempctl,
    argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            action=dict(type='str', default='run', choices=['run', 'verify']),
            sites=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    lempctl = Lempctl(module)
    if p['action'] == 'run':
        args = ['backup', 'run'] + (p['sites'] or ['--all'])
    else:
        if len(p['sites']) > 1:
            module.fail_json(msg='action=verify takes at most one site')
        args = ['backup', 'verify'] + p['sites']
    changed = p['action'] == 'run'
    if module.check_mode:
        module.exit_json(changed=changed, command=lempctl.base + args + ['--json'],
                         msg='not run in check mode: lempctl has no dry run of this command')
    result = lempctl.call(args)
    module.exit_json(changed=changed, command=lempctl.base + args + ['--json'], result=result)


if __name__ == '__main__':
    main()
