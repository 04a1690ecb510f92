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


"""The node's measured-boot policy: recorded at enrollment, sent on attest.

The second half of the golden boot state (:mod:`.boot_state` has the PCR
policy), for Keylime 7.12 and newer. At enrollment the ramdisk returns
the UEFI event log; the conductor builds the policy from it with
Keylime's ``keylime-policy`` and, when the node's lists are in a Swift
container, writes it as the container's object ``mb_policy`` and pins its
SHA-256 digest in ``driver_info/keylime_mb_policy_sha256``: the container
is not trusted, the pin is. With conductor files the admin builds the
policy and names it in ``driver_info/keylime_mb_policy`` (the conductors
do not write files: there may be several). Every attestation of a node
with a pinned or named policy fetches it, checks the pin, validates it
and, with ``[keylime]send_mb_policy``, sends it with ``keylime_tenant
--mb-policy``. Keylime then checks PCRs 0-9 and 11-15 through it (it
replays the event log against the quoted PCRs and judges the log with the
verifier's measured-boot engine) and not through the TPM policy, which is
sent without them (Keylime's tenant refuses them beside a measured-boot
policy). Keylime's default engine, accept-all, does not compare the log
with the policy: hence the option, off by default.
"""

import base64
import binascii
import hashlib
import os

from ironic.common import exception
from oslo_log import log as logging

from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import utils
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import mb_policy
from ironic_keylime.lists import exception as list_exception
from ironic_keylime.lists import local
from ironic_keylime.lists import mb_store

LOG = logging.getLogger(__name__)

PIN_KEY = driver_info.MB_POLICY_SHA256
FILE_KEY = driver_info.MB_POLICY
#: Name of the policy in the private directory of an attestation.
FILENAME = 'mb_policy.json'
#: What keylime-policy 7.14.3 prints for a log without Secure Boot.
_SECURE_BOOT_OFF = 'SecureBoot disabled'
#: The longest base64 text of an event log of the largest size accepted.
_MAX_ENCODED_LOG = (mb_policy.MAX_EVENT_LOG_BYTES + 2) // 3 * 4
_ENROLL = _('enroll the node again (manual clean step enroll_boot_state)')


def will_send(node):
    """Whether attestations send a measured-boot policy for the node.

    They do with ``[keylime]send_mb_policy`` for a node that has one.

    :param node: an Ironic node.
    """
    info = node.driver_info or {}
    named = any(info.get(key) not in (None, '')
                for key in (PIN_KEY, FILE_KEY))
    return bool(CONF.keylime.send_mb_policy and named)


def policy_file(info):
    """The node's measured-boot policy file, confined.

    :param info: :class:`.driver_info.KeylimeInfo`.
    :returns: the resolved path, or None when the node names none.
    :raises: InvalidParameterValue when it is outside
        ``[keylime]allowed_list_directories``.
    """
    if not info.mb_policy:
        return None
    try:
        return local.confine(info.mb_policy,
                             CONF.keylime.allowed_list_directories, FILE_KEY)
    except list_exception.ListError as e:
        raise exception.InvalidParameterValue(str(e))


