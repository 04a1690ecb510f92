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

"""Attestation on Ironic scaled out: two conductors, one real database.

One cluster for the class (:mod:`conductors_env`): two
``ironic-attest-conductor`` and one ``ironic-attest-api`` on a private
PostgreSQL, JSON-RPC between them. Verdicts come from the real Keylime of
tools/keylime/harness.sh started with four agents and two verifiers
(tools/functional.sh): each node has its own agent, and the nodes are
spread over both verifiers through their driver_info.

Conductor 'a' reads verdicts with ``keylime_tenant`` (through a wrapper
that can hold the reads, see :data:`held_cluster.WRAPPER`), conductor 'b'
through the verifier's REST API.
"""

import os
import time
import uuid

from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import conductors_env
from ironic_keylime.tests.functional import held_cluster
from ironic_keylime.tests.functional import keylime_env

TIMEOUT = held_cluster.TIMEOUT


class ConductorsTestCase(held_cluster.HeldReadsTestCase):
    """Nodes of one cleaning wave on two conductors and two verifiers."""

    workdir_prefix = 'ik-conductors-'

    @classmethod
    def check_harness(cls):
        if len(cls.agents) < 4 or len(cls.verifier_ports) < 2:
            raise ironic_env.IronicError(
                'this test needs the harness with 4 agents and 2 verifiers '
                '(tools/functional.sh starts it so); it has %d and %d'
                % (len(cls.agents), len(cls.verifier_ports)))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = conductors_env.ConductorsCluster(
            cls.workdir, cls.keylime,
            overrides={'keylime': {'status_poll_interval': '2',
                                   'attestation_timeout': '60'}},
            conductor_overrides=cls.conductor_overrides())
        cls.cluster.start()
        cls.lists = keylime_env_file.write_lists(
            os.path.join(cls.workdir, 'lists'), cls.keylime)

    # Helpers

    def spread_nodes(self):
        """Two manageable nodes per conductor, each its agent and verifier.

        Nodes are enrolled until the hash ring has given each conductor
        two; the others are deleted. A conductor's first node uses the
        first verifier, its second the second one.

        :returns: {conductor name: [node, node]}.
        """
        hosts = {self.cluster.hostname(n): n
                 for n in conductors_env.CONDUCTORS}
        nodes = {n: [] for n in conductors_env.CONDUCTORS}
        agents = iter(self.agents[:4])
        for _ in range(40):
            if all(len(v) == 2 for v in nodes.values()):
                break
            node = self.cluster.conn.baremetal.create_node(
                name='wave-%s' % uuid.uuid4().hex[:8],
                driver='fake-hardware')
            owner = hosts[self.conductor_of(node.id)]
            if len(nodes[owner]) == 2:
                self.cluster.conn.baremetal.delete_node(node.id)
                continue
            agent = next(agents)
            info = self.cluster.keylime_driver_info(self.lists)
            info.update(
                keylime_vp=self.verifier_ports[len(nodes[owner])],
                keylime_agent_uuid=agent['uuid'],
                keylime_agent_port=agent['port'])
            self.cluster.conn.baremetal.update_node(node.id,
                                                    driver_info=info)
            nodes[owner].append(self.cluster.provision(
                node.id, 'manage', 'manageable'))
        self.assertEqual([2, 2], [len(v) for v in nodes.values()],
                         'the hash ring gave 40 nodes to one conductor')
        return nodes

    def verifier_uuids(self):
        """The agents both verifiers hold, by verifier port."""
        return {port: keylime_env.verifier_agents(port)
                for port in self.verifier_ports}

    def assertNoAgentLeft(self, nodes):
        uuids = {n.driver_info['keylime_agent_uuid'] for n in nodes}
        for port, held in self.verifier_uuids().items():
            self.assertEqual(set(), uuids & set(held),
                             'verifier on port %d still holds' % port)

    def assertPassed(self, node):
        events = self.cluster.attestation_events(node.id)
        self.assertEqual(1, len(events), events)
        self.assertEqual('INFO', events[0]['severity'])
        self.assertIn('Keylime attestation PASS', events[0]['event'])

    # Tests

    def test_wave_spread_over_conductors_and_verifiers(self):
        nodes = self.spread_nodes()
        every = [n for v in nodes.values() for n in v]
        for node in every:
            self.cluster.conn.baremetal.set_node_provision_state(node.id,
                                                                 'provide')
        ended = self.wait_all([n.id for n in every],
                              ('available', 'clean failed'))
        for node in ended:
            self.assertEqual('available', node.provision_state,
                             node.last_error)
            self.assertPassed(node)
        # Each conductor attested the nodes it owns, and only those.
        for name, owned in nodes.items():
            other = 'b' if name == 'a' else 'a'
            for node in owned:
                line = 'Node %s: Keylime attestation PASS' % node.id
                self.assertIn(line, self.cluster.conductor_log(name))
                self.assertNotIn(line, self.cluster.conductor_log(other))
        self.assertNoAgentLeft(ended)

    def _restart_a(self):
        self.cluster.start_service('a')
        self.cluster.wait_conductors(set(conductors_env.CONDUCTORS))

    def _kill_a_while_held(self, hold_file, held_state):
        """Provide every node and kill conductor a while it holds its own.

        The tenant wrapper of conductor a holds its nodes while
        ``hold_file`` exists; conductor b's nodes are attested as usual.

        :param held_state: the provision state a's nodes wait in, their
            agents on the verifiers, when a is killed.
        :returns: (the nodes by conductor, the time of the kill).
        """
        nodes = self.spread_nodes()
        open(os.path.join(self.hold_dir, hold_file), 'w').close()
        self.addCleanup(self.release_held_reads)
        every = [n for v in nodes.values() for n in v]
        for node in every:
            self.cluster.conn.baremetal.set_node_provision_state(node.id,
                                                                 'provide')
        # Conductor b's nodes are attested as usual.
        for node in self.wait_all([n.id for n in nodes['b']],
                                  ('available', 'clean failed')):
            self.assertEqual('available', node.provision_state,
                             node.last_error)
        # Conductor a's wait, their agents on the verifiers.
        held = {n.driver_info['keylime_agent_uuid'] for n in nodes['a']}
        deadline = time.monotonic() + 60
        while True:
            states = [self.cluster.conn.baremetal.get_node(n.id)
                      .provision_state for n in nodes['a']]
            on_verifiers = set().union(*self.verifier_uuids().values())
            if states == [held_state] * 2 and held <= on_verifiers:
                break
            self.assertLess(time.monotonic(), deadline,
                            'conductor a\'s nodes: %s, on the verifiers: '
                            '%s' % (states, sorted(on_verifiers)))
            time.sleep(1)

        killed_at = time.monotonic()
        self.cluster.kill('a')
        self.addCleanup(self._restart_a)
        self.cluster.wait_conductors({'b'}, timeout=60)
        return nodes, killed_at

    def _wait_no_agent_left(self, nodes, seconds):
        """assertNoAgentLeft, once it holds or after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.assertNoAgentLeft(nodes)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def test_takeover_of_nodes_in_clean_wait(self):
        nodes, killed_at = self._kill_a_while_held('HOLD', 'clean wait')
        b_host = self.cluster.hostname('b')
        for node in nodes['a']:
            self.assertEqual(b_host, self.conductor_of(node.id))

        # Every node ends with a verdict, or a failure naming its cause,
        # within attestation_timeout of the kill (and the takeover).
        ended = self.wait_all([n.id for n in nodes['a']],
                              ('available', 'clean failed'),
                              timeout=60 + 30)
        self.addDetail('takeover', content.text_content(
            'after %.0f s: %s' % (time.monotonic() - killed_at, [
                (n.id, n.provision_state, n.last_error) for n in ended])))
        log_b = self.cluster.conductor_log('b')
        for node in ended:
            if node.provision_state == 'available':
                self.assertPassed(node)
                self.assertIn('Node %s: Keylime attestation PASS' % node.id,
                              log_b)
            else:
                self.assertIn('ttestation', node.last_error or '')
        # No agent is left on either verifier (a failed node's agent is
        # removed by the abandoned-attestation periodic).
        self._wait_no_agent_left(ended, 30)

    def test_takeover_of_nodes_in_the_attest_step(self):
        """A conductor dies while its nodes run the attest step (CLEANING).

        Ironic's takeover fails such nodes (``_check_orphan_nodes``:
        CLEANING goes to clean failed, in maintenance); their agents,
        added just before the crash, must still leave the verifiers: the
        abandoned-attestation periodic of the surviving conductor removes
        them.
        """
        nodes, _killed_at = self._kill_a_while_held('HOLD_AFTER_ADD',
                                                    'cleaning')
        ended = self.wait_all([n.id for n in nodes['a']],
                              ('available', 'clean failed'), timeout=90)
        for node in ended:
            self.assertEqual('clean failed', node.provision_state)
            self.assertIn('conductor take over', node.last_error or '')
        self._wait_no_agent_left(ended, 60)
        # Logged once the verifier has removed the agent.
        lines = ['Node %s: removed the Keylime agent of an abandoned '
                 'attestation' % node.id for node in ended]
        log_b = functional_base.read_until(
            lambda: self.cluster.conductor_log('b'), lines)
        for line in lines:
            self.assertIn(line, log_b)
