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


"""The node's golden boot state: its TPM policy, and its enrollment.

The golden boot state of a node is a Keylime TPM policy, in the tenant's
``--tpm_policy`` format: the acceptable SHA-256 digests of each PCR of a
set (by default 0 to 7: firmware, its configuration, option ROMs, the boot
loader and Secure Boot), stored in ``driver_info/keylime_tpm_policy``::

    {"0": ["<64 hex digits>", ...], "1": ["..."], ...}

It is written only by the ``enroll_boot_state`` clean step (from the PCRs
the ramdisk reads) or by hand (e.g. from a vendor's reference values), and
sent with every attestation; the verifier then checks the PCRs of every
TPM quote against it. The ramdisk's reading is not trusted as such: it is
only what the operator asked to record, at a time the operator trusts,
and the verifier compares it with the TPM's signed quotes from then on.
The measured-boot half of the golden boot state (Keylime 7.12 and newer)
is :mod:`.mb_state`; the enrollment records both.
"""

import json

from ironic.common import exception
from ironic.conductor import utils as manager_utils
from oslo_log import log as logging

from ironic_keylime.boot_events import policy as golden_policy
from ironic_keylime.boot_events import tcg
from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import boot_aggregate
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import last_attestation
from ironic_keylime.drivers.modules.keylime import mb_state
from ironic_keylime.drivers.modules.keylime import utils
from ironic_keylime.keylime_client import events
from ironic_keylime.keylime_client import mb_policy

LOG = logging.getLogger(__name__)

#: The driver_info key of the golden boot state.
POLICY_KEY = driver_info.TPM_POLICY
#: Node history event type of enrollments.
EVENT_TYPE = 'attestation'
#: The bank of the policy and the length of its digests.
BANK = 'sha256'
DIGEST_LENGTH = 64
MAX_PCR = 23
#: PCRs Keylime refuses in a TPM policy (keylime.tpm.tpm_util.readPolicy).
RESERVED_PCRS = {10: _('IMA\'s PCR, checked against the runtime policy'),
                 16: _('Keylime\'s data binding PCR')}


def _invalid(value, expected):
    return exception.InvalidParameterValue(
        _('Invalid driver_info/%(key)s %(value)s: %(expected)s Enroll the '
          'node again with the manual clean step %(step)s, or fix the '
          'value by hand.') %
        {'key': POLICY_KEY, 'value': utils.short_repr(value),
         'expected': expected, 'step': json.dumps(utils.ENROLL_STEP)})


def _parse_pcr(key):
    text = str(key).strip() if isinstance(key, (str, int)) else None
    if isinstance(key, bool) or not text or not text.isdigit():
        raise _invalid(key, _('PCR numbers are the keys, integers from 0 '
                              'to %d.') % MAX_PCR)
    pcr = int(text)
    if pcr > MAX_PCR:
        raise _invalid(key, _('PCR %(pcr)d does not exist; PCR numbers go '
                              'from 0 to %(max)d.') %
                       {'pcr': pcr, 'max': MAX_PCR})
    if pcr in RESERVED_PCRS:
        raise _invalid(key, _('PCR %(pcr)d is %(what)s and cannot be in a '
                              'TPM policy.') %
                       {'pcr': pcr, 'what': RESERVED_PCRS[pcr]})
    return pcr


def _parse_digest(pcr, digest):
    if not isinstance(digest, str):
        raise _invalid(digest, _('the values of PCR %d must be hex '
                                 'digests (strings).') % pcr)
    text = digest.strip().lower()
    if len(text) != DIGEST_LENGTH or not set(text) <= utils.HEX_DIGITS:
        raise _invalid(digest, _('the values of PCR %(pcr)d must be '
                                 '%(bank)s digests: %(n)d hex digits '
                                 '(without 0x).') %
                       {'pcr': pcr, 'bank': BANK, 'n': DIGEST_LENGTH})
    return text


