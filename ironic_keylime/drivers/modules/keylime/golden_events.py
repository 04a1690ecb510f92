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

"""The node's golden boot, as UEFI events, for the verifier's own engine.

On UEFI, the boot loader and the kernel's EFI stub measure the kernel
command line into PCRs 8 and 9, and Ironic puts values on it that change
at every boot (:data:`PER_BOOT_PARAMETERS`); the IMA boot_aggregate,
computed over PCRs 0-9, changes with them. A golden boot state of PCR
values and one boot_aggregate would then fail the node's next boot.

With ``[keylime]golden_boot_events``, the ``enroll_boot_state`` step
records the events of the enrollment boot's UEFI event log
(driver_info/keylime_golden_boot_events, written only by the step, like
keylime_tpm_policy). Every attestation sends them as the node's
measured-boot policy for the ``ironic-keylime`` engine of the verifier
(:mod:`ironic_keylime.verifier_engine.policy`), which replays each quote's
event log against PCRs 0-9, compares its events with these, and accepts
the boot_aggregates the log yields. The rule of the comparison is
:mod:`ironic_keylime.boot_events.compare`.
"""

import json
import os

from ironic.common import exception
from oslo_log import log as logging

from ironic_keylime.boot_events import compare
from ironic_keylime.boot_events import load_options
from ironic_keylime.boot_events import policy as golden_policy
from ironic_keylime.boot_events import tcg
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import utils
from ironic_keylime.keylime_client import engine_probe
from ironic_keylime.keylime_client import exception as kl_exception

LOG = logging.getLogger(__name__)

KEY = 'keylime_golden_boot_events'
FILENAME = 'golden_boot_policy.json'
#: The kernel parameters Ironic 39 sets anew at every boot, with the shape
#: of their values: ``ipa-global-request-id`` (ironic/common/pxe_utils.py,
#: whenever the request has a global id), ``ipa-agent-token`` (a fresh
#: token per virtual media boot) and ``BOOTIF`` (the boot interface's
#: MAC; ironic/drivers/modules/redfish/boot.py).
PER_BOOT_PARAMETERS = {
    'ipa-global-request-id': r'req-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-'
                             r'[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}',
    'ipa-agent-token': r'[A-Za-z0-9_-]{16,128}',
    'BOOTIF': r'(01-)?[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}',
}


def enabled():
    """Whether enrollments record, and attestations send, the events."""
    return bool(CONF.keylime.golden_boot_events)


def _invalid(reason):
    return exception.InvalidParameterValue(
        _('Invalid driver_info/%(key)s: %(reason)s. Enroll the node again '
          'with the manual clean step %(step)s.') %
        {'key': KEY, 'reason': reason,
         'step': json.dumps(utils.ENROLL_STEP)})


def parse(value):
    """Validate stored golden events.

    :param value: the JSON text (or list) of driver_info.
    :returns: a list of events (dicts of
        :data:`ironic_keylime.boot_events.policy.EVENT_FIELDS`).
    :raises: InvalidParameterValue naming the key and the fix.
    """
    events = value
    if isinstance(value, str):
        try:
            events = json.loads(value)
        except ValueError as e:
            raise _invalid(_('not valid JSON (%s)') % e)
    if not isinstance(events, list) or not events:
        raise _invalid(_('expected a non-empty list of events'))
    result = []
    for event in events:
        if not golden_policy.valid_event(event):
            raise _invalid(_('an event is not {"pcr", "type", "sha256", '
                             '"text"}: %s') % utils.short_repr(event))
        result.append(event)
    return result


def node_events(node):
    """The node's golden events, validated, or None when it has none.

    :raises: InvalidParameterValue when driver_info holds bad ones.
    """
    value = (node.driver_info or {}).get(KEY)
    if value in (None, '', []):
        return None
    return parse(value)


def _events(log, kernel_cmdline=None):
    """``(events, unproven)`` of a binary UEFI event log.

    ``unproven`` counts the EFI stub's command line events whose digest
    ``kernel_cmdline`` does not hash to; the others get it as their text.
    """
    events = []
    unproven = 0
    for event in tcg.parse(log):
        if event.pcr not in compare.PCRS:
            continue
        if event.sha256 is None:
            raise tcg.EventLogError('the event log has no SHA-256 digests '
                                    '(Keylime needs the SHA-256 bank)')
        normalized = compare.normalize(event.pcr, event.type, event.sha256,
                                       event.data)
        if load_options.is_load_options(event.pcr, event.type, event.data):
            if (kernel_cmdline is not None and load_options.digest(
                    kernel_cmdline) == normalized['sha256']):
                normalized['text'] = kernel_cmdline
            else:
                unproven += 1
        events.append(normalized)
    if not events:
        raise tcg.EventLogError('the event log has no events of PCRs 0-9')
    return events, unproven


def from_log(log):
    """The events of a binary UEFI event log, as they are compared.

    :param log: the log (bytes), as the ramdisk read it.
    :returns: the events of PCRs 0-9, as a list.
    :raises: tcg.EventLogError when the log cannot be read or has no
        SHA-256 digests.
    """
    return _events(log)[0]