def prepare(node, info, source, workdir):
    """Fetch, check and validate the policy to send, into ``workdir``.

    :param node: an Ironic node.
    :param info: :class:`.driver_info.KeylimeInfo`.
    :param source: the node's list source (:func:`.driver_info.
        list_source`); its connection reads the Swift object.
    :param workdir: the attestation's private directory.
    :returns: the path of the verified policy, or None when the node has
        none (nothing pinned, no file named) or ``[keylime]send_mb_policy``
        is False.
    :raises: AttestationFailure when it is missing, does not match its
        pin or is not a measured-boot policy; nothing is sent then.
    :raises: InvalidParameterValue when the file is outside the allowed
        directories.
    """
    if not CONF.keylime.send_mb_policy:
        return None
    path = os.path.join(workdir, FILENAME)
    src = None
    if info.container:
        if not info.mb_policy_sha256:
            return None
        where = _('the object %(o)s of the Swift container %(c)s') % {
            'o': mb_store.OBJECT, 'c': info.container}
    else:
        src = policy_file(info)
        if src is None:
            return None
        where = _('the conductor file %(path)s (driver_info/%(key)s)') % {
            'path': src, 'key': FILE_KEY}
    try:
        max_size = mb_store.limit(CONF.keylime.max_mb_policy_size)
        if src is None:
            digest = mb_store.fetch_swift(source.connection, info.container,
                                          path, max_size)
        else:
            digest = mb_store.fetch_file(
                src, path, CONF.keylime.allowed_list_directories, FILE_KEY,
                max_size)
    except list_exception.ListError as e:
        raise utils.attestation_failure(node, _(
            'the node\'s measured-boot policy cannot be read: %(err)s '
            'Nothing was sent to Keylime. To restore it, %(fix)s.') %
            {'err': e, 'fix': _ENROLL})
    if info.mb_policy_sha256 and digest != info.mb_policy_sha256:
        raise utils.attestation_failure(node, _(
            'the measured-boot policy in %(where)s does not match '
            'driver_info/%(key)s: its SHA-256 digest is %(got)s, the pin '
            'is %(pin)s. It was changed or damaged; nothing was sent to '
            'Keylime. If you did not change it, treat the container as '
            'tampered with; %(fix)s to record it anew.') %
            {'where': where, 'key': PIN_KEY, 'got': digest,
             'pin': info.mb_policy_sha256, 'fix': _ENROLL})
    with open(path) as f:
        text = f.read()
    try:
        mb_policy.parse(text)
    except kl_exception.KeylimeError as e:
        raise utils.attestation_failure(node, _(
            'the measured-boot policy in %(where)s is unusable: %(err)s '
            'Nothing was sent to Keylime; %(fix)s.') %
            {'where': where, 'err': e, 'fix': _ENROLL})
    return path


def event_log(node, reading):
    """The event log of a reading (bytes), checked for shape, or None."""
    encoded = reading.get('event_log')
    if not encoded:
        return None
    if not isinstance(encoded, str) or len(encoded) > _MAX_ENCODED_LOG:
        raise utils.attestation_failure(
            node, _('the ramdisk\'s boot state reading was refused (its '
                    'UEFI event log is larger than the %d bytes accepted); '
                    'nothing was recorded.') % mb_policy.MAX_EVENT_LOG_BYTES)
    try:
        log = base64.b64decode(encoded, validate=True)
    except (binascii.Error, TypeError, ValueError):
        log = None
    if (log is None or len(log) != reading.get('event_log_size')
            or hashlib.sha256(log).hexdigest()
            != reading.get('event_log_sha256')):
        raise utils.attestation_failure(node, _(
            'the ramdisk\'s boot state reading was refused (its UEFI event '
            'log does not match the size and SHA-256 it gave); nothing was '
            'recorded.'))
    return log


def note(reading):
    """The ramdisk's note on a missing event log, safe to show."""
    return untrusted.text(reading.get('event_log_note')
                          or _('none reported'), untrusted.NOTE_LIMIT)


def _describe_log(log):
    return _('UEFI event log of %(size)d bytes, sha256 %(sha)s') % {
        'size': len(log), 'sha': hashlib.sha256(log).hexdigest()}


