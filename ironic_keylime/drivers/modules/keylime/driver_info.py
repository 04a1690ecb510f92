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

"""driver_info of the keylime attestation interface.

Every ``keylime_*`` key of a node's driver_info is named, described,
parsed and validated here, and :func:`list_source` turns the parsed keys
into the one list source the node uses (a Swift container or conductor
files). Address and port syntax comes from
:mod:`ironic_keylime.common.network` (shared with the ramdisk); this
module maps its errors to Ironic's exceptions, naming the key.
"""

import collections
import ipaddress
import re

from ironic.common import exception

from ironic_keylime.common.i18n import _
from ironic_keylime.common import network
from ironic_keylime.conf import CONF
from ironic_keylime.keylime_client import tenant
from ironic_keylime.lists import exception as list_exception
from ironic_keylime.lists import formats
from ironic_keylime.lists import local

#: The keys of the node's Keylime agent. driver_info may set them (the
#: admin's override); the conductor records what the ramdisk reports under
#: the same names in driver_internal_info (:mod:`.agent`).
AGENT_UUID = 'keylime_agent_uuid'
AGENT_ADDRESS = 'keylime_agent_address'
AGENT_PORT = 'keylime_agent_port'
AGENT_KEYS = (AGENT_UUID, AGENT_ADDRESS, AGENT_PORT)
#: The registrar port the ramdisk's agent registers on (not the tenant's).
AGENT_REGISTRAR_PORT = 'keylime_agent_registrar_port'

#: The fingerprint of the endorsement key of the node's TPM
#: (:mod:`.tpm_binding`).
EK_SHA256 = 'keylime_ek_sha256'
#: The node's golden boot state (:mod:`.boot_state`).
TPM_POLICY = 'keylime_tpm_policy'
#: Its IMA boot_aggregate (:mod:`.boot_aggregate`).
BOOT_AGGREGATE = 'keylime_boot_aggregate'
#: The node's measured-boot policy (:mod:`.mb_state`): a conductor file,
#: and the pin of its SHA-256 digest (with a Swift container, the pin of
#: its object ``mb_policy``).
MB_POLICY = 'keylime_mb_policy'
MB_POLICY_SHA256 = 'keylime_mb_policy_sha256'

REQUIRED_PROPERTIES = {
    'keylime_v': _('Address (IPv4, IPv6 or host name) of the Keylime '
                   'verifier. Required.'),
    'keylime_r': _('Address (IPv4, IPv6 or host name) of the Keylime '
                   'registrar. Required.'),
}

