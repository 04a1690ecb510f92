#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.


"""Measured-boot policies, built by Keylime's own ``keylime-policy``.

A measured-boot policy (Keylime 7.12 and newer, ``keylime_tenant
--mb-policy``) lets the verifier replay the node's UEFI event log and
compare what the firmware measured (S-CRTM and firmware blobs, Secure Boot
variables and keys) with the values recorded from a trusted boot. It is
built from a UEFI event log (``binary_bios_measurements``) with
``keylime-policy create measured-boot``, run as a subprocess (an argv
list, never a shell) on private temporary files.

This module knows nothing of Ironic.
"""

import json
import os
import tempfile

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import process

#: The policy's keys, as keylime-policy 7.14.3 writes them.
REQUIRED_KEYS = ('has_secureboot', 'scrtm_and_bios')
#: The PCRs Keylime checks through the measured-boot policy when it has
#: one (keylime.config.MEASUREDBOOT_PCRS, 7.14.3); its tenant then refuses
#: a TPM policy that names any of them.
MEASURED_BOOT_PCRS = frozenset(list(range(10)) + list(range(11, 16)))
#: The largest event log accepted (a firmware log is a few to a few
#: hundred kilobytes).
MAX_EVENT_LOG_BYTES = 4 * 1024 * 1024
#: The largest policy read back from keylime-policy (it writes a few
#: kilobytes).
MAX_POLICY_BYTES = 4 * 1024 * 1024


def argv(tool_path, event_log_path, output_path, without_secureboot):
    """The command line that builds a policy.

    :param tool_path: path of ``keylime-policy``.
    :param event_log_path: the binary UEFI event log.
    :param output_path: where the policy is written.
    :param without_secureboot: True for a node that boots without Secure
        Boot (``--without-secureboot``); keylime-policy refuses a log
        whose Secure Boot state differs from this.
    :returns: a list of strings.
    """
    args = [tool_path, 'create', 'measured-boot', '-e', event_log_path,
            '-o', output_path]
    if without_secureboot:
        args.append('--without-secureboot')
    return args


def parse(text):
    """Validate a measured-boot policy.

    :param text: JSON text, as written by keylime-policy.
    :returns: the policy, a dict.
    :raises: KeylimeError saying what is wrong.
    """
    try:
        policy = json.loads(text)
    except ValueError as e:
        raise exception.KeylimeError(
            'The measured-boot policy is not valid JSON: %s' % e)
    if not isinstance(policy, dict):
        raise exception.KeylimeError(
            'The measured-boot policy is not a JSON object.')
    missing = [k for k in REQUIRED_KEYS if k not in policy]
    if missing:
        raise exception.KeylimeError(
            'The measured-boot policy lacks %s: it was not written by '
            'keylime-policy create measured-boot.' % ', '.join(missing))
    if not isinstance(policy['has_secureboot'], bool):
        raise exception.KeylimeError(
            'The measured-boot policy\'s has_secureboot is not a boolean.')
    if (not isinstance(policy['scrtm_and_bios'], list)
            or not policy['scrtm_and_bios']):
        raise exception.KeylimeError(
            'The measured-boot policy records no firmware (scrtm_and_bios '
            'is empty): the event log did not describe a firmware boot.')
    return policy


def create(tool_path, event_log, without_secureboot=False, timeout=120,
           parent=None, max_output=process.DEFAULT_MAX_OUTPUT,
           max_output_setting='the output bound'):
    """Build a measured-boot policy from a UEFI event log.

    :param tool_path: path of Keylime's ``keylime-policy``.
    :param event_log: the binary UEFI event log (bytes).
    :param without_secureboot: see :func:`argv`.
    :param timeout: seconds the tool may take.
    :param parent: directory for the private temporary files (None: the
        system's).
    :param max_output: bytes the tool may print (standard output and
        error together) before it is killed with its process group.
    :param max_output_setting: how the caller names ``max_output``.
    :returns: the policy, JSON text as keylime-policy wrote it
        (validated with :func:`parse`).
    :raises: KeylimeError when the log is empty or too large, the tool
        is missing, fails or times out, or writes no valid policy; with
        the end of its output.
    """
    if not isinstance(event_log, bytes) or not event_log:
        raise exception.KeylimeError('No UEFI event log to build a '
                                     'measured-boot policy from.')
    if len(event_log) > MAX_EVENT_LOG_BYTES:
        raise exception.KeylimeError(
            'The UEFI event log is %d bytes, more than the %d accepted.' %
            (len(event_log), MAX_EVENT_LOG_BYTES))
    with tempfile.TemporaryDirectory(prefix='ironic-keylime-mb-',
                                     dir=parent) as tmp:
        log_path = os.path.join(tmp, 'binary_bios_measurements')
        out_path = os.path.join(tmp, 'mb_policy.json')
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(event_log)
        args = argv(tool_path, log_path, out_path, without_secureboot)
        try:
            result = process.run(args, timeout, max_output)
        except FileNotFoundError:
            raise exception.KeylimeError(
                'keylime-policy not found at %r (Keylime 7.12 or newer '
                'provides it).' % tool_path)
        except process.Timeout:
            raise exception.KeylimeError(
                'keylime-policy create measured-boot did not finish in '
                '%s s.' % timeout)
        except process.OutputTooLarge:
            raise exception.OutputTooLarge(
                'keylime-policy create measured-boot printed more than %d '
                'bytes (%s) and was killed.'
                % (max_output, max_output_setting))
        text = (result.stdout + result.stderr).decode('utf-8', 'replace')
        if result.returncode != 0 or not os.path.exists(out_path):
            raise exception.KeylimeError(
                'keylime-policy create measured-boot failed (exit code '
                '%s): %s' % (result.returncode, _last_lines(text)))
        with open(out_path) as f:
            policy = f.read(MAX_POLICY_BYTES + 1)
        if len(policy) > MAX_POLICY_BYTES:
            raise exception.KeylimeError(
                'keylime-policy wrote a measured-boot policy of more than '
                '%d bytes from a UEFI event log; it was not used.'
                % MAX_POLICY_BYTES)
    parse(policy)
    return policy


def _last_lines(text, count=3):
    lines = [line for line in text.splitlines()
             if line.strip() and 'keylime_upgrade_config' not in line
             and 'Config file not found' not in line]
    return ' | '.join(lines[-count:]) or 'no output'
