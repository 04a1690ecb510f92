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

"""The verdict round over a fleet, and the removal of leaving agents.

Two verifiers are real HTTPS servers on 127.0.0.1 replaying a real
Keylime 7.14.3 verifier's answers (:mod:`.https_verifier`);
keylime_tenant (which adds the agents) replays real outputs. Nodes,
tasks, locks and the node history are Ironic's own; the periodic tasks
run as the conductor calls them, with a manager that owns every node.
"""

import copy
import logging
import threading
from unittest import mock

import fixtures
from ironic.common import states
from ironic.conductor import utils as manager_utils
from ironic import objects
from oslo_utils import uuidutils

from ironic_keylime.drivers.modules.keylime import checks
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.keylime_client import verifier as kl_verifier
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit.drivers import rest_enrollment
from ironic_keylime.tests.unit.keylime_client import https_verifier

BULK = ('GET', '/v2.6/agents/', (('bulk', 'True'),))


def _record(fixture):
    """The agent record of a recorded single read."""
    return copy.deepcopy(https_verifier.recorded(fixture)['body']['results'])


class FleetTestBase(base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        # notify_conductor_resume_* sends an RPC to a conductor service,
        # which does not run in unit tests; the real-Ironic functional
        # tests cover it.
        self.resume = self.useFixture(fixtures.MockPatchObject(
            manager_utils, 'notify_conductor_resume_deploy',
            autospec=True)).mock
        self.registrar, self.servers = rest_enrollment.start(self, 2)
        self.addCleanup(kl_verifier.clear_clients)
        # A node another task holds: fail its upgrade at once.
        self.config(node_locked_retry_attempts=1,
                    node_locked_retry_interval=0, group='conductor')
        self.manager = base.Manager()

    def waiting(self, server, operation='deploy'):
        """A node attested against ``server``, waiting for its verdict."""
        agent = uuidutils.generate_uuid()
        rest_enrollment.register(self.registrar, server, agent)
        node = self.create_node(operation, driver_info=self.driver_info(
            attestation_interface='keylime', keylime_vp=server.port,
            keylime_rp=self.registrar.port, keylime_agent_uuid=agent))
        self.attest(node)
        # The rounds' requests are counted, not those of the add.
        with server.lock:
            del server.requests[:]
        node.refresh()
        return node

    def logs(self, level):
        """Capture the logs of ironic and ironic_keylime at ``level``.

        The database setup of DbTestCase (alembic's fileConfig) disables
        every logger that existed before it: they are enabled again for
        the test.
        """
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if (isinstance(logger, logging.Logger)
                    and name.split('.')[0] in ('ironic', 'ironic_keylime')):
                self.useFixture(fixtures.MockPatchObject(
                    logger, 'disabled', False))
        return self.useFixture(fixtures.FakeLogger(level=level))

    def agent_of(self, node):
        return node.driver_info['keylime_agent_uuid']

    def bulk(self, server, records):
        server.routes[BULK] = (200, {'code': 200, 'status': 'Success',
                                     'results': records})

    def requests(self, server, method='GET'):
        return [r['path'] for r in server.requests
                if r['method'] == method and '/agents/' in r['path']]

    def node_object(self, uuid):
        return objects.Node.get_by_uuid(self.context, uuid)

    def round(self):
        self.iface._check_attestations(self.manager, self.context)

    def removal_round(self):
        self.iface._confirm_removals(self.manager, self.context)


class BulkRoundTestCase(FleetTestBase):

    def test_one_bulk_request_per_verifier_and_round(self):
        one, two = self.servers
        passing = [self.waiting(one) for _ in range(3)]
        pending = [self.waiting(two) for _ in range(2)]
        self.bulk(one, {self.agent_of(n): _record('agent-pass')
                        for n in passing})
        self.bulk(two, {self.agent_of(n): _record('agent-just-added')
                        for n in pending})
        for server in self.servers:
            for node in passing + pending:
                server.routes[('DELETE', '/v2.6/agents/%s'
                               % self.agent_of(node))] = 'delete-unknown'
        self.round()
        self.assertEqual(['/v2.6/agents/?bulk=True'], self.requests(one))
        self.assertEqual(['/v2.6/agents/?bulk=True'], self.requests(two))
        self.assertEqual(3, self.resume.call_count)
        self.assertEqual(3, len(self.requests(one, 'DELETE')))
        for node in passing:
            self.assertNothingLeft(node)
        for node in pending:
            node.refresh()
            self.assertEqual(states.DEPLOYWAIT, node.provision_state)
            self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.round()
        self.assertEqual(['/v2.6/agents/?bulk=True'] * 2,
                         self.requests(two))

    def test_agent_missing_from_the_bulk_read_fails(self):
        # The single read of this agent would pass: the bulk answer is
        # what counts, read with the same fail-closed rules.
        one = self.servers[0]
        node = self.waiting(one)
        one.routes[('GET', '/v2.6/agents/%s' % self.agent_of(node))] = (
            'agent-pass')
        self.bulk(one, {})
        self.round()
        node.refresh()
        self.resume.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('not known to the verifier', node.last_error)

    def test_bulk_quote_before_the_attempt_is_no_pass(self):
        one = self.servers[0]
        node = self.waiting(one)
        one.routes[('GET', '/v2.6/agents/%s' % self.agent_of(node))] = (
            'agent-pass')
        stale = _record('agent-pass')
        del stale['attestation_count']
        stale['last_received_quote'] = 1000
        stale['last_successful_attestation'] = 1000
        self.bulk(one, {self.agent_of(node): stale})
        self.round()
        node.refresh()
        self.resume.assert_not_called()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_bulk_fail_fails_the_node(self):
        one = self.servers[0]
        node = self.waiting(one)
        self.bulk(one, {self.agent_of(node): _record('agent-fail')})
        one.routes[('DELETE', '/v2.6/agents/%s' % self.agent_of(node))] = (
            'delete-failed')
        self.round()
        node.refresh()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Invalid Quote', node.last_error)
        self.assertNothingLeft(node)

    def test_dead_verifier_fails_only_its_nodes(self):
        one, two = self.servers
        healthy = self.waiting(one)
        dead = [self.waiting(two) for _ in range(2)]
        self.bulk(one, {self.agent_of(healthy): _record('agent-pass')})
        one.routes[('DELETE', '/v2.6/agents/%s'
                    % self.agent_of(healthy))] = 'delete-unknown'
        two.stop()
        self.round()
        self.assertEqual(1, self.resume.call_count)
        self.assertNothingLeft(healthy)
        for node in dead:
            node.refresh()
            self.assertEqual(states.DEPLOYFAIL, node.provision_state)
            # The message of a single read of a dead verifier.
            self.assertIn('Keylime attestation error: The Keylime verifier '
                          'at 127.0.0.1:%d did not answer' % two.port,
                          node.last_error)
            # The agent may still be there: kept for the retries.
            self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_verifier_without_bulk_read_is_read_node_by_node(self):
        one = self.servers[0]
        node = self.waiting(one)
        path = '/v2.6/agents/%s' % self.agent_of(node)
        one.routes[BULK] = 'list-one'
        one.routes[('GET', path)] = 'agent-just-added'
        self.round()
        self.round()
        self.assertEqual(['/v2.6/agents/?bulk=True', path, path],
                         self.requests(one))
        node.refresh()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)

    def test_verdict_of_an_older_attempt_is_dropped(self):
        one = self.servers[0]
        node = self.waiting(one)
        self.bulk(one, {self.agent_of(node): _record('agent-pass')})
        real = checks.read_bulk
        newer = {}

        def read_then_restart(verifier, members):
            # Instrumentation around the real read: a new attempt of the
            # step starts after the verdict was read, before it is acted
            # on.
            results = real(verifier, members)
            fresh = self.node_object(node.uuid)
            record = dict(fresh.driver_internal_info[kl_record.STATE_KEY],
                          attempt=uuidutils.generate_uuid())
            fresh.set_driver_internal_info(kl_record.STATE_KEY, record)
            fresh.save()
            newer.update(record)
            return results

        with mock.patch.object(checks, 'read_bulk', read_then_restart):
            self.round()
        node.refresh()
        self.resume.assert_not_called()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertEqual(newer, node.driver_internal_info[kl_record.STATE_KEY])
        self.assertEqual([], self.requests(one, 'DELETE'))