OPTIONAL_PROPERTIES = {
    'keylime_vp': _('Port of the Keylime verifier. Optional, default '
                    '8881.'),
    'keylime_rp': _('Port of the Keylime registrar (its TLS port). '
                    'Optional, default 8891.'),
    AGENT_REGISTRAR_PORT: _('Port on which the node\'s Keylime agent '
                            'registers with the registrar at keylime_r '
                            '(the registrar\'s plain port, Keylime\'s '
                            '[registrar]port; agents do not register on '
                            'its TLS port keylime_rp). Given to the '
                            'ramdisk\'s agent by the conductor. Optional, '
                            'default 8890.'),
    'keylime_container': _('Swift container holding the objects '
                           'allowlist, allowlist_checksum and excludelist. '
                           'Give either this or keylime_allowlist.'),
    'keylime_allowlist': _('Absolute path of the allowlist on the '
                           'conductor, inside '
                           '[keylime]allowed_list_directories. Give either '
                           'this or keylime_container.'),
    'keylime_allowlist_checksum': _('Absolute path of the SHA-256 checksum '
                                    'of keylime_allowlist on the '
                                    'conductor. Required with '
                                    'keylime_allowlist unless '
                                    '[keylime]require_allowlist_checksum '
                                    'is off.'),
    'keylime_excludelist': _('Absolute path of the excludelist on the '
                             'conductor. Optional, with keylime_allowlist.'),
    'keylime_excludelist_checksum': _('Absolute path of the SHA-256 '
                                      'checksum of keylime_excludelist on '
                                      'the conductor. Required with '
                                      'keylime_excludelist unless '
                                      '[keylime]require_excludelist_'
                                      'checksum is off.'),
    'keylime_allowlist_sha256': _('SHA-256 hex digest the allowlist must '
                                  'have, whatever its checksum object or '
                                  'file says. Optional; set by whoever may '
                                  'edit driver_info, not by the owner of '
                                  'the lists.'),
    'keylime_excludelist_sha256': _('SHA-256 hex digest the excludelist '
                                    'must have, whatever its checksum '
                                    'object or file says. Optional; '
                                    'required for an excludelist when '
                                    'keylime_allowlist_sha256 is set.'),
    AGENT_UUID: _('UUID of the Keylime agent on the node. Optional: by '
                  'default the one the ramdisk reported, else the '
                  'node\'s UUID.'),
    AGENT_ADDRESS: _('Address of the Keylime agent on the node. Optional: '
                     'by default the one the ramdisk reported, else the '
                     'address of the ramdisk\'s agent_url.'),
    AGENT_PORT: _('Port of the Keylime agent on the node. Optional: by '
                  'default the one the ramdisk reported, else '
                  '[keylime]agent_port.'),
    BOOT_AGGREGATE: _('The IMA boot_aggregate of the node\'s golden boot '
                      'state (hex digest, what its kernel computed over '
                      'the boot PCRs): it replaces the boot_aggregate '
                      'entries of the allowlist. Written by the '
                      'enroll_boot_state clean step when the IMA log has '
                      'one, or by hand. Optional.'),
    TPM_POLICY: _('The node\'s golden boot state: a Keylime TPM policy '
                  '(JSON, the format of keylime_tenant --tpm_policy), '
                  '{"<PCR>": ["<sha256 hex digest>", ...], ...}, PCRs '
                  '0-23 but 10 and 16. Written by the enroll_boot_state '
                  'clean step, or by hand from known-good values. '
                  'Optional; required when [keylime]require_boot_state '
                  'is True.'),
    MB_POLICY: _('Absolute path of the node\'s measured-boot policy on '
                 'the conductor (JSON written by keylime-policy create '
                 'measured-boot from the node\'s UEFI event log), inside '
                 '[keylime]allowed_list_directories; sent to the verifier '
                 'with every attestation (Keylime 7.12 or newer). Only '
                 'with conductor files (keylime_allowlist); set by hand. '
                 'Optional.'),
    MB_POLICY_SHA256: _('SHA-256 hex digest the node\'s measured-boot '
                        'policy must have. With keylime_container: the '
                        'digest of the object mb_policy of the '
                        'container, written by the enroll_boot_state '
                        'clean step with the object; when set, every '
                        'attestation sends that policy. With '
                        'keylime_mb_policy: optional pin of that file.'),
    EK_SHA256: _('SHA-256 fingerprint (64 hex characters) of the '
                 'endorsement key of the node\'s TPM, compared with the '
                 'one the Keylime registrar holds for the node\'s agent '
                 'before every attestation. Optional: recorded at the '
                 'first attestation that passes while '
                 '[keylime]ek_binding is trust_on_first_use; required '
                 'when it is required.'),
}

COMMON_PROPERTIES = dict(REQUIRED_PROPERTIES, **OPTIONAL_PROPERTIES)

FILE_KEYS = ('keylime_allowlist', 'keylime_allowlist_checksum',
             'keylime_excludelist', 'keylime_excludelist_checksum')
#: The digests of the lists pinned in driver_info.
PIN_KEYS = ('keylime_allowlist_sha256', 'keylime_excludelist_sha256')

DEFAULT_VERIFIER_PORT = 8881
DEFAULT_REGISTRAR_PORT = 8891
DEFAULT_AGENT_REGISTRAR_PORT = 8890

_CONTAINER_MAX = 256
_SHA256_RE = re.compile(r'^[0-9a-fA-F]{64}$')

KeylimeInfo = collections.namedtuple(
    'KeylimeInfo',
    ['verifier', 'registrar', 'container', 'allowlist', 'checksum',
     'excludelist', 'agent_uuid', 'agent_address', 'agent_port',
     'excludelist_checksum', 'allowlist_sha256', 'excludelist_sha256',
     'agent_registrar_port', 'mb_policy', 'mb_policy_sha256'],
    defaults=(None, None))


def _invalid(key, value, expected):
    return exception.InvalidParameterValue(
        _('Invalid driver_info/%(key)s %(value)r: %(expected)s') %
        {'key': key, 'value': value, 'expected': expected})


