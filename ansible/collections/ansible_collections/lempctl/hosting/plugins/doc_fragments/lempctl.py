# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  lempctl_bin:
    description:
      - The lempctl program to run, a path or a name looked up in E(PATH).
    type: str
    default: lempctl
  root:
    description:
      - lempctl's global C(--root) option. Work on the tree under this directory instead of
        V(/) (a sandbox made by C(lempctl sandbox init), or an offline image).
    type: path
  config_file:
    description:
      - lempctl's global C(--config) option, a host path under O(root).
      - Default is lempctl's own, C(/etc/lempctl/lempctl.yaml).
    type: path
  wait:
    description:
      - Seconds to wait for another lempctl run's lock (C(--wait)).
    type: int
    default: 60
requirements:
  - lempctl on the managed host (the Debian package, see the collection's README)
notes:
  - The modules hold no hosting logic. Each task runs lempctl once with C(--json) and returns
    its report; validation, planning, rollback and secrets stay in lempctl.
"""