def golden_from_log(log, kernel_cmdline):
    """The golden events of the enrollment boot's binary UEFI event log.

    Where the kernel's EFI stub measured the command line (a digest
    only), the command line the ramdisk reports must hash to it; it is
    then recorded as that event's text, the golden command line.

    :param log: the log (bytes), as the ramdisk read it.
    :param kernel_cmdline: the ramdisk's ``/proc/cmdline``
        (:func:`reported_command_line`), or None.
    :returns: the events of PCRs 0-9, as a list.
    :raises: tcg.EventLogError when the log cannot be read, has no
        SHA-256 digests, or holds an EFI stub command line that the
        reported one does not hash to.
    """
    events, unproven = _events(log, kernel_cmdline)
    if unproven:
        raise tcg.EventLogError(
            'the kernel\'s EFI stub measured the command line into PCR 9 '
            'as a digest only, and the ramdisk %s; without the golden '
            'command line its per-boot parameters cannot be set aside. '
            'Use a ramdisk whose ironic-keylime extension reports '
            'kernel_cmdline (this release or later)' % (
                'reports none' if kernel_cmdline is None else
                'reports one that does not hash to it (%s)'
                % untrusted.text(kernel_cmdline)))
    return events


def reported_command_line(reading):
    """The ramdisk's kernel command line of a reading, or None.

    Not trusted: the verifier believes it only where it hashes to a
    digest the quote proves (:mod:`ironic_keylime.boot_events.compare`).
    """
    text = reading.get('kernel_cmdline') if isinstance(reading, dict) \
        else None
    if (not isinstance(text, str)
            or len(text) > load_options.MAX_LENGTH
            or not text.isprintable()):
        return None
    return text


def needs_command_line(events):
    """Whether the golden boot has an EFI stub command line to prove."""
    return any(e['pcr'] == load_options.PCR
               and e['type'] == load_options.EVENT_TYPE
               and e['text'] is not None for e in events)


def command_lines(task, events):
    """The command lines sent with the policy for this boot (a list).

    On the EFI stub's path, the one the running ramdisk reports; an
    empty list elsewhere, or when it reports none (the verifier then
    accepts only the golden command line's digest).

    :param task: a TaskManager instance.
    :param events: the node's golden events.
    :raises: AttestationFailure when the ramdisk cannot be asked.
    """
    if not needs_command_line(events):
        return []
    reading = agent.call(task, 'keylime.read_boot_state', {'pcrs': [0]})
    text = reported_command_line(reading)
    return [text] if text is not None else []


def dump(events):
    """The JSON text stored in driver_info."""
    return json.dumps(events, sort_keys=True, separators=(',', ':'))


def refstate(events, kernel_command_lines=()):
    """The measured-boot policy sent for the golden events (a dict).

    :param kernel_command_lines: this boot's command lines
        (:func:`command_lines`).
    """
    return golden_policy.make(events, PER_BOOT_PARAMETERS,
                              kernel_command_lines)


def will_send(node):
    """Whether attestations send the node's golden events.

    :param node: an Ironic node.
    """
    return enabled() and bool((node.driver_info or {}).get(KEY))


def events_to_send(node):
    """The node's golden events to send, validated, or None.

    :param node: an Ironic node.
    :returns: the events, or None when the option is off or the node has
        none.
    :raises: InvalidParameterValue when driver_info holds bad ones.
    """
    return node_events(node) if enabled() else None


def write_policy(events, workdir, kernel_command_lines=()):
    """Write the policy of golden events for the verifier's engine.

    :param events: the node's golden events (:func:`events_to_send`).
    :param workdir: the attestation's private directory.
    :param kernel_command_lines: this boot's command lines
        (:func:`command_lines`).
    :returns: the path of the file (0600).
    """
    path = os.path.join(workdir, FILENAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(refstate(events, kernel_command_lines), f, sort_keys=True,
                  separators=(',', ':'))
    return path


def canary():
    """A policy the engine refuses whatever the boot (JSON text).

    Its one golden event, of a type no firmware logs, is never a boot's
    first event of PCR 0.
    """
    return json.dumps(refstate([{'pcr': 0, 'type': 'EV_IRONIC_KEYLIME_CANARY',
                                 'sha256': '0' * 64, 'text': None}]))


def check_engine(node, verifier, agent_endpoint, identity):
    """Check that the verifier runs the engine, before anything is sent.

    :param node: an Ironic node, for messages.
    :param verifier: the verifier's endpoint.
    :param agent_endpoint: the node's agent's endpoint.
    :param identity: the agent's registrar read (its EK, AK and mTLS
        certificate), the one that was checked.
    :raises: AttestationFailure when the verifier judges measured-boot
        policies with another engine (``accept-all`` ignores them), or
        when it cannot be asked; nothing is sent to it then.
    """
    try:
        engine_probe.probe(keylime_api.rest_client(verifier),
                           agent_endpoint.host, agent_endpoint.port,
                           identity, canary(), golden_policy.ENGINE,
                           timeout=CONF.keylime.command_timeout)
    except engine_probe.EngineNotRunning as e:
        raise utils.attestation_failure(node, _(
            '%s Nothing was sent to the verifier ([keylime]'
            'golden_boot_events is True).') % e)
    except kl_exception.KeylimeError as e:
        raise utils.attestation_failure(node, _(
            'the verifier\'s measured-boot engine cannot be checked ([keylime]'
            'golden_boot_events is True): %s Nothing was sent to the '
            'verifier.') % e)


def summary(events):
    """A sentence on recorded events, for the node history."""
    by_pcr = compare.compared(events)
    commands = sum(1 for e in events if e['pcr'] == 8)
    return _('%(n)d UEFI events of PCRs 0-9 recorded as the golden boot '
             '(driver_info/%(key)s; %(cmd)d boot loader commands in PCR 8, '
             'compared without Ironic\'s per-boot parameters %(params)s; '
             'boot entries in PCR 1 left out); checked by the verifier\'s '
             '%(engine)s engine') % {
                 'n': sum(len(v) for v in by_pcr.values()), 'key': KEY,
                 'cmd': commands,
                 'params': ', '.join(sorted(PER_BOOT_PARAMETERS)),
                 'engine': golden_policy.ENGINE}