class LockTestCase(FleetTestBase):

    def test_pending_node_held_by_another_task_is_read_not_locked(self):
        one = self.servers[0]
        node = self.waiting(one)
        self.dbapi.update_node(node.id, {'reservation': 'another-conductor'})
        self.bulk(one, {self.agent_of(node): _record('agent-just-added')})
        logs = self.logs(logging.DEBUG)
        # Instrumentation: Ironic's own acquire runs; the test counts it.
        with mock.patch.object(checks.task_manager, 'acquire',
                               wraps=checks.task_manager.acquire) as acquire:
            self.round()
        self.assertEqual(['/v2.6/agents/?bulk=True'], self.requests(one))
        acquire.assert_not_called()
        self.assertIn('pending after', logs.output)
        self.assertNotIn('locked', logs.output)
        node.refresh()
        self.assertEqual('another-conductor', node.reservation)
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)

    def test_verdict_of_a_held_node_waits_for_the_lock(self):
        one = self.servers[0]
        node = self.waiting(one)
        self.dbapi.update_node(node.id, {'reservation': 'another-conductor'})
        self.bulk(one, {self.agent_of(node): _record('agent-pass')})
        one.routes[('DELETE', '/v2.6/agents/%s' % self.agent_of(node))] = (
            'delete-unknown')
        self.round()
        self.resume.assert_not_called()
        node.refresh()
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.dbapi.update_node(node.id, {'reservation': None})
        self.round()
        self.assertEqual(1, self.resume.call_count)
        self.assertNothingLeft(node)


