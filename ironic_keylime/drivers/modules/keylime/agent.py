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

"""The node's Keylime agent: its identity and the calls to the ramdisk.

Before the node's agent is added to the verifier, the keylime interface
asks the running ramdisk (ironic-python-agent, through Ironic's own agent
client and the node's agent token) to point its Keylime agent at the
node's registrar, with the node's UUID, and records what the agent
reports in driver_internal_info under the keys of
:data:`.driver_info.AGENT_KEYS`. :func:`identity` then says which agent
is attested: driver_info overrides win over the ramdisk's report.
"""

from urllib import parse as urlparse

from ironic.common import exception
from ironic.common import states
from ironic.db import api as dbapi
from ironic.drivers.modules import agent_client
from oslo_log import log as logging
from oslo_serialization import jsonutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import ramdisk_answer
from ironic_keylime.drivers.modules.keylime import record as record_
from ironic_keylime.drivers.modules.keylime import report
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.keylime_client import tenant

LOG = logging.getLogger(__name__)

#: The DIB element that puts the extension and the agent in the ramdisk.
ELEMENT = 'ironic-keylime-agent'

#: Provision states in which the ramdisk runs and answers the conductor
#: (the attest step runs in these).
RAMDISK_STATES = frozenset([states.DEPLOYING, states.DEPLOYWAIT,
                            states.CLEANING, states.CLEANWAIT,
                            states.SERVICING, states.SERVICEWAIT])


def ramdisk_running(node):
    """Whether the node runs a ramdisk the conductor can call.

    :param node: an Ironic node.
    :returns: True when it has an ``agent_url`` and is in a state in which
        the ramdisk runs (deploying, cleaning, servicing).
    """
    return bool((node.driver_internal_info or {}).get('agent_url')
                and node.provision_state in RAMDISK_STATES)


def _missing_extension(node, command, error):
    return kl_ironic_exception.AttestationFailure(
        node=node.uuid,
        reason=_('the ramdisk of the node does not have the keylime '
                 'extension of ironic-python-agent (%(cmd)s: %(err)s). '
                 'Build the deploy ramdisk with the %(element)s element '
                 'of ironic-keylime (ironic-python-agent-builder -e '
                 '%(element)s, with ironic-keylime\'s elements directory '
                 'in ELEMENTS_PATH), or set driver_info/'
                 'keylime_agent_uuid, keylime_agent_address and '
                 'keylime_agent_port to use an agent that is not managed '
                 'by the ramdisk.') %
        {'cmd': command, 'err': error, 'element': ELEMENT})


def _kwarg(error, name):
    """A keyword of an Ironic exception (Ironic stores them as JSON)."""
    value = error.kwargs.get(name)
    if isinstance(value, str):
        try:
            return jsonutils.loads(value)
        except ValueError:
            return value
    return value


def _is_missing(error):
    status = str(_kwarg(error, 'status'))
    text = str(_kwarg(error, 'error') or '')
    if status == '404' and 'keylime' in text:
        return True
    return status == '400' and 'Unknown command' in text


def call(task, command, params):
    """Run a command of the ramdisk's keylime extension and wait for it.

    Wraps :meth:`AgentClient._command` as Ironic's own agent client
    wraps its commands (e.g. ``get_partition_uuids``).

    :param task: a TaskManager instance.
    :param command: ``keylime.get_agent_info`` or
        ``keylime.configure_agent``.
    :param params: the command's parameters.
    :returns: the command's result (a dict).
    :raises: AttestationFailure naming the missing ``ironic-keylime-agent``
        element when the ramdisk has no keylime extension, or with the
        ramdisk's error when the command failed or the ramdisk could not
        be reached, or naming ``[keylime]max_ramdisk_answer_size`` when
        it answered more.
    """
    node = task.node
    client = ramdisk_answer.client(task)
    try:
        result = client._command(node=node, method=command, params=params,
                                 wait=True)
    except ramdisk_answer.AnswerTooLarge as e:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid, reason=_('%(cmd)s: %(err)s') %
            {'cmd': command, 'err': e})
    except exception.AgentAPIError as e:
        if _is_missing(e):
            raise _missing_extension(node, command,
                                     untrusted.text(_kwarg(e, 'error')))
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk refused %(cmd)s: %(err)s') %
            {'cmd': command,
             'err': untrusted.text(_kwarg(e, 'error') or str(e),
                                   limit=untrusted.ERROR_LIMIT)})
    except exception.IronicException as e:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('%(cmd)s could not be run in the ramdisk: %(err)s') %
            {'cmd': command, 'err': untrusted.text(
                str(e), limit=untrusted.ERROR_LIMIT)})
    if result.get('command_status') != 'SUCCEEDED':
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('%(cmd)s failed in the ramdisk: %(err)s') %
            {'cmd': command, 'err': untrusted.text(
                agent_client.get_command_error(result),
                limit=untrusted.ERROR_LIMIT)})
    return result.get('command_result') or {}