def parse_address(key, value):
    """Validate a service or agent address.

    :param key: the driver_info key, for messages.
    :param value: an IPv4 or IPv6 address or a host name.
    :returns: the address, stripped (IPv6 without brackets).
    :raises: InvalidParameterValue naming the key and what is expected.
    """
    try:
        address = network.parse_address(value)
    except ValueError:
        raise _invalid(key, value, _('expected an IPv4 or IPv6 address or '
                                     'a host name.'))
    try:
        unspecified = ipaddress.ip_address(address).is_unspecified
    except ValueError:
        unspecified = False  # a host name
    if unspecified:
        raise _invalid(
            key, value,
            _('a wildcard address cannot be connected to. Give the '
              'address the Keylime service listens on; Keylime '
              'services must not be bound to a wildcard address '
              '(Keylime issue 705).'))
    return address


def parse_port(key, value):
    """Validate a port, given as a number or a string of digits.

    :raises: InvalidParameterValue naming the key and the valid range.
    """
    try:
        return network.parse_port(value)
    except ValueError:
        raise _invalid(key, value, _('expected a port number from 1 to '
                                     '65535.'))


def _parse_container(value):
    if (not isinstance(value, str) or not value.strip() or '/' in value
            or len(value) > _CONTAINER_MAX):
        raise _invalid('keylime_container', value,
                       _('expected the name of a Swift container (no "/", '
                         'at most 256 characters).'))
    return value.strip()


def _parse_path(key, value):
    if not isinstance(value, str) or not value.strip():
        raise _invalid(key, value, _('expected an absolute path on the '
                                     'conductor.'))
    return value.strip()


def _parse_sha256(key, value):
    if (not isinstance(value, str)
            or not _SHA256_RE.match(value.strip())):
        raise _invalid(key, value, _('expected a SHA-256 hex digest (64 '
                                     'hexadecimal characters).'))
    return value.strip().lower()


def _parse_uuid(value):
    if not isinstance(value, str) or not value.strip():
        raise _invalid(AGENT_UUID, value,
                       _('expected the UUID of the Keylime agent.'))
    return value.strip()


def parse_driver_info(node):
    """Read and validate the keylime_* keys of a node's driver_info.

    :param node: an Ironic node.
    :returns: :class:`KeylimeInfo`.
    :raises: MissingParameterValue when a required key is missing.
    :raises: InvalidParameterValue when a key has a bad value, naming the
        key and what is expected.
    """
    info = node.driver_info or {}
    missing = [key for key in sorted(REQUIRED_PROPERTIES)
               if info.get(key) in (None, '')]
    if missing:
        raise exception.MissingParameterValue(
            _('The keylime attestation interface of node %(node)s needs '
              'driver_info/%(keys)s (the address of the Keylime verifier '
              'and registrar).') %
            {'node': node.uuid, 'keys': ', driver_info/'.join(missing)})

    verifier = tenant.Endpoint(
        parse_address('keylime_v', info['keylime_v']),
        parse_port('keylime_vp', info.get('keylime_vp',
                                          DEFAULT_VERIFIER_PORT)))
    registrar = tenant.Endpoint(
        parse_address('keylime_r', info['keylime_r']),
        parse_port('keylime_rp', info.get('keylime_rp',
                                          DEFAULT_REGISTRAR_PORT)))
    agent_registrar_port = parse_port(
        AGENT_REGISTRAR_PORT,
        info.get(AGENT_REGISTRAR_PORT, DEFAULT_AGENT_REGISTRAR_PORT))

    container = info.get('keylime_container')
    files = {key: info.get(key) for key in FILE_KEYS}
    if container not in (None, '') and any(files.values()):
        raise exception.InvalidParameterValue(
            _('driver_info/keylime_container and driver_info/%s are both '
              'set. Give the lists either in a Swift container '
              '(keylime_container) or as conductor files '
              '(keylime_allowlist, keylime_allowlist_checksum, '
              'keylime_excludelist), not both.') %
            ', driver_info/'.join(k for k in FILE_KEYS if files[k]))
    if container in (None, '') and not files['keylime_allowlist']:
        if any(files.values()):
            raise exception.MissingParameterValue(
                _('driver_info/keylime_allowlist is needed with '
                  'driver_info/keylime_allowlist_checksum and '
                  'keylime_excludelist.'))
        raise exception.MissingParameterValue(
            _('The keylime attestation interface needs the lists: set '
              'driver_info/keylime_container (a Swift container holding '
              'allowlist, allowlist_checksum and excludelist) or '
              'driver_info/keylime_allowlist (a file on the conductor).'))
    if container not in (None, ''):
        container = _parse_container(container)
    else:
        container = None
        for key in FILE_KEYS:
            if files[key] not in (None, ''):
                files[key] = _parse_path(key, files[key])
            else:
                files[key] = None
    pins = {key: (_parse_sha256(key, info[key])
                  if info.get(key) not in (None, '') else None)
            for key in PIN_KEYS}
    if container is None:
        if (CONF.keylime.require_allowlist_checksum
                and not files['keylime_allowlist_checksum']
                and not pins['keylime_allowlist_sha256']):
            raise exception.MissingParameterValue(
                _('driver_info/keylime_allowlist_checksum is required with '
                  'driver_info/keylime_allowlist while '
                  '[keylime]require_allowlist_checksum is on. Give the '
                  'path of the allowlist\'s SHA-256 checksum.'))
        if (CONF.keylime.require_excludelist_checksum
                and files['keylime_excludelist']
                and not files['keylime_excludelist_checksum']
                and not pins['keylime_excludelist_sha256']):
            raise exception.MissingParameterValue(
                _('driver_info/keylime_excludelist_checksum is required '
                  'with driver_info/keylime_excludelist while '
                  '[keylime]require_excludelist_checksum is on. Give the '
                  'path of the excludelist\'s SHA-256 checksum, or pin it '
                  'with driver_info/keylime_excludelist_sha256.'))

    mb_policy, mb_pin = _parse_mb_policy(info, container)
    agent_uuid = info.get(AGENT_UUID)
    agent_address = info.get(AGENT_ADDRESS)
    agent_port = info.get(AGENT_PORT)
    return KeylimeInfo(
        verifier=verifier, registrar=registrar, container=container,
        allowlist=files['keylime_allowlist'],
        checksum=files['keylime_allowlist_checksum'],
        excludelist=files['keylime_excludelist'],
        excludelist_checksum=files['keylime_excludelist_checksum'],
        allowlist_sha256=pins['keylime_allowlist_sha256'],
        excludelist_sha256=pins['keylime_excludelist_sha256'],
        agent_uuid=(_parse_uuid(agent_uuid)
                    if agent_uuid not in (None, '') else None),
        agent_address=(parse_address(AGENT_ADDRESS, agent_address)
                       if agent_address not in (None, '') else None),
        agent_port=(parse_port(AGENT_PORT, agent_port)
                    if agent_port not in (None, '') else None),
        agent_registrar_port=agent_registrar_port,
        mb_policy=mb_policy, mb_policy_sha256=mb_pin)


