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

"""A rolling upgrade and a rollback of ironic-keylime, attestations in flight.

One cluster for the class (:mod:`upgrade_env`): two conductors on one
PostgreSQL, each running either the previous release of ironic-keylime
(:data:`upgrade_env.OLD_RELEASE`, installed from this repository's
history) or this checkout's, and this checkout's ``ironic-attest-api``.
Verdicts come from the real Keylime of tools/keylime/harness.sh (each node
its own agent, the nodes spread over the verifiers).

Conductor 'a' reads verdicts with ``keylime_tenant`` through a wrapper
that holds the reads while a HOLD file exists: its nodes wait in CLEANWAIT,
their agents on the verifiers, while 'a' is stopped as an operator stops
it during a roll (SIGTERM). Conductor 'b' reads through the verifier's
REST API and must finish what 'a' started, whichever release wrote it.

A conductor killed in the attest step is test_conductors_real's
(``test_takeover_of_nodes_in_the_attest_step``), on this release: the
previous release can leave such a node in ``cleaning`` (see the upgrade
guide, "Rolling back").
"""

import os
import time
import uuid

from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file
from ironic_keylime.tests.functional import held_cluster
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import upgrade_env

TIMEOUT = held_cluster.TIMEOUT
#: Written by this release on every verdict it acts on
#: (``last_attestation.ATTESTATION_KEY``), never by the previous one: a
#: node that has it after a verdict was finished by this release.
LAST_KEY = 'keylime_last_attestation'