class ConcurrencyTestCase(FleetTestBase):

    def test_never_more_reads_than_max_concurrent_checks(self):
        self.config(max_concurrent_checks=2, group='keylime')
        one = self.servers[0]
        nodes = [self.waiting(one) for _ in range(5)]
        one.routes[BULK] = 'list-one'  # no bulk read: one read per node
        for node in nodes:
            path = '/v2.6/agents/%s' % self.agent_of(node)
            one.routes[('GET', path)] = 'agent-pass'
            one.routes[('DELETE', path)] = 'delete-unknown'
        cond = threading.Condition()
        inside = {'now': 0, 'peak': 0}
        release = threading.Event()
        real_answer = one.answer

        def held_answer(method, path):
            # Instrumentation of the fake verifier: count the reads of
            # single agents in progress and hold them until released.
            if (method != 'GET' or '/agents/' not in path or '?' in path
                    or path.endswith('/agents/')):
                return real_answer(method, path)
            with cond:
                inside['now'] += 1
                inside['peak'] = max(inside['peak'], inside['now'])
                cond.notify_all()
            release.wait(30)
            try:
                return real_answer(method, path)
            finally:
                with cond:
                    inside['now'] -= 1

        one.answer = held_answer
        runner = threading.Thread(target=self.round)
        runner.start()
        with cond:
            self.assertTrue(cond.wait_for(lambda: inside['now'] >= 2, 30))
            # Room for a third read to show up if the pool let it in.
            cond.wait_for(lambda: inside['now'] > 2, 0.5)
        release.set()
        runner.join(60)
        self.assertFalse(runner.is_alive())
        self.assertEqual(2, inside['peak'])
        self.assertEqual(5, self.resume.call_count)


class RemovalTestBase(FleetTestBase):
    """One verifier, ``self.server``; nodes whose agent is leaving it."""

    def setUp(self):
        super().setUp()
        self.server = self.servers[0]

    def passed_with_removal_in_progress(self):
        """A PASS read while the verifier still attests the agent (202).

        Sets ``self.path``, the agent's path on the verifier.
        """
        node = self.waiting(self.server)
        self.path = '/v2.6/agents/%s' % self.agent_of(node)
        self.bulk(self.server, {self.agent_of(node): _record('agent-pass')})
        self.server.routes[('DELETE', self.path)] = 'delete-attesting'
        self.round()
        node.refresh()
        return node


