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

"""The IMA boot_aggregate of a node's golden boot state.

The first entry of a node's IMA log is the ``boot_aggregate``: a digest
its kernel computed over the boot PCRs (0 to 9 for SHA-256) when IMA
started. A ramdisk's allowlist, written when the image was built, cannot
know it and carries an all-zero line; on a node whose firmware measures
into the TPM the real aggregate never matches it. The ``enroll_boot_state``
clean step records the enrolled boot's aggregate in
``driver_info/keylime_boot_aggregate``; every attestation then makes it
the allowlist's only ``boot_aggregate`` entry (the all-zero line no longer
passes). Like the PCRs, it is read by the ramdisk at a time the operator
trusts; the verifier checks the IMA log against the TPM's quotes from
then on.
"""

import json

from ironic.common import exception

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import utils

#: The driver_info key.
KEY = driver_info.BOOT_AGGREGATE
#: Hex digits of the IMA hash algorithms' digests.
LENGTHS = (40, 64, 96, 128)
#: The algorithms the ramdisk may name, and their digests' hex digits.
ALGORITHMS = {'sha1': 40, 'sha256': 64, 'sha384': 96, 'sha512': 128}


def parse(value):
    """Validate an IMA boot_aggregate digest.

    :param value: hex digits, optionally prefixed with the algorithm
        (``sha256:...``).
    :returns: the digest in lower case, without the prefix.
    :raises: InvalidParameterValue naming driver_info/keylime_boot_aggregate
        and the fix.
    """
    text = value.strip().lower() if isinstance(value, str) else ''
    text = text.split(':', 1)[-1]
    if (len(text) not in LENGTHS or not set(text) <= utils.HEX_DIGITS
            or not text.strip('0')):
        raise exception.InvalidParameterValue(
            _('Invalid driver_info/%(key)s %(value)s: expected the hex '
              'digest (40, 64, 96 or 128 digits, not all zeros) of the '
              'boot_aggregate entry of the node\'s IMA log. Enroll the node '
              'again with the manual clean step %(step)s, or remove the '
              'key.') % {'key': KEY, 'value': utils.short_repr(value),
                         'step': json.dumps(utils.ENROLL_STEP)})
    return text


def node_value(node):
    """The boot_aggregate of the node's golden boot state, validated.

    :param node: an Ironic node.
    :returns: the hex digest, or None when the node has none.
    :raises: InvalidParameterValue when driver_info holds a bad one.
    """
    value = (node.driver_info or {}).get(KEY)
    if value in (None, ''):
        return None
    return parse(value)


def from_reading(node, reading):
    """The boot_aggregate the ramdisk read, validated.

    :param node: an Ironic node, for messages.
    :param reading: the result of the extension's ``read_boot_state``.
    :returns: the hex digest, or None when the ramdisk found none.
    :raises: AttestationFailure when it is not a hex digest.
    """
    digest = reading.get('boot_aggregate')
    if not digest:
        return None
    try:
        value = parse(digest)
    except exception.InvalidParameterValue:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk\'s boot state reading was refused (a '
                     'boot_aggregate that is not a hex digest: %s); '
                     'nothing was recorded.') % utils.short_repr(digest))
    algorithm = reading.get('boot_aggregate_algorithm')
    if algorithm is not None and ALGORITHMS.get(algorithm) != len(value):
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk\'s boot state reading was refused (the '
                     'boot_aggregate algorithm %(alg)s is not one of '
                     '%(known)s with a digest of its length); nothing was '
                     'recorded.') % {'alg': untrusted.text(algorithm),
                                     'known': ', '.join(ALGORITHMS)})
    return value


def summary(reading, aggregate):
    """What an enrollment recorded of the boot_aggregate, for the history.

    :param reading: the result of the extension's ``read_boot_state``.
    :param aggregate: the digest recorded, or None.
    :returns: text.
    """
    if aggregate:
        return _('IMA boot_aggregate %(alg)s:%(digest)s (driver_info/'
                 '%(key)s; it replaces the allowlist\'s boot_aggregate '
                 'entries)') % {
                     'alg': untrusted.text(
                         reading.get('boot_aggregate_algorithm') or '?'),
                     'digest': aggregate, 'key': KEY}
    return _('no IMA boot_aggregate recorded (%s)') % (
        untrusted.text(reading.get('boot_aggregate_note')
                       or _('none reported'), untrusted.NOTE_LIMIT))
