#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apply
short_description: Converge the host to lempctl's site files
version_added: 0.1.0
description:
  - Runs C(lempctl apply) once (for every site, or the listed ones) to render, validate with the
    real programs, reload each service once, health-check, roll everything back on failure.
  - The result's C(changed) is lempctl's own C(changed); a host that already matches reports no change.
author:
  - lempctl contributors (@lempctl)
extends_documentation_fragment:
  - lempctl.hosting.lempctl
attributes:
  check_mode:
    support: full
    description: Runs C(lempctl apply --dry-run); the plan is returned and nothing is written.
  diff_mode:
    support: full
    description: The diff of every file of the plan; files that hold secrets are never shown.
options:
  sites:
    description:
      - Converge only these sites (host-wide files are always converged). Empty means every site.
    type: list
    elements: str
    default: []
  prune:
    description:
      - Remove the files of sites that are no longer in the sites directory (C(--prune)); their data stays.
    type: bool
    default: false
  force:
    description:
      - Overwrite hand-edited files and files lempctl did not create, and allow kind changes that delete files (C(--force)).
    type: bool
    default: false
  health_check:
    description:
      - Check the changed sites over HTTP after the reload (off is C(--no-health-check)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Converge every site
  lempctl.hosting.apply:

- name: Converge two sites and remove the files of deleted ones
  lempctl.hosting.apply:
    sites: [blog.example.com, shop.example.com]
    prune: true
"""

RETURN = r"""
changes:
  description: lempctl's plan, one entry per step (action, kind, target, site, diff).
  returned: always
  type: list
  elements: dict
rc:
  description: lempctl's exit code (failures only).
  returned: failed
  type: int
error_kind:
  description: V(invalid-input) (exit 2, nothing changed) or V(failure) (exit 1, rolled back).
  returned: failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lempctl.hosting.plugins.module_utils.lempctl import (
    Lempctl,
    argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            sites=dict(type='list', elements='str', default=[]),
            prune=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            health_check=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    lempctl = Lempctl(module)
    args = ['apply']
    if p['prune']:
        args.append('--prune')
    if p['force']:
        args.append('--force')
    if not p['health_check']:
        args.append('--no-health-check')
    args += p['sites']
    report = lempctl.call(args, dry_run=module.check_mode)
    module.exit_json(**lempctl.report_result(report))


if __name__ == '__main__':
    main()