class RemovalTestCase(RemovalTestBase):

    def test_202_resumes_and_keeps_the_removal(self):
        node = self.passed_with_removal_in_progress()
        self.assertEqual(1, self.resume.call_count)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        removal = node.driver_internal_info[kl_record.REMOVAL_KEY]
        self.assertEqual(self.agent_of(node), removal['agent_uuid'])
        self.assertEqual(['127.0.0.1', self.server.port],
                         removal['verifier'])
        self.assertIn('Keylime attestation PASS', self.history(node)[-1][1])
        # One DELETE, not followed by reads of the agent.
        self.assertEqual([self.path], self.requests(self.server, 'DELETE'))
        self.assertEqual(['/v2.6/agents/?bulk=True'],
                         self.requests(self.server))

    def test_later_round_confirms_the_removal(self):
        node = self.passed_with_removal_in_progress()
        self.server.routes[('GET', self.path)] = 'agent-terminated'
        self.removal_round()
        node.refresh()
        self.assertIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
        self.assertEqual(1, len(self.requests(self.server, 'DELETE')))
        self.server.routes[('GET', self.path)] = 'agent-after-delete'
        self.removal_round()
        node.refresh()
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)

    def test_lost_delete_is_sent_again(self):
        node = self.passed_with_removal_in_progress()
        self.server.routes[('GET', self.path)] = 'agent-pass'
        self.server.routes[('DELETE', self.path)] = 'delete-unknown'
        self.removal_round()
        node.refresh()
        self.assertEqual([self.path] * 2,
                         self.requests(self.server, 'DELETE'))
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)

    def test_unreachable_verifier_keeps_the_removal(self):
        node = self.passed_with_removal_in_progress()
        self.server.stop()
        logs = self.logs(logging.WARNING)
        self.removal_round()
        node.refresh()
        self.assertIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
        self.assertIn('is still on the verifier', logs.output)

    def test_agent_of_a_new_attempt_is_never_deleted(self):
        node = self.passed_with_removal_in_progress()
        # A new attempt of the same agent holds the node's record.
        fresh = self.node_object(node.uuid)
        removal = fresh.driver_internal_info[kl_record.REMOVAL_KEY]
        fresh.set_driver_internal_info(kl_record.STATE_KEY, {
            'attempt': uuidutils.generate_uuid(), 'operation': 'deploy',
            'agent_uuid': removal['agent_uuid'],
            'verifier': removal['verifier'],
            'registrar': ['127.0.0.1', 8891],
            'started_at': removal['since']})
        fresh.save()
        self.server.routes[('GET', self.path)] = 'agent-pass'
        self.removal_round()
        node.refresh()
        self.assertEqual(1, len(self.requests(self.server, 'DELETE')))
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_next_attestation_removes_the_leaving_agent_first(self):
        # The removal of the last operation's agent is still to confirm
        # when the next operation attests the node.
        node = self.create_node(driver_info=self.driver_info(
            attestation_interface='keylime', keylime_vp=self.server.port,
            keylime_rp=self.registrar.port))
        path = '/v2.6/agents/%s' % self.agent_of(node)
        rest_enrollment.register(self.registrar, self.server,
                                 self.agent_of(node))
        node.set_driver_internal_info(kl_record.REMOVAL_KEY, {
            'agent_uuid': self.agent_of(node),
            'verifier': ['127.0.0.1', self.server.port],
            'since': '2026-12-03T10:00:00'})
        node.save()
        self.server.routes[('DELETE', path)] = [
            'delete-attesting', 'delete-unknown']
        self.server.routes[('GET', path)] = [
            'agent-terminated', 'agent-after-delete']
        self.attest(node)
        node.refresh()
        # Removed, waiting for its end, before the agent is added again
        # (the delete before every add finds it gone).
        self.assertEqual([('DELETE', path), ('GET', path), ('GET', path),
                          ('DELETE', path), ('POST', path)],
                         [(r['method'], r['path'])
                          for r in self.server.requests
                          if '/agents/' in r['path']])
        self.assertEqual([], self.fake.calls())
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_removal_with_the_tenant_deletes_and_waits(self):
        # verifier_api changed to tenant while a removal was pending: the
        # tenant cannot tell where it stands; its delete waits for it.
        node = self.passed_with_removal_in_progress()
        self.config(verifier_api='tenant', group='keylime')
        deletes = len(self.fake.calls('delete'))
        self.removal_round()
        node.refresh()
        self.assertEqual(deletes + 1, len(self.fake.calls('delete')))
        self.assertEqual(self.agent_of(node),
                         tenant_fixture_uuid(self.fake.calls('delete')[-1]))
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)

    def test_failed_delete_after_a_pass_fails_the_operation(self):
        node = self.waiting(self.server)
        path = '/v2.6/agents/%s' % self.agent_of(node)
        self.bulk(self.server, {self.agent_of(node): _record('agent-pass')})
        self.server.routes[('DELETE', path)] = (
            500, {'code': 500, 'status': 'Internal Server Error',
                  'results': {}})
        self.round()
        node.refresh()
        self.resume.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('PASS', node.last_error)
        self.assertIn('could not be removed from the verifier',
                      node.last_error)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)


def tenant_fixture_uuid(call):
    """The agent UUID a recorded keylime_tenant call was given."""
    return call['argv'][call['argv'].index('-u') + 1]
