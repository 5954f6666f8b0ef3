# -*- coding: utf-8 -*-
# Copyright: lempctl contributors
# MIT License (see https://opensource.org/licenses/MIT)
"""Runs the lempctl binary for the modules of lempctl.hosting and turns its JSON into results.

Nothing here knows about hosting: lempctl validates, plans, applies and rolls back; this file
only builds command lines, maps check mode to --dry-run, converts the report's unified diffs to
Ansible's before/after form and carries lempctl's error message and exit class into fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

COMMON_ARGS = dict(
    lempctl_bin=dict(type='str', default='lempctl'),
    root=dict(type='path'),
    config_file=dict(type='path'),
    wait=dict(type='int', default=60),
)

# lempctl's exit codes (docs/commands.md#exit-codes)
EXIT_CLASS = {0: 'ok', 1: 'failure', 2: 'invalid-input'}

_HUNK = re.compile(r'^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@')


def argument_spec(**specific):
    spec = dict(COMMON_ARGS)
    spec.update(specific)
    return spec


class Lempctl(object):
    """One module's access to lempctl: each call is one run of the binary."""

    def __init__(self, module):
        self.module = module
        params = module.params
        binary = params['lempctl_bin']
        if '/' not in binary:
            binary = module.get_bin_path(binary, required=True, opt_dirs=['/usr/sbin', '/usr/local/bin'])
        self.base = [binary]
        if params.get('root'):
            self.base += ['--root', params['root']]
        if params.get('config_file'):
            self.base += ['--config', params['config_file']]
        self.base += ['--wait', str(params['wait'])]

    def run(self, args, dry_run=False, data=None):
        """Runs `lempctl ARGS --json [--dry-run]`; returns (rc, parsed JSON or None, stdout, stderr, cmd)."""
        cmd = self.base + list(args) + ['--json']
        if dry_run:
            cmd.append('--dry-run')
        elif self.module._diff:
            # a real run's report carries the diffs only with -v (a dry run's always does)
            cmd.append('-v')
        rc, out, err = self.module.run_command(
            cmd,
            data=data,
            binary_data=True,
            environ_update={'LC_ALL': 'C', 'NO_COLOR': '1'},
        )
        parsed = None
        if out.strip():
            try:
                parsed = json.loads(out)
            except ValueError:
                parsed = None
        return rc, parsed, out, err, cmd

    def fail(self, rc, parsed, out, err, cmd, **extra):
        """fail_json with lempctl's own message and exit class (never a traceback)."""
        error = parsed.get('error') if isinstance(parsed, dict) else None
        if isinstance(error, dict) and error.get('message'):
            msg = error['message']
            kind = error.get('kind') or EXIT_CLASS.get(rc, 'failure')
        else:
            # clap's argument errors (a bad site name) are plain text on stderr, not JSON
            msg = (err or '').strip() or (out or '').strip() or 'lempctl exited with %d' % rc
            if msg.startswith('error: '):
                msg = msg[len('error: '):]
            kind = EXIT_CLASS.get(rc, 'failure')
        self.module.fail_json(msg=msg, rc=rc, error_kind=kind, cmd=cmd, stderr=err, **extra)

    def call(self, args, dry_run=False, data=None, ok_codes=(0,)):
        """Runs lempctl and returns its JSON; fails the task on any other exit code."""
        rc, parsed, out, err, cmd = self.run(args, dry_run=dry_run, data=data)
        if rc not in ok_codes or parsed is None:
            self.fail(rc, parsed, out, err, cmd)
        return parsed

    def report_result(self, report):
        """The module result of a lempctl report ({changed, changes, warnings, error})."""
        for warning in report.get('warnings') or []:
            self.module.warn(warning)
        result = dict(
            changed=bool(report.get('changed')),
            changes=report.get('changes') or [],
        )
        if self.module._diff:
            result['diff'] = report_diff(report)
        return result


# the site kinds lempctl knows (docs/configuration.md#kinds)
KINDS = ['php', 'static', 'wordpress', 'redirect', 'proxy']

# the options of one site in a list of sites (the sites and host modules)
SITE_OPTIONS = dict(
    name=dict(type='str', required=True),
    kind=dict(type='str', required=True, choices=KINDS),
    state=dict(type='str', default='present', choices=['present', 'enabled', 'disabled']),
    aliases=dict(type='list', elements='str', default=[]),
    config=dict(type='dict', default={}),
)