def parse_policy(value):
    """Validate and normalise a TPM policy.

    :param value: a JSON string or a dict, ``{"<pcr>": [<digest>, ...]}``;
        a single digest may stand for a list of one.
    :returns: a dict ``{"<pcr>": [<lower-case digest>, ...]}`` with the
        PCR numbers as strings, digests in their given order without
        duplicates.
    :raises: InvalidParameterValue naming driver_info/keylime_tpm_policy,
        what is wrong and how to fix it.
    """
    policy = value
    if isinstance(value, str):
        try:
            policy = json.loads(value)
        except ValueError as e:
            raise _invalid(value, _('not valid JSON (%s).') % e)
    if not isinstance(policy, dict) or not policy:
        raise _invalid(value, _('expected a non-empty JSON object mapping '
                                'PCR numbers to lists of acceptable '
                                'digests.'))
    result = {}
    for key, digests in policy.items():
        pcr = _parse_pcr(key)
        if str(pcr) in result:
            raise _invalid(key, _('PCR %d is given twice.') % pcr)
        if isinstance(digests, str):
            digests = [digests]
        if not isinstance(digests, list) or not digests:
            raise _invalid(digests, _('PCR %d needs a non-empty list of '
                                      'acceptable digests.') % pcr)
        values = []
        for digest in digests:
            digest = _parse_digest(pcr, digest)
            if digest not in values:
                values.append(digest)
        result[str(pcr)] = values
    return result


def dump_policy(policy):
    """The JSON text of a policy, as stored and given to the tenant."""
    return json.dumps(policy, sort_keys=True, separators=(',', ':'))


def node_policy(node):
    """The node's golden boot state, validated.

    :param node: an Ironic node.
    :returns: the policy (a dict, see :func:`parse_policy`), or None when
        the node has none.
    :raises: InvalidParameterValue when driver_info holds a bad one.
    """
    value = (node.driver_info or {}).get(POLICY_KEY)
    if value in (None, '', {}):
        return None
    return parse_policy(value)


def policy_for_attestation(node):
    """The TPM policy to send with the node's attestation.

    :param node: an Ironic node.
    :returns: the policy as JSON text, or None when the node has no TPM
        policy (it may still have a measured-boot policy) or no golden
        boot state at all and ``[keylime]require_boot_state`` is False.
    :raises: InvalidParameterValue when driver_info holds a bad policy.
    :raises: AttestationFailure when the node has none and
        ``[keylime]require_boot_state`` is True, saying how to enroll it.
    """
    policy = node_policy(node)
    if policy is not None:
        return dump_policy(policy)
    if mb_state.will_send(node) or golden_events.will_send(node):
        return None
    if CONF.keylime.require_boot_state:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the node has no golden boot state (driver_info/'
                     '%(key)s) and [keylime]require_boot_state is True; '
                     'nothing was sent to the verifier. Enroll the node in '
                     'a state you trust: openstack baremetal node clean '
                     '%(node)s --clean-steps \'[%(step)s]\' (from '
                     'manageable), or set driver_info/%(key)s by hand.') %
            {'key': POLICY_KEY, 'node': node.uuid,
             'step': json.dumps(utils.ENROLL_STEP)})
    LOG.debug('Node %s has no golden boot state; its firmware and boot '
              'chain are not checked', node.uuid)
    return None


def beside_mb_policy(policy_text):
    """The TPM policy to send with a measured-boot policy.

    Keylime then checks PCRs 0-9 and 11-15 through the measured-boot
    policy (replaying the event log) and its tenant refuses a TPM policy
    that names any of them: they are left out.

    :param policy_text: the TPM policy (JSON text), or None.
    :returns: the policy of the other PCRs as JSON text, or None when
        none is left.
    """
    if policy_text is None:
        return None
    policy = {pcr: values for pcr, values in json.loads(policy_text).items()
              if int(pcr) not in mb_policy.MEASURED_BOOT_PCRS}
    return dump_policy(policy) if policy else None


