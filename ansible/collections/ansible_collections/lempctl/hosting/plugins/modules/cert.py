#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cert
short_description: Issue, renew or check lempctl's ACME certificates
version_added: 0.1.0
description:
  - O(action=issue) runs C(lempctl cert issue) for the listed ACME sites (or C(--all)) and
    O(action=renew) C(lempctl cert renew); each reports a change when a certificate was (or, in
    check mode, would be) issued or renewed.
  - O(action=check) runs the certificate monitor (C(lempctl cert check)); it changes nothing
    and fails when a certificate is critical.
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: full
    description: Runs lempctl with C(--dry-run).
  diff_mode:
    support: none
    description: Certificates and backups have no file diff to show.
options:
  action:
    description:
      - What to do.
    type: str
    choices: [issue, renew, check]
    default: issue
  sites:
    description:
      - The sites. Empty means every ACME site (every TLS site for O(action=check)).
    type: list
    elements: str
    default: []
  force:
    description:
      - Issue or renew now, due or not, despite a failure's backoff (C(--force)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Certificates for every ACME site that has none
  lempctl.hosting.cert:
    action: issue

- name: Fail when a certificate is about to expire
  lempctl.hosting.cert:
    action: check
"""

RETURN = r"""
result:
  description: lempctl's JSON answer (certificates and their outcome, or the monitor's checks).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    Lempctl,
    argument_spec,
)

UNCHANGED = ('not-due', 'waiting', 'failed')


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            action=dict(type='str', default='issue', choices=['issue', 'renew', 'check']),
            sites=dict(type='list', elements='str', default=[]),
            force=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    lempctl = Lempctl(module)
    args = ['cert', p['action']] + p['sites']
    if p['action'] == 'issue' and not p['sites']:
        args.append('--all')
    if p['force'] and p['action'] != 'check':
        args.append('--force')
    result = lempctl.call(args, dry_run=module.check_mode)
    changed = False
    if p['action'] != 'check':
        changed = any(c.get('result') not in UNCHANGED for c in result.get('certificates') or [])
    module.exit_json(changed=changed, result=result)


if __name__ == '__main__':
    main()