def configure_agent(task, info):
    """Point the ramdisk's Keylime agent at the node's registrar.

    The agent registers on the registrar's plain port
    (driver_info/keylime_agent_registrar_port), not on the TLS port the
    tenant uses (keylime_rp).
    The agent's UUID is driver_info/keylime_agent_uuid, else the node's
    UUID (an image built with ``DIB_KEYLIME_AGENT_UUID_MODE`` other than
    ``node`` keeps its own and ignores it).

    :param task: a TaskManager instance.
    :param info: the node's :class:`.driver_info.KeylimeInfo`.
    :returns: what the agent reports: ``uuid``, ``address``, ``port``
        and more (the extension's ``get_agent_info``).
    :raises: AttestationFailure (see :func:`call`).
    """
    params = {'registrar_ip': info.registrar.host,
              'registrar_port': info.agent_registrar_port,
              'agent_uuid': expected_uuid(task.node, info)}
    if info.agent_address:
        params['contact_ip'] = info.agent_address
    if tpm_binding.forget_registration(
            task, tpm_binding.registrar_client(info.registrar),
            params['agent_uuid']):
        # Its record is gone: the agent registers again only if restarted.
        params['restart'] = True
    return call(task, 'keylime.configure_agent', params)


def expected_uuid(node, info):
    """The UUID under which the conductor attests the node's agent.

    :param node: an Ironic node.
    :param info: the node's :class:`.driver_info.KeylimeInfo`.
    :returns: driver_info/keylime_agent_uuid, else the node's UUID, in
        lower case.
    """
    return (info.agent_uuid or node.uuid).lower()


def _uuid_refused(node, reported, expected):
    return kl_ironic_exception.AttestationFailure(
        node=node.uuid,
        reason=_('the ramdisk\'s Keylime agent reports the UUID %(reported)s, '
                 'but the conductor asked for %(expected)s. The node\'s '
                 'ramdisk does not choose which agent is attested while '
                 '[keylime]agent_uuid_mode is "node"; nothing was sent to '
                 'the verifier. Check the ramdisk image (a tampered or '
                 'wrongly built ramdisk), or set driver_info/'
                 'keylime_agent_uuid if the node\'s agent has a fixed '
                 'UUID.') % {'reported': untrusted.text(reported),
                             'expected': expected})


def save_report(node, reported, info):
    """Record the agent's identity, as the ramdisk reported it.

    Validated first (:func:`.report.checked`), then written to
    driver_internal_info under :data:`.driver_info.AGENT_KEYS`.
    A value the agent did not report is removed, so that nothing stale
    remains; :func:`identity` then falls back to the ramdisk's address
    and ``[keylime]agent_port``. In ``[keylime]agent_uuid_mode`` ``node``
    the reported UUID must be the one the conductor asked for.

    :param node: an Ironic node (saved here).
    :param reported: what the agent reported.
    :param info: the node's KeylimeInfo.
    :returns: the values recorded: (uuid, address, port), each or None.
    :raises: AttestationFailure when a value is malformed, when the agent
        reports another UUID than the one asked for, or (mode ``image``)
        computes its UUID itself and did not report it while driver_info
        has none.
    """
    uuid, address, port = report.checked(node, reported, info)
    if CONF.keylime.agent_uuid_mode == 'node':
        expected = expected_uuid(node, info)
        if uuid != expected:
            raise _uuid_refused(
                node, uuid if uuid else _('none (uuid mode "%s")') %
                untrusted.text(reported.get('uuid_mode')), expected)
    elif not uuid and not info.agent_uuid:
        raise kl_ironic_exception.AttestationFailure(
            node=node.uuid,
            reason=_('the ramdisk\'s Keylime agent computes its own UUID '
                     '(uuid mode "%s") and the conductor cannot know it. '
                     'Build the ramdisk with DIB_KEYLIME_AGENT_UUID_MODE='
                     'node (the default), or set driver_info/'
                     'keylime_agent_uuid.') %
            untrusted.text(reported.get('uuid_mode')))
    values = {driver_info.AGENT_UUID: uuid,
              driver_info.AGENT_ADDRESS: address,
              driver_info.AGENT_PORT: port}
    for key, value in values.items():
        if value is None:
            node.del_driver_internal_info(key)
        else:
            node.set_driver_internal_info(key, value)
    node.save()
    return uuid, address, port