def explain_failure(event_id):
    """Name the PCR of a FAIL verdict and the way out, for the operator.

    :param event_id: the verifier's ``last_event_id``.
    :returns: text to add to the failure message (starting with ``: ``),
        or an empty string when the failure is not about a PCR.
    """
    what = events.pcr_failure(event_id)
    keys = POLICY_KEY
    if str(event_id or '').strip() == events.policy_event(
            golden_policy.ENGINE):
        return _(': the boot\'s UEFI events differ from the golden boot\'s '
                 '(driver_info/%(key)s), as the verifier\'s %(engine)s '
                 'engine compared them. If you changed the firmware, the '
                 'boot loader, the kernel or its parameters yourself, '
                 'enroll the node again with the clean step %(step)s; '
                 'otherwise treat the node as compromised') % {
                     'key': golden_events.KEY,
                     'engine': golden_policy.ENGINE,
                     'step': json.dumps(utils.ENROLL_STEP)}
    if events.measured_boot_failure(event_id):
        what = what or events.measured_boot_failure(event_id)
        keys = _('%(pin)s or %(file)s, the measured-boot policy') % {
            'pin': mb_state.PIN_KEY, 'file': mb_state.FILE_KEY}
        if events.missing_event_log(event_id):
            return _(': %(what)s. The node has a measured-boot policy '
                     '(driver_info/%(key)s), but its Keylime agent sent no '
                     'UEFI event log to check it with: the node\'s firmware '
                     'exposes none, or its agent does not send it. Use an '
                     'agent that sends the event log, or turn '
                     '[keylime]send_mb_policy off so that the PCR policy '
                     'is checked instead') % {'what': what, 'key': keys}
    if not what:
        return ''
    return _(': %(what)s. The node\'s boot state differs from its golden '
             'boot state (driver_info/%(key)s): its firmware, firmware '
             'settings or boot chain changed. If you changed them '
             'yourself, enroll the node again with the clean step '
             '%(step)s; otherwise treat the node as compromised') % {
                 'what': what, 'key': keys,
                 'step': json.dumps(utils.ENROLL_STEP)}


def pcrs_to_read(node):
    """The PCRs to enroll, from ``[keylime]boot_state_pcrs``.

    :param node: an Ironic node, for messages.
    :returns: a sorted list of PCR numbers.
    :raises: AttestationFailure when the option names a reserved PCR.
    """
    pcrs = sorted(set(CONF.keylime.boot_state_pcrs or []))
    reserved = [p for p in pcrs if p in RESERVED_PCRS]
    if not pcrs or reserved:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('[keylime]boot_state_pcrs must name PCRs from 0 to '
                     '23 other than 10 (IMA) and 16 (Keylime\'s data '
                     'binding); it is %s.') %
            (', '.join(map(str, pcrs)) or _('empty')))
    return pcrs


def policy_from_reading(node, reading, pcrs):
    """Build a TPM policy from what the ramdisk read.

    :param node: an Ironic node, for messages.
    :param reading: the result of the extension's ``read_boot_state``.
    :param pcrs: the PCRs asked for.
    :returns: the policy: one digest per PCR.
    :raises: AttestationFailure when the reading is not the bank asked
        for, lacks a PCR, has more, or holds a bad digest.
    """
    def refuse(what):
        return kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk\'s boot state reading was refused '
                     '(%s); nothing was recorded.') % what)

    if not isinstance(reading, dict) or reading.get('bank') != BANK:
        raise refuse(_('not the %s bank') % BANK)
    values = reading.get('pcrs')
    if not isinstance(values, dict):
        raise refuse(_('no PCR values'))
    if sorted(values) != sorted(str(p) for p in pcrs):
        got = sorted(values, key=_pcr_key)
        raise refuse(_('PCRs %(got)s instead of %(asked)s') %
                     {'got': untrusted.text(', '.join(str(k) for k in got)),
                      'asked': ', '.join(map(str, pcrs))})
    try:
        return parse_policy({pcr: [values[str(pcr)]] for pcr in pcrs})
    except exception.InvalidParameterValue as e:
        raise refuse(str(e))


def _pcr_key(text):
    return int(text) if str(text).isdigit() else -1


def _summary(policy):
    return '; '.join('PCR %s=%s' % (pcr, ','.join(policy[pcr]))
                     for pcr in sorted(policy, key=int))


