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

"""Binding each node to its TPM, by the fingerprint of its EK.

``driver_info/keylime_ek_sha256`` holds the SHA-256 fingerprint of the
endorsement key (EK) of the node's TPM (see
:mod:`ironic_keylime.keylime_client.ek`). Before the node's agent is added
to the verifier, :func:`check` compares it with the EK the Keylime
registrar holds for the agent: a node whose agent now runs on another TPM
(or a node that answers with another node's agent) fails. What happens
when no fingerprint is recorded depends on ``[keylime]ek_binding``:

``off``
    nothing is compared.
``trust_on_first_use``
    :func:`check` returns the fingerprint it saw; the caller keeps it with
    the attestation and calls :func:`record` once the verifier said PASS.
``required``
    the attestation is refused until an operator records the fingerprint.

Calls, in the attest step (before ``keylime_tenant -c add``) and after a
PASS::

    fingerprint = tpm_binding.check(
        task, tpm_binding.registrar_client(info.registrar), agent_uuid)
    ...
    if fingerprint:
        tpm_binding.record(task, fingerprint)
"""

import re

from ironic.common import exception
from ironic.conductor import utils as manager_utils
from ironic.db import api as dbapi
from oslo_log import log as logging

from ironic_keylime.common.i18n import _
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import utils
from ironic_keylime.ironic_integration import ek_index
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import registrar

LOG = logging.getLogger(__name__)

#: The driver_info key of the fingerprint.
DRIVER_INFO_KEY = driver_info.EK_SHA256
#: ``[keylime]ek_binding`` values.
OFF = 'off'
TRUST_ON_FIRST_USE = 'trust_on_first_use'
REQUIRED = 'required'
#: Node history event type of the TPM's records (the verdicts have
#: their own, ``attestation``).
EVENT_TYPE = 'attestation_tpm'


_FINGERPRINT_RE = re.compile(r'^[0-9a-fA-F]{64}$')
_SET_HINT = _('Set it with "baremetal node set <node> --driver-info '
              'keylime_ek_sha256=<fingerprint>" (64 hex characters: the '
              'SHA-256 of the EK public key in DER, e.g. "tpm2_readpublic '
              '-c 0x81010001 -f der -o ek.der; sha256sum ek.der" on the '
              'node), or unset it to record the fingerprint at the next '
              'attestation that passes while [keylime]ek_binding is '
              'trust_on_first_use.')


def parse_fingerprint(value):
    """Validate ``driver_info/keylime_ek_sha256``.

    :param value: the value from driver_info, or None.
    :returns: the fingerprint in lower case, or None when not set.
    :raises: InvalidParameterValue naming the key and the fix.
    """
    if value is None or value == '':
        return None
    if not isinstance(value, str) or not _FINGERPRINT_RE.match(
            value.strip()):
        raise exception.InvalidParameterValue(
            _('Invalid driver_info/%(key)s %(value)r: expected the SHA-256 '
              'fingerprint of the node\'s TPM endorsement key, 64 '
              'hexadecimal characters. %(hint)s') %
            {'key': DRIVER_INFO_KEY, 'value': value, 'hint': _SET_HINT})
    return value.strip().lower()


def validate(node):
    """Validate the node's recorded fingerprint, if any.

    :param node: an Ironic node.
    :raises: InvalidParameterValue if ``keylime_ek_sha256`` is malformed.
    """
    parse_fingerprint((node.driver_info or {}).get(DRIVER_INFO_KEY))


def registrar_client(endpoint):
    """A registrar client configured from ``[keylime]``.

    :param endpoint: the registrar's TLS endpoint (host, port), e.g.
        ``KeylimeInfo.registrar``.
    :returns: :class:`ironic_keylime.keylime_client.registrar.RegistrarClient`
        using ``[keylime]tenant_cert_dir`` and ``command_timeout``.
    """
    return registrar.RegistrarClient(
        endpoint[0], endpoint[1], cert_dir=CONF.keylime.tenant_cert_dir,
        timeout=CONF.keylime.command_timeout)


