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

"""The removal of agents that were leaving the verifier after a verdict.

With ``[keylime]verifier_api = rest`` a verdict does not hold its node
until the verifier has removed the agent: a DELETE answered 202 (the
verifier is attesting the agent and removes it when that attestation
ends) moves the attempt's record to ``driver_internal_info``
:data:`.record.REMOVAL_KEY` and the operation resumes. Each round of this
module's periodic task, on the nodes whose removal this conductor started
(:func:`expect`; a slower sweep, ``[keylime]leftover_sweep_interval``,
finds the others among all of its nodes, in any provision state):

* reads, without a lock, where the removal stands (``GET``): still
  "Terminated" means in progress (a warning once it lasts longer than
  ``[keylime]command_timeout``, the bound of a synchronous delete);
* on "gone", drops the key under the node's lock;
* on an agent in any other state (the verifier lost the DELETE, or was
  restarted), sends the DELETE again under the node's lock;
* neither of the two while the node is in a state Ironic fails when its
  conductor died (:data:`.record.TAKEOVER_STATES`): the lock would stop
  that takeover; a later round settles it.

The key is only ever dropped under the node's exclusive lock, after a
check that it names the same removal; and the next ``attest`` step
removes that agent (waiting) before it adds one, so the key never makes
this task delete the agent of a newer attempt.
"""

import collections
import threading

from ironic.common import exception
from ironic.conductor import task_manager
from oslo_log import log as logging

from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import record as record_
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import verifier as kl_verifier

LOG = logging.getLogger(__name__)

PURPOSE = 'confirming the removal of Keylime agents'

NodeView = collections.namedtuple(
    'NodeView', ['uuid', 'driver', 'conductor_group',
                 'driver_internal_info'])


#: The nodes whose agent removal this conductor started, by UUID: the
#: only nodes a round reads (the sweep adds those it finds).
_expected = set()
_expected_lock = threading.Lock()


def expect(uuid):
    """Have the next rounds confirm the removal of this node's agent."""
    with _expected_lock:
        _expected.add(uuid)


def candidates(manager, sweep=False):
    """Nodes of this conductor with a removal to confirm (no lock).

    :param manager: the conductor manager.
    :param sweep: read every node of this conductor, not only those of
        :func:`expect`.
    :returns: a list of ``(uuid, removal record)``.
    """
    with _expected_lock:
        expected = set(_expected)
    if not sweep and not expected:
        return []
    # uuid_in is a query on Ironic's indexed uuid column.
    filters = None if sweep else {'uuid_in': sorted(expected)}
    found = []
    for row in manager.iter_nodes(fields=['driver_internal_info'],
                                  filters=filters):
        node = NodeView(*row)
        removal = (node.driver_internal_info or {}).get(record_.REMOVAL_KEY)
        if removal:
            found.append((node.uuid, removal))
    with _expected_lock:
        if not sweep:
            # Deleted, confirmed, or another conductor's now.
            _expected.difference_update(expected)
        _expected.update(uuid for uuid, _removal in found)
    return found


def run(pool, manager, context, sweep=False):
    """One round: every removal checked in ``pool``; waits for them.

    :param pool: the interface's :class:`.checks.Pool`.
    :param manager: the conductor manager (its hash ring bounds the list).
    :param context: the conductor's admin context.
    :param sweep: look at every node of this conductor (see
        :func:`candidates`).
    """
    # Listed first: no database cursor stays open while jobs run.
    jobs = [pool.submit(confirm, context, uuid, removal)
            for uuid, removal in candidates(manager, sweep=sweep)]
    for job in jobs:
        job.result()


def _where(removal):
    return keylime_api.removal_state(
        removal['agent_uuid'], record_.endpoint(removal['verifier']))


def confirm(context, uuid, removal):
    """Confirm one removal, or ask for it again; never raises.

    :param context: the conductor's admin context.
    :param uuid: the node's UUID.
    :param removal: its removal record as listed.
    """
    try:
        where = _where(removal)
    except kl_exception.KeylimeError as e:
        _still_there(uuid, removal, e)
        return
    except Exception:
        LOG.exception('Node %s: unexpected error while checking the removal '
                      'of its Keylime agent', uuid)
        return
    if where == kl_verifier.TERMINATING:
        _still_there(uuid, removal, None)
        return
    try:
        with task_manager.acquire(context, uuid, purpose=PURPOSE,
                                  shared=True) as task:
            _settle(task, removal, where)
    except exception.NodeNotFound:
        LOG.warning('Node %(node)s was deleted while Keylime agent '
                    '%(agent)s was leaving the verifier; its removal is no '
                    'longer confirmed.',
                    {'node': uuid, 'agent': removal.get('agent_uuid')})
    except exception.NodeLocked:
        LOG.debug('Node %s is locked; the removal of its Keylime agent is '
                  'confirmed in a later round.', uuid)
    except Exception:
        LOG.exception('Node %s: unexpected error while confirming the '
                      'removal of its Keylime agent', uuid)


def _settle(task, removal, where):
    """Under the lock: drop the key, or send the DELETE again.

    Not on a node in a state Ironic's takeover fails
    (:data:`.record.TAKEOVER_STATES`): the lock would stop it.
    """
    if task.node.provision_state in record_.TAKEOVER_STATES:
        LOG.debug('Node %(node)s is %(state)s; the removal of its Keylime '
                  'agent is confirmed once it has left that state.',
                  {'node': task.node.uuid,
                   'state': task.node.provision_state})
        return
    task.upgrade_lock(purpose=PURPOSE)
    node = task.node
    if node.driver_internal_info.get(record_.REMOVAL_KEY) != removal:
        return  # changed since it was listed: the next round reads it
    current = node.driver_internal_info.get(record_.STATE_KEY)
    if where != kl_verifier.GONE and record_.same_agent(current, removal):
        # An attempt started meanwhile: it removed this agent before it
        # added its own, which is not ours to delete.
        _drop(node, removal, 'now belongs to a new attestation')
        return
    if where != kl_verifier.GONE:
        try:
            gone = keylime_api.request_removal(
                removal['agent_uuid'],
                record_.endpoint(removal['verifier']))
        except kl_exception.KeylimeError as e:
            _still_there(node.uuid, removal, e)
            return
        if not gone:
            LOG.info('Node %(node)s: asked the verifier again to remove '
                     'Keylime agent %(agent)s.',
                     {'node': node.uuid, 'agent': removal['agent_uuid']})
            return
    _drop(node, removal, 'left the verifier')


def _drop(node, removal, why):
    node.del_driver_internal_info(record_.REMOVAL_KEY)
    node.save()
    LOG.info('Node %(node)s: Keylime agent %(agent)s %(why)s.',
             {'node': node.uuid, 'agent': removal['agent_uuid'],
              'why': why})


def _still_there(uuid, removal, error):
    elapsed = record_.removal_elapsed(removal)
    log = (LOG.warning if error or elapsed >= CONF.keylime.command_timeout
           else LOG.debug)
    log('Node %(node)s: Keylime agent %(agent)s is still on the verifier '
        '%(t)d s after its removal was asked for%(err)s; checking again '
        'in the next round.',
        {'node': uuid, 'agent': removal.get('agent_uuid'), 't': elapsed,
         'err': ' (%s)' % error if error else ''})
