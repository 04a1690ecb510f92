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

"""The round of verdict checks: a fleet of waiting nodes, not one by one.

Every ``[keylime]status_poll_interval`` seconds, one round:

1. lists, without a lock, the nodes this conductor owns in Ironic's hash
   ring (``manager.iter_nodes``, as Ironic's ``node_periodic`` does) that
   wait in a deploy, clean or service wait state with an attestation
   record, or in the ``attest`` step without one;
2. reads their verdicts, without a lock: with ``[keylime]verifier_api =
   rest`` one bulk request per verifier (``GET /v2.x/agents/?bulk=True``)
   and each node's verdict from it, with the rules of a single read
   (:meth:`.verifier.VerifierClient.status_in`); where the verifier has
   no bulk read, and with the tenant, one read per node;
3. acts, under the node's lock (shared, upgraded to act), on the nodes
   whose verdict asks for it (PASS, FAIL, an error, a timeout, a stale
   record), and only if the node's record is still the attempt whose
   verdict was read. A PENDING node is not locked at all.

Reads and actions run in one pool of at most
``[keylime]max_concurrent_checks`` threads (:class:`Pool`, owned by the
interface). The round waits for its jobs: rounds never overlap, and a
round with many nodes takes longer instead of starting more work. A slow
or dead verifier holds only the jobs of its own nodes; an error of a bulk
read is the read error of each node of that verifier (fail closed).
"""

import collections
from concurrent import futures
import threading

import futurist
from ironic.common import exception
from ironic.conductor import task_manager
from oslo_log import log as logging

from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import record as record_
from ironic_keylime.drivers.modules.keylime import verdict
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import status as kl_status

LOG = logging.getLogger(__name__)

PURPOSE = 'checking Keylime attestation verdicts'

#: The node fields a round lists (besides uuid, driver, conductor_group).
FIELDS = ['driver_internal_info', 'provision_state', 'deploy_step',
          'clean_step', 'service_step']
NodeView = collections.namedtuple(
    'NodeView', ['uuid', 'driver', 'conductor_group'] + FIELDS)


class Pool(object):
    """A bounded pool of threads of one interface, made on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._executor = None

    def submit(self, func, *args):
        """Run ``func(*args)`` on one of the pool's threads.

        :returns: a future.
        """
        with self._lock:
            if self._executor is None:
                self._executor = futurist.ThreadPoolExecutor(
                    max_workers=CONF.keylime.max_concurrent_checks)
            executor = self._executor
        return executor.submit(func, *args)

    def shutdown(self):
        """Stop the threads (after the jobs submitted so far)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def candidates(manager):
    """The nodes a round looks at, listed without a lock.

    No ``reserved`` filter: reading a verdict needs no lock, and a node
    another task holds is still read (its action waits for a round in
    which the node is free).

    :param manager: the conductor manager (its hash ring bounds the list).
    :returns: an iterator of ``(NodeView, record or None)``.
    """
    for row in manager.iter_nodes(
            filters={'provision_state_in': record_.WAIT_STATES},
            fields=FIELDS):
        node = NodeView(*row)
        record = (node.driver_internal_info or {}).get(record_.STATE_KEY)
        if record or record_.in_attest_step(node):
            yield node, record


def read_one(record):
    """The verdict of one attempt, read without a lock.

    :param record: the attempt's record.
    :returns: a :class:`.verdict.Outcome`; never raises.
    """
    try:
        status = keylime_api.read_status(
            record['agent_uuid'], record_.endpoint(record['verifier']),
            record_.endpoint(record['registrar']),
            # PASS needs a quote verified after this attempt started.
            since=record_.started_at(record))
        return verdict.Outcome(status=status)
    except kl_exception.KeylimeError as e:
        return verdict.Outcome(error=str(e))
    except Exception as e:
        return verdict.Outcome(unexpected=e)


def read_bulk(verifier, members):
    """The verdicts of the attempts of one verifier, in one request.

    :param verifier: the verifier's :class:`tenant.Endpoint`.
    :param members: ``(uuid, record)`` pairs of nodes on this verifier.
    :returns: a list of ``(uuid, record, Outcome)``, or None when the
        verifier has no bulk read (read the nodes one by one); never
        raises.
    """
    try:
        client = keylime_api.rest_client(verifier)
        records = client.agent_records()
    except kl_exception.BulkUnsupported:
        return None
    except kl_exception.KeylimeError as e:
        # The single read's error for each node of this verifier.
        return [(uuid, record, verdict.Outcome(error=str(e)))
                for uuid, record in members]
    except Exception as e:
        return [(uuid, record, verdict.Outcome(unexpected=e))
                for uuid, record in members]
    results = []
    for uuid, record in members:
        try:
            outcome = verdict.Outcome(status=client.status_in(
                records, record['agent_uuid'],
                since=record_.started_at(record)))
        except kl_exception.KeylimeError as e:
            outcome = verdict.Outcome(error=str(e))
        except Exception as e:
            outcome = verdict.Outcome(unexpected=e)
        results.append((uuid, record, outcome))
    return results