OWN_FIELDS = ('name', 'kind', 'aliases', 'enabled')


def site_text(params, module_name):
    """The text of a site file from a module's options (name, kind, aliases, state, config).

    Raises ValueError when config sets a field that has its own option.
    """
    config = params.get('config') or {}
    clash = [k for k in OWN_FIELDS if k in config]
    if clash:
        raise ValueError('config: set %s with the option of that name, not inside config' % ', '.join(clash))
    doc = dict(name=params['name'], kind=params['kind'])
    if params.get('aliases'):
        doc['aliases'] = params['aliases']
    doc['enabled'] = params.get('state') != 'disabled'
    for key, value in config.items():
        doc[key] = value
    header = '# managed by Ansible (%s); edits here are overwritten by the next run\n' % module_name
    return header + to_yaml(doc)


def split_unified(text):
    """The old and new sides of a unified diff, hunks joined by a `…` line; None if not one."""
    lines = text.splitlines(True)
    before, after = [], []
    seen_hunk = False
    for line in lines:
        if _HUNK.match(line):
            if seen_hunk:
                before.append('…\n')
                after.append('…\n')
            seen_hunk = True
            continue
        if not seen_hunk:
            if line.startswith('--- ') or line.startswith('+++ '):
                continue
            return None
        if line.startswith('\\'):
            continue
        if line.startswith('-'):
            before.append(line[1:])
        elif line.startswith('+'):
            after.append(line[1:])
        else:
            before.append(line[1:])
            after.append(line[1:])
    if not seen_hunk:
        return None
    return ''.join(before), ''.join(after)


def report_diff(report):
    """The plan's diffs in Ansible's form: one before/after pair per changed file.

    lempctl never puts a secret into a diff (a root-only file's diff is replaced by a notice);
    such notices, and the changes without content (directories, links, users, reloads), are
    shown as one prepared summary.
    """
    diffs = []
    summary = []
    for change in report.get('changes') or []:
        target = change.get('target', '')
        text = change.get('diff')
        sides = split_unified(text) if text else None
        if sides is not None:
            diffs.append(dict(
                before_header=target,
                after_header=target,
                before=sides[0],
                after=sides[1],
            ))
            continue
        line = '%s %s %s' % (change.get('action', ''), change.get('kind', ''), target)
        if text:
            line += ': ' + text.strip()
        summary.append(line + '\n')
    if summary:
        diffs.append(dict(prepared=''.join('lempctl: ' + line for line in summary)))
    return diffs


def _scalar(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return json.dumps(value)
    # a JSON string is a valid YAML double-quoted scalar
    return json.dumps(str(value), ensure_ascii=False)


def _key(key):
    key = str(key)
    if re.match(r'^[A-Za-z_][A-Za-z0-9_-]*$', key):
        return key
    return json.dumps(key, ensure_ascii=False)


def to_yaml(value, indent=0):
    """Block-style YAML of dicts, lists and scalars, in the order given (deterministic, so an
    unchanged task writes byte-identical text; needs no YAML library on the managed host)."""
    pad = '  ' * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and item:
                out.append('%s%s:\n%s' % (pad, _key(key), to_yaml(item, indent + 1)))
            elif isinstance(item, list) and item:
                out.append('%s%s:\n%s' % (pad, _key(key), to_yaml(item, indent + 1)))
            elif isinstance(item, dict):
                out.append('%s%s: {}\n' % (pad, _key(key)))
            elif isinstance(item, list):
                out.append('%s%s: []\n' % (pad, _key(key)))
            else:
                out.append('%s%s: %s\n' % (pad, _key(key), _scalar(item)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = to_yaml(item, indent + 1)
                out.append('%s- %s' % (pad, nested.lstrip(' ')))
            elif isinstance(item, dict):
                out.append('%s- {}\n' % pad)
            elif isinstance(item, list):
                out.append('%s- []\n' % pad)
            else:
                out.append('%s- %s\n' % (pad, _scalar(item)))
    else:
        out.append('%s%s\n' % (pad, _scalar(value)))
    return ''.join(out)
