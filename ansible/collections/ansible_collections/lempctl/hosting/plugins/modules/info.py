#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: info
short_description: Facts from lempctl - sites, status, certificates, backups
version_added: 0.1.0
description:
  - Reads lempctl's JSON of C(status), C(site list), C(cert list) and C(backup list). Changes nothing.
  - C(status) exits 1 when the host needs attention; that is a fact here (C(status.ok)), not a failure.
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  gather:
    description:
      - Which facts to read.
    type: list
    elements: str
    choices: [status, sites, certs, backups]
    default: [status, sites, certs, backups]
"""

EXAMPLES = r"""
- name: Read lempctl's facts
  lempctl.hosting.info:
  register: lempctl

- name: Fail when the host does not match its site files
  ansible.builtin.assert:
    that: lempctl.status.ok
"""

RETURN = r"""
status:
  description: C(lempctl status --json) (services, per-site state, pending changes, drift).
  returned: when gathered
  type: dict
sites:
  description: C(lempctl site list --json), one object per site (kind, paths, user, PHP).
  returned: when gathered
  type: list
  elements: dict
certs:
  description: C(lempctl cert list --json).
  returned: when gathered
  type: raw
backups:
  description: C(lempctl backup list --json), or null when no backup repository is configured (the reason is in RV(unavailable)).
  returned: when gathered
  type: raw
unavailable:
  description: Facts that could not be read, with lempctl's message.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    Lempctl,
    argument_spec,
)

COMMANDS = dict(
    status=(['status'], (0, 1)),
    sites=(['site', 'list'], (0,)),
    certs=(['cert', 'list'], (0,)),
    backups=(['backup', 'list'], (0,)),
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            gather=dict(type='list', elements='str', default=['status', 'sites', 'certs', 'backups'],
                        choices=['status', 'sites', 'certs', 'backups']),
        ),
        supports_check_mode=True,
    )
    lempctl = Lempctl(module)
    result = dict(changed=False, unavailable={})
    for fact in module.params['gather']:
        args, ok = COMMANDS[fact]
        rc, parsed, out, err, cmd = lempctl.run(args)
        if fact in ('status', 'sites') and (rc not in ok or parsed is None):
            lempctl.fail(rc, parsed, out, err, cmd)
        if rc in ok and parsed is not None:
            result[fact] = parsed
        else:
            # certificates and backups are optional features: not configured is a fact
            error = parsed.get('error') if isinstance(parsed, dict) else None
            result[fact] = None
            result['unavailable'][fact] = (error or {}).get('message') or err.strip()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