def _parse_mb_policy(info, container):
    """The measured-boot policy's file and pin, checked together."""
    path = info.get(MB_POLICY)
    pin = info.get(MB_POLICY_SHA256)
    pin = _parse_sha256(MB_POLICY_SHA256, pin) if pin not in (None, '') \
        else None
    if path in (None, ''):
        if pin and not container:
            raise exception.InvalidParameterValue(
                _('driver_info/%(pin)s pins a measured-boot policy, but '
                  'driver_info/%(key)s names no file. With conductor '
                  'files, set driver_info/%(key)s to the policy\'s path, '
                  'or remove the pin.') % {'pin': MB_POLICY_SHA256,
                                           'key': MB_POLICY})
        return None, pin
    if container:
        raise exception.InvalidParameterValue(
            _('driver_info/%(key)s names a conductor file, but the lists '
              'are in the Swift container %(c)s: there the measured-boot '
              'policy is the container\'s object mb_policy, written and '
              'pinned (driver_info/%(pin)s) by the enroll_boot_state '
              'clean step. Remove driver_info/%(key)s.') %
            {'key': MB_POLICY, 'c': container, 'pin': MB_POLICY_SHA256})
    return _parse_path(MB_POLICY, path), pin


def list_source(info):
    """The list source of a node: its Swift container or conductor files.

    The one place where the choice is made; the interface's ``validate``
    and its ``attest`` step both use it.

    :param info: :class:`KeylimeInfo`.
    :returns: a :class:`ironic_keylime.lists.base.ListSource`.
    :raises: InvalidParameterValue when a conductor file is outside
        ``[keylime]allowed_list_directories``.
    """
    if info.container:
        # Imported here: only the Swift workflow needs Swift's client.
        from ironic_keylime.lists import swift
        return swift.source_from_conf(info.container, CONF)
    source = local.LocalListSource(
        info.allowlist, info.checksum, info.excludelist,
        CONF.keylime.allowed_list_directories,
        excludelist_checksum=info.excludelist_checksum,
        limits=formats.list_limits(CONF))
    try:
        source.validate()
    except list_exception.ListError as e:
        raise exception.InvalidParameterValue(str(e))
    return source