def _build(node, log):
    """Build the policy; returns its text and whether Secure Boot is on."""
    def create(without_secureboot):
        return mb_policy.create(CONF.keylime.policy_tool, log,
                                without_secureboot=without_secureboot,
                                timeout=CONF.keylime.command_timeout,
                                parent=CONF.tempdir,
                                max_output=(CONF.keylime.
                                            max_tenant_output_size * 1024),
                                max_output_setting=(
                                    '[keylime]max_tenant_output_size'))

    try:
        try:
            text = create(False)
        except kl_exception.KeylimeError as e:
            if _SECURE_BOOT_OFF not in str(e):
                raise
            if CONF.keylime.mb_policy_require_secure_boot:
                raise utils.attestation_failure(node, _(
                    'the node\'s %(log)s says Secure Boot is disabled, and '
                    '[keylime]mb_policy_require_secure_boot is True; '
                    'nothing was recorded. Turn Secure Boot on and enroll '
                    'again.') % {'log': _describe_log(log)})
            text = create(True)
    except kl_exception.KeylimeError as e:
        raise utils.attestation_failure(node, _(
            'the measured-boot policy could not be built from the node\'s '
            '%(log)s: %(err)s Nothing was recorded: the golden boot state '
            'would lack its measured-boot half. Check [keylime]policy_tool '
            '(Keylime 7.12 or newer, with libefivar1), then enroll '
            'again.') % {'log': _describe_log(log), 'err': e})
    return text, mb_policy.parse(text)['has_secureboot']


def enroll(task, reading, new_info, tenant):
    """Record the measured-boot policy of an enrollment.

    With a Swift container and an event log, on a Keylime whose tenant
    takes ``--mb-policy``: builds the policy, writes the object
    ``mb_policy`` and sets its pin in ``new_info``. Otherwise removes a
    previous pin from ``new_info`` (the new golden boot state has no
    measured-boot half) and says why.

    :param task: a TaskManager instance with an exclusive lock.
    :param reading: the ramdisk's boot state reading.
    :param new_info: the driver_info the caller will save (changed here).
    :param tenant: the conductor's :class:`keylime_client.tenant.Tenant`.
    :returns: a sentence for the node history.
    :raises: AttestationFailure when the event log does not match its
        digest, or the policy cannot be built or written; the caller then
        records nothing.
    """
    node = task.node
    info = driver_info.parse_driver_info(node)
    log = event_log(node, reading)
    if not info.container:
        if log is None:
            return _('no UEFI event log (%s)') % note(reading)
        message = _(
            '%(log)s returned; with conductor files the conductor does not '
            'write the measured-boot policy: build it on the conductors '
            'with "keylime-policy create measured-boot -e <event log> -o '
            '<file>" and set driver_info/%(key)s (and optionally '
            'driver_info/%(pin)s)') % {'log': _describe_log(log),
                                       'key': FILE_KEY, 'pin': PIN_KEY}
        if info.mb_policy:
            message += _('; driver_info/%(key)s (%(path)s) is kept as it '
                         'is') % {'key': FILE_KEY, 'path': info.mb_policy}
        return message
    why_not = None
    if log is None:
        why_not = _('no UEFI event log (%s)') % note(reading)
    else:
        try:
            offered = tenant.capabilities().mb_policy
        except kl_exception.KeylimeError as e:
            raise utils.attestation_failure(node, _(
                'cannot tell whether Keylime takes a measured-boot policy: '
                '%s') % e)
        if not offered:
            why_not = _('%s returned, but Keylime\'s tenant has no '
                        '--mb-policy (Keylime before 7.12): only the PCR '
                        'policy applies') % _describe_log(log)
    if why_not:
        if new_info.pop(PIN_KEY, None):
            why_not += _('; the previous measured-boot policy is no longer '
                         'sent (driver_info/%s removed)') % PIN_KEY
        return why_not + _('; no measured-boot policy recorded')
    text, secure_boot = _build(node, log)
    source = driver_info.list_source(info)
    try:
        digest = mb_store.put_swift(source.connection, info.container,
                                    text.encode('utf-8'))
    except list_exception.ListError as e:
        raise utils.attestation_failure(node, _(
            'the measured-boot policy could not be written to Swift: %s '
            'Nothing was recorded.') % e)
    new_info[PIN_KEY] = digest
    return _('measured-boot policy recorded from the %(log)s (Secure Boot '
             '%(sb)s): object %(o)s of Swift container %(c)s, '
             'driver_info/%(key)s=%(sha)s') % {
                 'log': _describe_log(log),
                 'sb': _('on') if secure_boot else _('off'),
                 'o': mb_store.OBJECT, 'c': info.container, 'key': PIN_KEY,
                 'sha': digest}