def update_agent_info(task, info):
    """Configure the ramdisk's agent and record its identity, if needed.

    Does nothing when the node runs no ramdisk the conductor can call, or
    when driver_info gives the agent's UUID, address and port (the agent
    is then not the ramdisk's business, and a ramdisk without the
    extension is fine).

    :param task: a TaskManager instance with an exclusive lock.
    :param info: the node's KeylimeInfo.
    :returns: what the agent reported, or None when nothing was asked.
    :raises: AttestationFailure when the ramdisk has no keylime extension
        (naming the ironic-keylime-agent element), refuses the values or fails.
    """
    node = task.node
    if info.agent_uuid and info.agent_address and info.agent_port:
        LOG.debug('Node %s: the Keylime agent is given by driver_info; '
                  'the ramdisk is not asked', node.uuid)
        return None
    if not ramdisk_running(node):
        LOG.debug('Node %(node)s runs no ramdisk the conductor can call '
                  '(provision state %(state)s); the Keylime agent is not '
                  'configured', {'node': node.uuid,
                                 'state': node.provision_state})
        return None
    reported = configure_agent(task, info)
    uuid, address, port = save_report(node, reported, info)
    LOG.info('Node %(node)s: the ramdisk\'s Keylime agent %(uuid)s listens '
             'on %(addr)s port %(port)s, registrar %(rip)s:%(rport)s',
             {'node': node.uuid, 'uuid': uuid,
              'addr': address or 'the ramdisk\'s address', 'port': port,
              'rip': untrusted.text(reported.get('registrar_ip')),
              'rport': untrusted.text(reported.get('registrar_port'))})
    return reported


def identity(node, info):
    """Find the node's Keylime agent: its UUID and endpoint.

    The UUID: in ``[keylime]agent_uuid_mode`` ``node``, always
    :func:`expected_uuid` (a different one recorded from the ramdisk is
    refused); in mode ``image``, driver_info's, else the ramdisk's, else
    the node's. The endpoint: driver_info overrides win; then what the
    ramdisk reported in driver_internal_info; then the address of the
    ramdisk's ``agent_url`` and ``[keylime]agent_port``.

    :param node: an Ironic node.
    :param info: :class:`.driver_info.KeylimeInfo`.
    :returns: a tuple (uuid in lower case, :class:`tenant.Endpoint`).
    :raises: MissingParameterValue when no agent address is known.
    :raises: AttestationFailure when the recorded UUID is not the one the
        conductor asked for (mode ``node``).
    """
    internal = node.driver_internal_info or {}
    reported = internal.get(driver_info.AGENT_UUID)
    if CONF.keylime.agent_uuid_mode == 'node':
        uuid = expected_uuid(node, info)
        if reported and str(reported).strip().lower() != uuid:
            raise _uuid_refused(node, reported, uuid)
    else:
        uuid = str(info.agent_uuid or reported or node.uuid).lower()
    address = info.agent_address or internal.get(driver_info.AGENT_ADDRESS)
    if not address and internal.get('agent_url'):
        address = urlparse.urlparse(internal['agent_url']).hostname
    if not address:
        raise exception.MissingParameterValue(
            _('The address of the Keylime agent of node %s is unknown: the '
              'ramdisk has not reported one (no agent_url) and '
              'driver_info/keylime_agent_address is not set.') % node.uuid)
    port = (info.agent_port or internal.get(driver_info.AGENT_PORT)
            or CONF.keylime.agent_port)
    return uuid, tenant.Endpoint(
        driver_info.parse_address(driver_info.AGENT_ADDRESS, address),
        driver_info.parse_port(driver_info.AGENT_PORT, port))


def check_not_in_use(node, agent_uuid):
    """Refuse an agent UUID that belongs to another node.

    The UUID of another node, or of the agent of another node's
    attestation (in progress, or abandoned and not yet removed), would
    have this node attested by another TPM, and the delete that precedes
    every add would remove the other node's attestation.

    :raises: AttestationFailure naming the other node.
    """
    db = dbapi.get_instance()
    if agent_uuid != node.uuid.lower():
        try:
            other = db.get_node_by_uuid(agent_uuid)
        except exception.NodeNotFound:
            other = None
        if other is not None:
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('the Keylime agent UUID %(agent)s is the UUID of '
                         'node %(other)s; a node is never attested under '
                         'another node\'s identity. Fix driver_info/'
                         'keylime_agent_uuid.') %
                {'agent': agent_uuid, 'other': other.uuid})
    # Only nodes in a state that can hold an attestation's record (a
    # query on Ironic's indexed provision_state, not the whole table). A
    # record left in another state is a leftover: the sweep deletes its
    # agent, and an attestation that shares it then fails, never passes.
    for uuid, internal in db.get_nodeinfo_list(
            columns=['uuid', 'driver_internal_info'],
            filters={'provision_state_in': record_.RECORD_STATES}):
        other_record = (internal or {}).get(record_.STATE_KEY) or {}
        if (uuid != node.uuid and isinstance(other_record, dict)
                and str(other_record.get('agent_uuid', '')).lower()
                == agent_uuid):
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('the Keylime agent %(agent)s is being attested for '
                         'node %(other)s; two nodes cannot share an agent. '
                         'Fix driver_info/keylime_agent_uuid of one of '
                         'them.') % {'agent': agent_uuid, 'other': uuid})
