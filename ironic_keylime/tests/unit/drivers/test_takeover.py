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

"""No periodic task of the driver stands in the way of Ironic's takeover.

When a conductor dies while a node runs its attest step (``deploying``,
``cleaning``, ``servicing``), the conductor that takes the node over
(Ironic's ``_check_orphan_nodes``) first releases the dead conductor's
lock, then takes its own to fail the node; a node it finds locked in
between it skips, and the node stays in its step state, unlocked, for good
(seen in the rolling-upgrade test, where the previous release's
abandoned-attestation task took that lock). The node is left as the
takeover leaves it between the two (its state, no reservation, the
attempt's record); the driver's tasks must neither lock it nor act on it
then, and must act once Ironic has failed it.

Nodes, tasks and locks are Ironic's own; the verifier is a real HTTPS
server on 127.0.0.1 replaying a real Keylime verifier's answers.
"""

import fixtures
from ironic.common import states
from ironic.conductor import task_manager

from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests.unit.drivers import test_checks


class TakeoverTestCase(test_checks.RemovalTestBase):

    def in_takeover(self, node, state):
        """The node as Ironic's takeover leaves it before it fails it."""
        node.refresh()
        node.provision_state = state
        node.reservation = None
        node.save()
        return node

    def locked(self):
        """Record the nodes whose task acquires an exclusive lock."""
        upgraded = []
        real = task_manager.TaskManager.upgrade_lock

        def upgrade_lock(task, *args, **kwargs):
            upgraded.append(task.node.uuid)
            return real(task, *args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(
            task_manager.TaskManager, 'upgrade_lock', upgrade_lock))
        return upgraded

    def test_abandoned_agent_waits_for_the_takeover(self):
        for state in (states.DEPLOYING, states.CLEANING, states.SERVICING):
            node = self.waiting(self.server)
            path = '/v2.6/agents/%s' % self.agent_of(node)
            self.server.routes[('DELETE', path)] = 'delete-unknown'
            upgraded = self.locked()
            node = self.remove_abandoned(self.in_takeover(node, state))
            self.assertEqual([], upgraded, state)
            self.assertIsNone(node.reservation)
            self.assertEqual(state, node.provision_state)
            self.assertEqual([], self.requests(self.server, 'DELETE'))
            self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_abandoned_agent_removed_once_ironic_failed_the_node(self):
        node = self.in_takeover(self.waiting(self.server), states.CLEANING)
        path = '/v2.6/agents/%s' % self.agent_of(node)
        self.server.routes[('DELETE', path)] = 'delete-unknown'
        self.remove_abandoned(node)
        # What the takeover does next.
        node = self.in_takeover(node, states.CLEANFAIL)
        node = self.remove_abandoned(node)
        self.assertEqual([path], self.requests(self.server, 'DELETE'))
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_sweep_does_not_read_a_node_in_takeover(self):
        taken = self.in_takeover(self.waiting(self.server), states.CLEANING)
        left = self.in_takeover(self.waiting(self.server), states.MANAGEABLE)
        acquired = []
        real = task_manager.acquire

        def acquire(context, node_id, *args, **kwargs):
            acquired.append(node_id)
            return real(context, node_id, *args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(
            task_manager, 'acquire', acquire))
        self.iface._sweep_abandoned_attestations(self.manager, self.context)
        self.assertNotIn(taken.uuid, acquired)
        # The control: a leftover in a stable state is taken.
        self.assertIn(left.uuid, acquired)

    def test_removal_waits_for_the_takeover(self):
        node = self.passed_with_removal_in_progress()
        self.server.routes[('GET', self.path)] = 'agent-after-delete'
        node = self.in_takeover(node, states.DEPLOYING)
        upgraded = self.locked()
        self.removal_round()
        node.refresh()
        self.assertEqual([], upgraded)
        self.assertIsNone(node.reservation)
        self.assertIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
        # Failed by the takeover: confirmed at the next round.
        self.in_takeover(node, states.DEPLOYFAIL)
        self.removal_round()
        node.refresh()
        self.assertEqual([node.uuid], upgraded)
        self.assertNotIn(kl_record.REMOVAL_KEY, node.driver_internal_info)
