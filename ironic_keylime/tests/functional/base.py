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

"""The bases of the functional tests that use the harness's services.

A test of the real Keylime fails, not skips, when the harness does not
run (:class:`KeylimeHarnessMixin`): a missing harness must not pass
unnoticed. :class:`KeylimeDbTestCase` adds Ironic's test database, the
real tenant, and the check that a test leaves no agent on the verifier,
no file and no tenant process behind.
"""

import time

from ironic.common import states
from ironic.conductor import task_manager
from ironic import objects

from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests import base
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import swift_env

ATTEST_STEP = {'step': 'attest', 'interface': 'attestation',
               'priority': 90, 'argsinfo': None}
ENROLL_STEP = {'step': 'enroll_boot_state', 'interface': 'attestation',
               'priority': 0, 'argsinfo': None}


class KeylimeHarnessMixin(object):
    """Fail the test when the harness's Keylime (and Swift) do not run."""

    #: Whether the test needs the harness's Swift too.
    needs_swift = False

    def setUp(self):
        super().setUp()
        # Fail, not skip: a missing harness must not pass unnoticed.
        if self.needs_swift:
            if not (keylime_env.available() and swift_env.available()):
                self.fail('no harness Keylime or Swift (run '
                          'tools/functional.sh)')
        elif not keylime_env.available():
            self.fail('no harness Keylime (run tools/functional.sh)')


class KeylimeDbTestCase(KeylimeHarnessMixin, base.DbTestCase):
    """Ironic's test database and the harness's real Keylime."""

    # These tests run the real keylime_tenant.
    block_execute = False

    def check_nothing_left(self):
        """No agent on the verifier, no file, no tenant process left."""
        self.assertEqual([], keylime_env.verifier_agents())
        self.assertEqual([], self.leftovers())
        self.assertEqual([], keylime_env.tenant_processes())

    def attest_until_verdict(self, node, timeout=40):
        """Attest as a deployment would; the node after the verdict.

        Uses the test's interface, ``self.iface``.
        """
        node.refresh()
        node.provision_state = states.DEPLOYING
        node.deploy_step = ATTEST_STEP
        node.clean_step = None
        node.last_error = None
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.iface.attest(task))
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        deadline = time.monotonic() + timeout
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.iface.check_attestation(task)
            node.refresh()
            if (node.provision_state != states.DEPLOYWAIT
                    or kl_record.STATE_KEY
                    not in node.driver_internal_info):
                return node
            self.assertLess(time.monotonic(), deadline, 'no verdict')
            time.sleep(1)

    def history_events(self, node):
        """The node's history events, oldest first."""
        return [h.event for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]
