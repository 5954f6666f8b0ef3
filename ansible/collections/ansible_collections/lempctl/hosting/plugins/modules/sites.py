#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sites
short_description: Many lempctl sites, declared as their site files, in one lempctl run
version_added: 0.2.0
description:
  - Writes the site file of every site in O(sites) and converges those sites together, through
    one C(lempctl site put --file -) run with the files separated by C(---) lines. lempctl
    validates every file exactly as C(lempctl apply) reads it; if any is invalid, lempctl's
    message is returned and nothing is written.
  - A failed converge is rolled back by lempctl, every site file included.
  - The same site files as M(lempctl.hosting.site) writes, for hosts with many sites, where one
    task per site would cost one lempctl run and Ansible's per-task overhead each.
  - Sites not listed are left alone; remove a site with M(lempctl.hosting.site) and O(lempctl.hosting.site#module:state=absent).
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
    description: The site files' diffs and the diff of every file of the plan. Files that hold secrets are never shown.
options:
  sites:
    description:
      - The sites, each as M(lempctl.hosting.site) takes one.
    type: list
    elements: dict
    required: true
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
"""

EXAMPLES = r"""
- name: Every site of the host in one lempctl run
  lempctl.hosting.sites:
    sites:
      - name: blog.example.com
        kind: wordpress
        config:
          wordpress:
            title: Blog
            admin_email: admin@example.com
      - name: www.example.com
        kind: static
"""

RETURN = r"""
changes:
  description: lempctl's plan, one entry per step (action, kind, target, site, diff).
  returned: always
  type: list
  elements: dict
site_files:
  description: The text of each site file the module wrote (or would write), by site name.
  returned: always
  type: dict
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
    SITE_OPTIONS,
    Lempctl,
    argument_spec,
    site_text,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            sites=dict(
                type='list',
                elements='dict',
                required=True,
                options=SITE_OPTIONS,
            ),
        ),
        supports_check_mode=True,
    )
    sites = module.params['sites']
    if not sites:
        module.exit_json(changed=False, changes=[], site_files={})
    files = {}
    for site in sites:
        try:
            files[site['name']] = site_text(site, 'lempctl.hosting.sites')
        except ValueError as e:
            module.fail_json(msg='site %s: %s' % (site['name'], e))
    lempctl = Lempctl(module)
    stream = '---\n'.join(files.values())
    report = lempctl.call(['site', 'put', '--file', '-'], dry_run=module.check_mode, data=stream)
    result = lempctl.report_result(report)
    result['site_files'] = files
    module.exit_json(**result)


if __name__ == '__main__':
    main()
