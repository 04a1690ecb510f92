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

"""Nothing the conductor reads each round grows with the fleet.

The periodic tasks and the checks of an attestation read the nodes of
Ironic's own database (DbTestCase) through the manager's ``iter_nodes``
or ``get_nodeinfo_list``; the rows those return are counted. Idle nodes
(active, no attestation) are never read by a round; the slower sweeps
read them and catch the leftovers the rounds do not look at.
"""

import re

import fixtures
from ironic.common import states
from ironic.db import api as dbapi
from oslo_utils import uuidutils
import sqlalchemy as sa

from ironic_keylime.common import exception as kl_ironic_exception

from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.drivers.modules.keylime import removal
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.tests.unit.drivers import base

IDLE = 30


class _CountingManager(base.Manager):
    """The manager of one conductor, counting the node rows it reads."""

    def __init__(self):
        self.rows = 0
        self.filters = []

    def iter_nodes(self, fields=None, filters=None):
        self.filters.append(filters)
        rows = list(super().iter_nodes(fields=fields, filters=filters))
        self.rows += len(rows)
        return iter(rows)


class FleetReadsTestCase(base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        for _ in range(IDLE):
            self.create_node(provision_state=states.ACTIVE)
        self.manager = _CountingManager()
        self.addCleanup(removal._expected.clear)

    def abandoned(self, state):
        node = self.create_node(driver_info=self.driver_info(
            keylime_agent_uuid=uuidutils.generate_uuid()))
        self.attest(node)
        node.refresh()
        node.provision_state = state
        node.save()
        return node

    def test_removal_round_reads_only_expected_nodes(self):
        node = self.create_node(provision_state=states.ACTIVE)
        node.set_driver_internal_info(kl_record.REMOVAL_KEY, {
            'agent_uuid': base.AGENT_UUID,
            'verifier': ['127.0.0.1', 8881],
            'since': '2026-12-03T10:00:00'})
        node.save()
        self.assertEqual([], removal.candidates(self.manager))
        self.assertEqual(0, self.manager.rows)
        # The sweep reads every node and finds it; rounds then read it
        # alone.
        self.assertEqual([node.uuid], [u for u, _r in removal.candidates(
            self.manager, sweep=True)])
        self.assertEqual(IDLE + 1, self.manager.rows)
        self.manager.rows = 0
        self.assertEqual([node.uuid], [u for u, _r in removal.candidates(
            self.manager)])
        self.assertEqual(1, self.manager.rows)
        self.assertEqual({'uuid_in': [node.uuid]}, self.manager.filters[-1])
        # Gone from the node: forgotten.
        node.del_driver_internal_info(kl_record.REMOVAL_KEY)
        node.save()
        self.assertEqual([], removal.candidates(self.manager))
        self.manager.rows = 0
        self.assertEqual([], removal.candidates(self.manager))
        self.assertEqual(0, self.manager.rows)

    def test_abandoned_round_reads_only_failed_nodes(self):
        # Which nodes are read; what is done with one is the test of
        # remove_abandoned_attestation (test_attestation): node_periodic
        # hands a node to the interface its driver has, and the nodes of
        # DbTestCase have the fake-hardware driver's.
        self.abandoned(states.DEPLOYFAIL)
        self.abandoned(states.MANAGEABLE)
        self.iface._remove_abandoned_attestations(self.manager, self.context)
        self.assertEqual(1, self.manager.rows)
        self.assertEqual({'reserved': False,
                          'provision_state_in': kl_record.FAIL_STATES},
                         self.manager.filters[-1])
        # The sweep reads every unreserved node (the one left in
        # manageable among them).
        self.manager.rows = 0
        self.iface._sweep_abandoned_attestations(self.manager, self.context)
        self.assertEqual(IDLE + 2, self.manager.rows)

    def test_agent_check_reads_only_nodes_that_can_attest(self):
        other = self.create_node(provision_state=states.CLEANWAIT)
        node = self.create_node()
        real = dbapi.get_instance().get_nodeinfo_list
        rows = []

        def counting(*args, **kwargs):
            result = real(*args, **kwargs)
            rows.extend(result)
            return result

        self.useFixture(fixtures.MockPatchObject(
            dbapi.get_instance(), 'get_nodeinfo_list', counting))
        agent.check_not_in_use(node, base.AGENT_UUID)
        # This node and the cleaning one; none of the idle ones.
        self.assertEqual(sorted([node.uuid, other.uuid]),
                         sorted(r[0] for r in rows))

    def _bound_check_reads(self, node, fingerprint):
        """Run the image mode's bound-TPM check; what it read.

        :returns: (node rows returned by get_nodeinfo_list, the SQL
            statements it sent, whether it refused).
        """
        real = dbapi.get_instance().get_nodeinfo_list
        rows, statements = [], []

        def counting(*args, **kwargs):
            result = real(*args, **kwargs)
            rows.extend(result)
            return result

        def statement(conn, cursor, sql, *args):
            statements.append(' '.join(sql.split()))

        sa.event.listen(sa.engine.Engine, 'before_cursor_execute',
                        statement)
        try:
            with fixtures.MockPatchObject(dbapi.get_instance(),
                                          'get_nodeinfo_list', counting):
                tpm_binding._check_not_bound_elsewhere(
                    node, fingerprint, base.AGENT_UUID)
            refused = False
        except kl_ironic_exception.AttestationFailure:
            refused = True
        finally:
            sa.event.remove(sa.engine.Engine, 'before_cursor_execute',
                            statement)
        return rows, statements, refused

    def test_bound_tpm_check_reads_only_the_bound_nodes(self):
        fingerprint = 'ab' * 32
        other = self.create_node(driver_info=self.driver_info(
            keylime_ek_sha256=fingerprint))
        node = self.create_node()
        for i in range(IDLE):
            self.create_node(driver_info=self.driver_info(
                keylime_ek_sha256='%064x' % i))
        rows, statements, refused = self._bound_check_reads(node,
                                                            fingerprint)
        self.assertTrue(refused)
        self.assertEqual([other.uuid], [r[0] for r in rows])
        # Every statement on the node table names the node it reads.
        for sql in statements:
            if re.search(r'FROM nodes\b', sql):
                self.assertRegex(sql, r'WHERE nodes\.id = ')
        # Twice the pinned nodes: the same reads.
        for i in range(IDLE, 2 * IDLE):
            self.create_node(driver_info=self.driver_info(
                keylime_ek_sha256='%064x' % i))
        again, statements_again, refused = self._bound_check_reads(
            node, fingerprint)
        self.assertTrue(refused)
        self.assertEqual(len(rows), len(again))
        self.assertEqual(len(statements), len(statements_again))
        # A TPM bound to no node: no node row at all.
        rows, _s, refused = self._bound_check_reads(node, 'cd' * 32)
        self.assertFalse(refused)
        self.assertEqual([], rows)