def _enroll_golden_events(node, reading, info):
    """Record the golden UEFI events in ``info``; a history sentence.

    :raises: AttestationFailure when the ramdisk returned no event log
        (the golden boot state cannot be held on UEFI without it) or one
        that cannot be read; nothing is recorded then.
    """
    log = mb_state.event_log(node, reading)
    if log is None:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('[keylime]golden_boot_events is True, but the ramdisk '
                     'returned no UEFI event log (%s); nothing was '
                     'recorded. A node without a UEFI event log (BIOS, or '
                     'a kernel started without the EFI stub) cannot hold a '
                     'golden boot state across boots with changing kernel '
                     'parameters: boot it through GRUB\'s linuxefi or the '
                     'EFI stub, or set [keylime]golden_boot_events to False '
                     'to enroll PCR values only.') %
            mb_state.note(reading))
    try:
        events = golden_events.golden_from_log(
            log, golden_events.reported_command_line(reading))
    except tcg.EventLogError as e:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk\'s UEFI event log cannot be read (%s); '
                     'nothing was recorded.') % e)
    info[golden_events.KEY] = golden_events.dump(events)
    # The events replace the measured-boot policy of Keylime's engine.
    info.pop(mb_state.PIN_KEY, None)
    return golden_events.summary(events)


def enroll(task):
    """Record the node's current boot state as its golden boot state.

    Asks the running ramdisk to read the PCRs of
    ``[keylime]boot_state_pcrs`` and the UEFI event log, writes the TPM
    policy to driver_info/keylime_tpm_policy, records the measured-boot
    policy (:func:`.mb_state.enroll`) and says what was recorded in the
    node history.

    :param task: a TaskManager instance with an exclusive lock.
    :returns: the policy recorded.
    :raises: AttestationFailure when the ramdisk is not running, has no
        keylime extension, cannot read the PCRs, or returns a bad reading,
        or when the measured-boot policy cannot be built or stored;
        nothing is recorded then.
    """
    node = task.node
    pcrs = pcrs_to_read(node)
    if not agent.ramdisk_running(node):
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the %(step)s step reads the boot state in the '
                     'ramdisk, which is not running (provision state '
                     '%(state)s). Run it as a manual clean step.') %
            {'step': utils.ENROLL_STEP['step'], 'state': node.provision_state})
    reading = agent.call(task, 'keylime.read_boot_state', {'pcrs': pcrs})
    policy = policy_from_reading(node, reading, pcrs)
    aggregate = boot_aggregate.from_reading(node, reading)
    try:
        previous = node_policy(node)
    except exception.InvalidParameterValue:
        previous = None
    changed = sorted((pcr for pcr in policy
                      if previous and previous.get(pcr) != policy[pcr]),
                     key=int)
    info = dict(node.driver_info or {})
    if golden_events.enabled():
        measured_boot = _enroll_golden_events(node, reading, info)
    else:
        info.pop(golden_events.KEY, None)
        measured_boot = mb_state.enroll(task, reading, info,
                                        keylime_api.tenant())
    info[POLICY_KEY] = dump_policy(policy)
    # The enrolled boot's own aggregate, or none: never a stale one.
    info.pop(boot_aggregate.KEY, None)
    if aggregate:
        info[boot_aggregate.KEY] = aggregate
    node.driver_info = info
    message = _('Golden boot state enrolled (driver_info/%(key)s): '
                '%(bank)s bank, %(summary)s; %(aggregate)s; %(mb)s.') % {
                    'key': POLICY_KEY, 'bank': BANK,
                    'summary': _summary(policy),
                    'aggregate': boot_aggregate.summary(reading, aggregate),
                    'mb': measured_boot}
    if previous is not None:
        message += (_(' Replaces the previous golden boot state; changed: '
                      'PCR %s.') % ', '.join(changed) if changed
                    else _(' Same as the previous golden boot state.'))
    manager_utils.node_history_record(node, event=message,
                                      event_type=EVENT_TYPE)
    last_attestation.remember_enrollment(
        node, policy, info[POLICY_KEY], aggregate,
        info.get(mb_state.PIN_KEY))
    node.save()
    LOG.info('Node %(node)s: %(msg)s', {'node': node.uuid, 'msg': message})
    return policy