def forget_registration(task, registrar_client, agent_uuid):
    """Let the ramdisk's agent register again, when the EK pin allows it.

    Keylime 7.14's registrar takes the agent's attestation key as part of
    its TPM identity and refuses a second registration of the UUID with
    another one; a ramdisk keeps no state and makes a new key at every
    boot. The registrar's record of the agent is deleted, so that the
    agent registers anew, only when driver_info pins the node's EK: the
    pin, checked by :func:`check` once the agent registered, then binds
    the UUID to the node's TPM instead of the registrar's record.

    :param task: a TaskManager instance.
    :param registrar_client: a registrar client (:func:`registrar_client`).
    :param agent_uuid: the UUID under which the agent registers.
    :returns: True when the node's EK is pinned and checked (its record,
        if any, was deleted: the agent must restart to register again),
        False otherwise (nothing was done: with ``[keylime]ek_binding``
        off, or no pin yet, the registrar's record is the only binding).
    :raises: AttestationFailure when the registrar cannot delete it.
    """
    node = task.node
    if (CONF.keylime.ek_binding == OFF or not parse_fingerprint(
            (node.driver_info or {}).get(DRIVER_INFO_KEY))):
        return False
    try:
        deleted = registrar_client.delete_agent(agent_uuid)
    except kl_exception.KeylimeError as e:
        raise utils.attestation_failure(node, _(
            'the registrar\'s record of the Keylime agent %(agent)s could '
            'not be deleted before the ramdisk\'s agent registers again '
            '(the registrar refuses a new attestation key for a known '
            'UUID): %(err)s') % {'agent': agent_uuid, 'err': e})
    if deleted:
        LOG.info('Node %(node)s: deleted the registrar\'s record of the '
                 'Keylime agent %(agent)s; the ramdisk\'s agent registers '
                 'again, its EK checked against driver_info/%(key)s',
                 {'node': node.uuid, 'agent': agent_uuid,
                  'key': DRIVER_INFO_KEY})
    return True


def _bound_nodes(fingerprint):
    """The (UUID, driver_info) of the nodes that may pin a fingerprint.

    The nodes the index of :mod:`ironic_keylime.ironic_integration.ek_index`
    tags with it: one query on Ironic's indexed node tags, then each of
    those nodes by its id. A process that does not keep the index (it did
    not add the attestation interface type through ironic-keylime) reads
    every node, as before the index existed.
    """
    db = dbapi.get_instance()
    if not ek_index.installed():
        LOG.warning('This process does not keep the index of bound TPMs '
                    '(ironic_keylime.ironic_integration.ek_index); reading '
                    'every node to find the nodes bound to TPM %s.',
                    fingerprint)
        return db.get_nodeinfo_list(columns=['uuid', 'driver_info'])
    found = []
    for node_id in ek_index.bound_node_ids(fingerprint):
        found.extend(db.get_nodeinfo_list(columns=['uuid', 'driver_info'],
                                          filters={'id': node_id}))
    return found


def _check_not_bound_elsewhere(node, fingerprint, agent_uuid):
    """Refuse, on first use, a TPM already bound to another node.

    In ``[keylime]agent_uuid_mode`` ``image`` a node whose ramdisk names
    another node's agent would otherwise have that TPM recorded as its
    own on its first attestation. (In mode ``node`` the conductor chose
    the agent's UUID.) The other nodes' pins are found through an index
    (:func:`_bound_nodes`), never by reading every node.

    :raises: AttestationFailure naming the other node.
    """
    for uuid, info in _bound_nodes(fingerprint):
        if uuid == node.uuid or not isinstance(info, dict):
            continue
        value = info.get(DRIVER_INFO_KEY)
        if isinstance(value, str) and value.strip().lower() == fingerprint:
            raise utils.attestation_failure(node, _(
                'the Keylime agent %(agent)s has the TPM (endorsement key '
                '%(fp)s) that is bound to node %(other)s; a node is never '
                'attested with another node\'s TPM.') %
                {'agent': agent_uuid, 'fp': fingerprint, 'other': uuid})


def check(task, registrar_client, agent_uuid):
    """Compare the TPM of the node's agent with the recorded one.

    Call before the agent is added to the verifier.

    :param task: a TaskManager instance.
    :param registrar_client: a
        :class:`~ironic_keylime.keylime_client.registrar.RegistrarClient`
        of the node's registrar (see :func:`registrar_client`).
    :param agent_uuid: the UUID of the agent about to be added.
    :returns: the fingerprint the caller must pass to :func:`record` after
        a PASS (trust on first use, nothing recorded yet), else None.
    :raises: AttestationFailure when the TPM changed, when a fingerprint
        is required and none is recorded, or when the registrar cannot
        tell the agent's EK.
    :raises: InvalidParameterValue when ``keylime_ek_sha256`` is malformed.
    """
    return check_identity(task, registrar_client, agent_uuid)[0]