class RollingUpgradeTestCase(held_cluster.HeldReadsTestCase):
    """Roll and roll back ironic-keylime with attestations in flight."""

    workdir_prefix = 'ik-upgrade-'

    @classmethod
    def check_harness(cls):
        if len(cls.agents) < 2:
            raise ironic_env.IronicError(
                'this test needs the harness with 2 agents or more '
                '(IRONIC_KEYLIME_AGENTS); it has %d' % len(cls.agents))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        started = time.monotonic()
        old_release = upgrade_env.install_release(upgrade_env.OLD_RELEASE,
                                                  cls.workdir)
        cls.install_seconds = time.monotonic() - started
        cls.cluster = upgrade_env.MixedReleaseCluster(
            cls.workdir, cls.keylime, old_release, {'a': 'old', 'b': 'new'},
            overrides={'keylime': {'status_poll_interval': '2',
                                   'attestation_timeout': '60',
                                   'leftover_sweep_interval': '10'}},
            conductor_overrides=cls.conductor_overrides())
        cls.cluster.start()
        cls.lists = keylime_env_file.write_lists(
            os.path.join(cls.workdir, 'lists'), cls.keylime)

    def setUp(self):
        super().setUp()
        self.addCleanup(self.release_held_reads)

    # Helpers

    def use_releases(self, **releases):
        """Run each conductor in the release given, both alive."""
        for name, release in sorted(releases.items()):
            process = self.cluster.processes.get(name)
            if (self.cluster.releases.get(name) != release
                    or process is None or process.poll() is not None):
                # (An exited one too: a test that failed while it was
                # stopped leaves it for the next.)
                self.cluster.restart(name, release)
        self.cluster.wait_conductors(set(releases))

    def nodes_on(self, name):
        """One manageable node per agent (at most two) on conductor name.

        Nodes are enrolled until the hash ring has given ``name`` enough;
        the others are deleted. Node k uses agent k and verifier k.
        """
        host = self.cluster.hostname(name)
        agents = self.agents[:2]
        nodes = []
        for _ in range(40):
            if len(nodes) == len(agents):
                break
            node = self.cluster.conn.baremetal.create_node(
                name='roll-%s' % uuid.uuid4().hex[:8],
                driver='fake-hardware')
            if self.conductor_of(node.id) != host:
                self.cluster.conn.baremetal.delete_node(node.id)
                continue
            agent = agents[len(nodes)]
            info = self.cluster.keylime_driver_info(self.lists)
            info.update(
                keylime_vp=self.verifier_ports[
                    len(nodes) % len(self.verifier_ports)],
                keylime_agent_uuid=agent['uuid'],
                keylime_agent_port=agent['port'])
            self.cluster.conn.baremetal.update_node(node.id,
                                                    driver_info=info)
            nodes.append(self.cluster.provision(node.id, 'manage',
                                                'manageable'))
        self.assertEqual(len(agents), len(nodes),
                         'the hash ring gave 40 nodes to the other conductor')
        return nodes

    def on_verifiers(self):
        return set().union(*(keylime_env.verifier_agents(port)
                             for port in self.verifier_ports))

    def assertRelease(self, name, node, release):
        """A verdict acted on by conductor ``name`` shows its release.

        Runs a whole cleaning of the node (no hold) and leaves it
        manageable again.

        :returns: the node as the cleaning left it.
        """
        self.assertEqual(self.cluster.hostname(name),
                         self.conductor_of(node.id))
        ended = self.cluster.provision(node.id, 'provide', 'available',
                                       timeout=TIMEOUT)
        self.assertIn('Keylime attestation PASS',
                      self.cluster.attestation_events(node.id)[-1]['event'])
        if release == 'new':
            self.assertIn(LAST_KEY, ended.driver_internal_info)
        else:
            self.assertNotIn(LAST_KEY, ended.driver_internal_info)
        self.cluster.provision(node.id, 'manage', 'manageable')
        return ended

    def hold(self, nodes):
        """Provide the nodes; return once they wait, agents on verifiers.

        Conductor a's tenant holds its verdict reads (see
        held_cluster.WRAPPER): the nodes wait in ``clean wait``.
        """
        state = 'clean wait'
        open(os.path.join(self.hold_dir, 'HOLD'), 'w').close()
        for node in nodes:
            self.cluster.conn.baremetal.set_node_provision_state(node.id,
                                                                 'provide')
        held = {n.driver_info['keylime_agent_uuid'] for n in nodes}
        deadline = time.monotonic() + 90
        while True:
            current = [self.cluster.conn.baremetal.get_node(n.id)
                       for n in nodes]
            states = [n.provision_state for n in current]
            on_verifiers = self.on_verifiers()
            if states == [state] * len(nodes) and held <= on_verifiers:
                return current
            self.assertLess(time.monotonic(), deadline,
                            'nodes: %s, on the verifiers: %s'
                            % (states, sorted(on_verifiers)))
            time.sleep(1)

    def wait_no_agent_left(self, nodes, seconds=60):
        """No agent of the nodes on any verifier, within ``seconds``."""
        uuids = {n.driver_info['keylime_agent_uuid'] for n in nodes}
        deadline = time.monotonic() + seconds
        while True:
            left = uuids & self.on_verifiers()
            if not left:
                return
            self.assertLess(time.monotonic(), deadline,
                            'agents left on the verifiers: %s' % sorted(left))
            time.sleep(2)

    def stop_a(self, nodes):
        """Stop conductor a as a roll does (SIGTERM); b has its nodes.

        :returns: the nodes once each has ended (available or failed).
        """
        self._events_before = {
            n.id: len(self.cluster.attestation_events(n.id)) for n in nodes}
        started = time.monotonic()
        self.cluster.terminate('a')
        self.cluster.wait_conductors({'b'}, timeout=60)
        alive = time.monotonic() - started
        ended = self.wait_all([n.id for n in nodes],
                              ('available', 'clean failed'), timeout=150)
        ended_after = time.monotonic() - started
        # Only once a has exited are its held commands let go.
        exited = self.cluster.wait_exit('a')
        stop_seconds = time.monotonic() - started
        self.release_held_reads()
        self.addDetail('roll', content.text_content(
            'release installed in %.1f s; after the SIGTERM of a: b alone '
            'alive %.1f s, all nodes ended %.1f s, a exited %.1f s%s' % (
                self.install_seconds, alive, ended_after, stop_seconds,
                '' if exited else ' (killed, it did not exit)')))
        self.assertTrue(exited, 'conductor a did not exit within 120 s of '
                        'its SIGTERM')
        self.addDetail('conductor-a', content.text_content('\n'.join(
            line for line in self.cluster.conductor_log('a').splitlines()
            if ' WARNING ' in line or ' ERROR ' in line)[-8000:]))
        for node in ended:
            self.assertEqual(self.cluster.hostname('b'),
                             self.conductor_of(node.id))
        self.wait_no_agent_left(ended)
        # Nothing of the attempt is left on the nodes.
        for node in ended:
            self.assertNotIn('keylime_attestation',
                             self.cluster.conn.baremetal.get_node(
                                 node.id).driver_internal_info)
        return ended

    def assertPassedOnB(self, ended):
        """b read each node's verdict: one more PASS, node available."""
        log_b = self.cluster.conductor_log('b')
        for node in ended:
            self.assertEqual('available', node.provision_state,
                             node.last_error)
            events = self.cluster.attestation_events(node.id)
            self.assertEqual(self._events_before[node.id] + 1, len(events),
                             events)
            self.assertIn('Keylime attestation PASS', events[-1]['event'])
            self.assertIn('Node %s: Keylime attestation PASS' % node.id,
                          log_b)

    # Tests

    def test_roll_old_conductor_to_new(self):
        """The old release's attestations in flight, finished by the new."""
        self.use_releases(a='old', b='new')
        nodes = self.nodes_on('a')
        self.assertRelease('a', nodes[0], 'old')
        for node in self.hold(nodes):
            self.assertIn('keylime_attestation', node.driver_internal_info)
        ended = self.stop_a(nodes)
        self.assertPassedOnB(ended)
        # The new release acted on the old one's records.
        for node in ended:
            self.assertIn(LAST_KEY, node.driver_internal_info)
        # The roll goes on: a comes back on the new release.
        self.use_releases(a='new', b='new')

    def test_rollback_new_conductor_to_old(self):
        """The new release's attestations in flight, finished by the old."""
        self.use_releases(a='new', b='old')
        nodes = self.nodes_on('a')
        first = self.assertRelease('a', nodes[0], 'new')
        self.hold(nodes)
        ended = self.stop_a(nodes)
        self.assertPassedOnB(ended)
        # The old release acted on the new one's records. It does not
        # write the last attestation: the first node keeps the one the
        # new release wrote before (stale now), the second has none.
        self.assertEqual(first.driver_internal_info[LAST_KEY],
                         ended[0].driver_internal_info[LAST_KEY])
        self.assertNotIn(LAST_KEY, ended[1].driver_internal_info)