def _waits(uuid, record, outcome):
    """Whether a verdict asks for nothing (PENDING within the timeout)."""
    status = outcome.status
    if status is None or status.verdict != kl_status.PENDING:
        return False
    elapsed = record_.elapsed(record)
    if elapsed >= CONF.keylime.attestation_timeout:
        return False
    LOG.debug('Attestation of node %(node)s pending after %(t)d s '
              '(%(desc)s)', {'node': uuid, 't': elapsed,
                             'desc': verdict.describe(status)})
    return True


class Round(object):
    """One round of the verdict check of an interface.

    :param iface: the :class:`.attestation.KeylimeAttestation`.
    :param pool: its :class:`Pool`.
    :param context: the conductor's admin context.
    :param bulk_supported: a dict the interface keeps from round to
        round: verifier endpoint to False when it has no bulk read.
    """

    def __init__(self, iface, pool, context, bulk_supported):
        self.iface = iface
        self.pool = pool
        self.context = context
        self.bulk_supported = bulk_supported

    def run(self, manager):
        """List, read, act; return when every job of the round ended.

        :param manager: the conductor manager.
        """
        reads, actions = set(), []
        groups = collections.defaultdict(list)
        # Listed first: no database cursor stays open while jobs run.
        for node, record in list(candidates(manager)):
            if not record or not record_.is_current(node, record):
                actions.append(self.pool.submit(self.act, node.uuid, record,
                                                None))
                continue
            try:
                verifier = record_.endpoint(record['verifier'])
            except Exception as e:
                actions.append(self.pool.submit(
                    self.act, node.uuid, record,
                    verdict.Outcome(unexpected=e)))
                continue
            if (keylime_api.uses_rest()
                    and self.bulk_supported.get(verifier, True)):
                groups[verifier].append((node.uuid, record))
            else:
                reads.add(self._submit_read(node.uuid, record))
        for verifier, members in groups.items():
            reads.add(self.pool.submit(self._read_group, verifier, members))
        while reads:
            done, reads = futures.wait(reads,
                                       return_when=futures.FIRST_COMPLETED)
            for future in done:
                for uuid, record, outcome in future.result():
                    if outcome is None:
                        # No bulk read on this verifier: one by one.
                        reads.add(self._submit_read(uuid, record))
                    elif not _waits(uuid, record, outcome):
                        actions.append(self.pool.submit(
                            self.act, uuid, record, outcome))
        futures.wait(actions)

    def _submit_read(self, uuid, record):
        return self.pool.submit(
            lambda: [(uuid, record, read_one(record))])

    def _read_group(self, verifier, members):
        results = read_bulk(verifier, members)
        if results is None:
            LOG.info('The Keylime verifier at %(host)s:%(port)s has no bulk '
                     'read; its agents are read one by one.',
                     {'host': verifier.host, 'port': verifier.port})
            self.bulk_supported[verifier] = False
            return [(uuid, record, None) for uuid, record in members]
        return results

    def act(self, uuid, record, outcome):
        """Act on one node's verdict under its lock; never raises.

        :param uuid: the node's UUID.
        :param record: the record read, or None.
        :param outcome: the :class:`.verdict.Outcome`, or None when the
            node was not read (no current record).
        """
        try:
            with task_manager.acquire(self.context, uuid, purpose=PURPOSE,
                                      shared=True) as task:
                # As node_periodic: only the nodes of this very class.
                if type(task.driver.attestation) is not type(self.iface):
                    return
                try:
                    self.iface.act_on_read(task, record, outcome)
                except (exception.NodeLocked, exception.NodeNotFound):
                    raise
                except Exception as e:
                    LOG.exception('Node %s: unexpected error while acting '
                                  'on its Keylime verdict', uuid)
                    self.iface._fail_unexpected(task, e)
        except exception.NodeNotFound:
            LOG.info('Node %s was deleted while its Keylime verdict was '
                     'checked.', uuid)
        except exception.NodeLocked:
            LOG.debug('Node %s is locked; its Keylime verdict is acted on '
                      'in a later round.', uuid)
        except Exception:
            LOG.exception('Node %s: unexpected error while checking its '
                          'Keylime verdict', uuid)