def check_identity(task, registrar_client, agent_uuid, need_identity=False):
    """:func:`check`, also returning the registrar read it checked.

    One registrar read gives the EK that is compared with the pin and
    the attestation key and mTLS certificate the verifier is given
    (enrollment over REST): no record can be swapped in between.

    :param task: a TaskManager instance.
    :param registrar_client: see :func:`check`.
    :param agent_uuid: the UUID of the agent about to be added.
    :param need_identity: read the registrar even with
        ``[keylime]ek_binding`` off (the caller needs the identity).
    :returns: (what :func:`check` returns, the
        :class:`~ironic_keylime.keylime_client.registrar.AgentIdentity`
        read, or None when nothing was read).
    :raises: see :func:`check`.
    """
    node = task.node
    mode = CONF.keylime.ek_binding
    recorded = parse_fingerprint(
        (node.driver_info or {}).get(DRIVER_INFO_KEY))
    if mode == OFF and not need_identity:
        return None, None
    if recorded is None and mode == REQUIRED:
        raise utils.attestation_failure(node, _(
            '[keylime]ek_binding is "required" and driver_info/%(key)s is '
            'not set, so the TPM of this node cannot be verified. '
            '%(hint)s') % {'key': DRIVER_INFO_KEY, 'hint': _SET_HINT})
    try:
        identity = registrar_client.identity(agent_uuid)
    except kl_exception.KeylimeError as e:
        raise utils.attestation_failure(node, _(
            'the endorsement key of the Keylime agent %(agent)s cannot be '
            'read from the registrar ([keylime]ek_binding is %(mode)s): '
            '%(err)s') % {'agent': agent_uuid, 'mode': mode, 'err': e})
    if mode == OFF:
        return None, identity
    seen = identity.ek_sha256
    if recorded is None and CONF.keylime.agent_uuid_mode == 'image':
        # The ramdisk named the agent: it must not name another node's.
        _check_not_bound_elsewhere(node, seen, agent_uuid)
    if recorded is None:
        LOG.info('Node %(node)s: no TPM recorded; the registrar holds EK '
                 '%(fp)s for agent %(agent)s (recorded after a PASS, '
                 'trust on first use)',
                 {'node': node.uuid, 'fp': seen, 'agent': agent_uuid})
        return seen, identity
    if seen != recorded:
        raise utils.attestation_failure(node, _(
            'the TPM of this node changed: %(where)s holds for the Keylime '
            'agent %(agent)s an endorsement key with SHA-256 fingerprint '
            '%(seen)s, but driver_info/%(key)s records %(recorded)s. If '
            'the node\'s TPM or mainboard was replaced on purpose, set '
            'driver_info/%(key)s to the new fingerprint after checking '
            'it, or unset it.') %
            {'where': registrar_client.where, 'agent': agent_uuid,
             'seen': seen, 'key': DRIVER_INFO_KEY, 'recorded': recorded})
    LOG.debug('Node %(node)s: the TPM of agent %(agent)s is the recorded '
              'one (%(fp)s)',
              {'node': node.uuid, 'agent': agent_uuid, 'fp': seen})
    return None, identity


def expected(task, to_record):
    """The fingerprint keylime_tenant's own registrar read must show.

    The conductor's check (:func:`check`) and the tenant's ``add`` read
    the registrar one after the other; the tenant's read is bound to the
    same EK by its ``ek_check_script``
    (:mod:`ironic_keylime.keylime_client.ek_check`).

    :param task: a TaskManager instance.
    :param to_record: what :func:`check` returned.
    :returns: the recorded fingerprint, else ``to_record`` (trust on
        first use); None when ``[keylime]ek_binding`` is off.
    """
    if CONF.keylime.ek_binding == OFF:
        return None
    return parse_fingerprint(
        (task.node.driver_info or {}).get(DRIVER_INFO_KEY)) or to_record


def record(task, fingerprint):
    """Record the fingerprint seen at the first attestation that passed.

    Writes ``driver_info/keylime_ek_sha256`` and a node history entry,
    and saves the node. Never overwrites a different fingerprint that was
    recorded in the meantime.

    :param task: a TaskManager instance with an exclusive lock.
    :param fingerprint: what :func:`check` returned.
    :raises: AttestationFailure if another fingerprint is recorded now.
    :raises: InvalidParameterValue if ``fingerprint`` is malformed.
    """
    node = task.node
    fingerprint = parse_fingerprint(fingerprint)
    if fingerprint is None:
        raise exception.InvalidParameterValue(
            _('No fingerprint of the TPM endorsement key to record.'))
    recorded = parse_fingerprint(
        (node.driver_info or {}).get(DRIVER_INFO_KEY))
    if recorded == fingerprint:
        return
    if recorded is not None:
        raise utils.attestation_failure(node, _(
            'the TPM of this node changed: driver_info/%(key)s was set to '
            '%(recorded)s during the attestation of the TPM with '
            'fingerprint %(seen)s.') %
            {'key': DRIVER_INFO_KEY, 'recorded': recorded,
             'seen': fingerprint})
    info = dict(node.driver_info or {})
    info[DRIVER_INFO_KEY] = fingerprint
    node.driver_info = info
    message = _('Recorded the TPM of this node: driver_info/%(key)s = '
                '%(fp)s, the SHA-256 fingerprint of the endorsement key '
                'the Keylime registrar held for its agent at this first '
                'attestation that passed ([keylime]ek_binding = '
                'trust_on_first_use). Later attestations fail if the TPM '
                'changes.') % {'key': DRIVER_INFO_KEY, 'fp': fingerprint}
    manager_utils.node_history_record(node, event=message,
                                      event_type=EVENT_TYPE)
    node.save()
    LOG.info('Node %(node)s: %(msg)s', {'node': node.uuid, 'msg': message})
