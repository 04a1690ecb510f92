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

"""Binding a node to its TPM, against a real Keylime 7.14.3 registrar.

The harness's agent runs on swtpm; ``harness.sh other-tpm`` restarts it,
under the same UUID and on the same ports, on a second swtpm with another
endorsement key: what Keylime sees when a node's TPM is swapped, or when
another machine answers for the node. ``harness.sh reset`` brings the
original TPM back for the other tests.
"""

import os
import subprocess
import sys
import time
from unittest import mock

import fixtures
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env


class EKBindingRealTestCase(functional_base.KeylimeDbTestCase):
    """tpm_binding.check and record with the real registrar and agent."""

    def setUp(self):
        super().setUp()
        self.use_lists_dir()
        self.interface = attestation.KeylimeAttestation()
        self.agent_uuid = keylime_env.env('AGENT_UUID')
        self.client = tpm_binding.registrar_client(
            keylime_env.registrar_endpoint())
        self.addCleanup(self.check_nothing_left)

    def _node(self, **info):
        lists = keylime_env.write_lists(self.lists_dir)
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            provision_state=states.DEPLOYING,
            deploy_step=functional_base.ATTEST_STEP,
            driver_info=keylime_env.driver_info(lists, **info))

    def _check(self, node):
        with task_manager.acquire(self.context, node.uuid) as task:
            return tpm_binding.check(task, self.client, self.agent_uuid)

    def _history(self, node):
        return [(h.event_type, h.severity, h.event) for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]

    # notify_conductor_resume_deploy is an RPC to the conductor, which
    # does not run in these tests.
    @mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                       autospec=True)
    def _attest_until_pass(self, node, mock_resume):
        """The attest step and the periodic check, to a PASS."""
        # Whatever happens, the agent leaves the verifier.
        self.addCleanup(keylime_env.delete_agent, self.agent_uuid)
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.interface.attest(task))
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        node.refresh()
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        deadline = time.monotonic() + 40
        while kl_record.STATE_KEY in node.driver_internal_info:
            self.assertLess(time.monotonic(), deadline, 'no verdict')
            time.sleep(1)
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.interface.check_attestation(task)
            node.refresh()
        mock_resume.assert_called_once_with(mock.ANY)
        self.assertIn('Keylime attestation PASS',
                      self._history(node)[-1][2])

    def _tpm_ek_fingerprint(self):
        """The EK of the harness's swtpm, as tpm2_readpublic gives it."""
        der = os.path.join(self.lists_dir, 'ek.der')
        # The 6.6.0 agent (ek_handle = generate) persists the EK it
        # creates at the first free handle, 0x81000000, and evicts the
        # others (swtpm_setup's 0x81010001) when it restarts. Read-only.
        subprocess.run(['tpm2_readpublic', '-c', '0x81000000', '-f', 'der',
                        '-o', der], check=True, capture_output=True,
                       timeout=30, env=dict(
                           os.environ, TPM2TOOLS_TCTI=keylime_env.tcti()))
        out = subprocess.run(['sha256sum', der], check=True,
                             capture_output=True, text=True, timeout=30)
        os.unlink(der)
        return out.stdout.split()[0]

    def test_first_use_recorded_after_pass_then_other_tpm_refused(self):
        node = self._node()
        # Trust on first use (the default): nothing recorded yet, the
        # registrar's EK is returned for recording after a PASS.
        seen = self._check(node)
        self.assertRegex(seen, '^[0-9a-f]{64}$')
        # The attest step's PASS records it.
        self._attest_until_pass(node)
        node.refresh()
        self.assertEqual(seen, node.driver_info['keylime_ek_sha256'])
        self.assertTrue(any('Recorded the TPM of this node' in event
                            for _type, _severity, event
                            in self._history(node)))
        # The same TPM: nothing to record, no failure.
        self.assertIsNone(self._check(node))

        # Another TPM under the node's agent UUID.
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.harness('other-tpm')
        other = self.client.ek_fingerprint(self.agent_uuid)
        self.assertNotEqual(seen, other)
        error = self.assertRaises(exception.AttestationFailure,
                                  self._check, node)
        self.assertIn('the TPM of this node changed', str(error))
        self.assertIn(seen, str(error))
        self.assertIn(other, str(error))
        # The check comes before add: the verifier holds no agent.
        self.assertEqual([], keylime_env.verifier_agents())
        node.refresh()
        self.assertEqual(seen, node.driver_info['keylime_ek_sha256'])

    def test_image_mode_tpm_pinned_by_another_node_refused(self):
        # The other node's pin is written through Ironic's objects (as
        # "baremetal node set" does in the conductor): the index tags it,
        # and the first use of its TPM by another node is refused
        # without reading the node table.
        self.config(agent_uuid_mode='image', group='keylime')
        seen = self.client.ek_fingerprint(self.agent_uuid)
        other = obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            uuid=uuidutils.generate_uuid(),
            driver_info=keylime_env.driver_info(
                keylime_env.write_lists(self.lists_dir)))
        other.driver_info = dict(other.driver_info, keylime_ek_sha256=seen)
        other.save()
        node = self._node()
        error = self.assertRaises(exception.AttestationFailure,
                                  self._check, node)
        self.assertIn('bound to node %s' % other.uuid, str(error))
        self.assertIn(seen, str(error))
        # Unpinned, the other node binds nothing: the TPM is this node's
        # on first use.
        other.driver_info = {k: v for k, v in other.driver_info.items()
                             if k != 'keylime_ek_sha256'}
        other.save()
        self.assertEqual(seen, self._check(node))

    def _tenant_swapping_the_tpm_first(self):
        """A keylime_tenant whose first ``add`` meets another TPM.

        Before the real tenant runs ``add`` (after the conductor's EK
        check), ``harness.sh other-tpm`` has the agent register again
        under its UUID with another TPM: what a tampered ramdisk does
        between the conductor's registrar read and the tenant's.
        """
        marker = os.path.join(self.lists_dir, 'swapped')
        wrapper = os.path.join(self.lists_dir, 'keylime_tenant')
        with open(wrapper, 'w') as f:
            f.write('#!%s\n' % sys.executable)
            f.write('import os, subprocess, sys\n'
                    'argv = sys.argv[1:]\n'
                    'if ("-c" in argv and argv[argv.index("-c") + 1] == "add"'
                    '\n        and not os.path.exists(%(marker)r)):\n'
                    '    subprocess.run([%(harness)r, "other-tpm", %(run)r],'
                    ' check=True, stdout=subprocess.DEVNULL)\n'
                    '    open(%(marker)r, "w").close()\n'
                    'os.execv(%(tenant)r, [%(tenant)r] + argv)\n'
                    % {'marker': marker, 'harness': keylime_env._HARNESS,
                       'run': keylime_env.env('DIR'),
                       'tenant': keylime_env.env('TENANT')})
        os.chmod(wrapper, 0o700)
        return wrapper, marker

    def test_record_swapped_after_the_check_refused(self):
        # The node's EK is pinned; the conductor's check passes, then the
        # record changes before keylime_tenant reads it for its add.
        # Moving the agent to another TPM and back takes most of Ironic's
        # 60 s test timeout.
        self.useFixture(fixtures.Timeout(180, gentle=False))
        pinned = self.client.ek_fingerprint(self.agent_uuid)
        node = self._node(keylime_ek_sha256=pinned)
        wrapper, marker = self._tenant_swapping_the_tpm_first()
        self.config(tenant_path=wrapper, command_timeout=120,
                    group='keylime')
        self.addCleanup(keylime_env.harness, 'reset')
        self.addCleanup(keylime_env.delete_agent, self.agent_uuid)
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.AttestationFailure,
                                      self.interface.attest, task)
        self.assertTrue(os.path.exists(marker), 'the TPM was not swapped')
        other = self.client.ek_fingerprint(self.agent_uuid)
        self.assertNotEqual(pinned, other)
        self.assertIn('changed after the conductor checked it', str(error))
        self.assertIn(other, str(error))
        self.assertIn(pinned, str(error))
        # Refused by the tenant before it reached the verifier.
        self.assertEqual([], keylime_env.verifier_agents())

    def test_registrar_ek_is_the_tpm_ek(self):
        # The fingerprint is the one an operator computes on the node
        # with tpm2-tools (the documented procedure).
        self.assertEqual(self._tpm_ek_fingerprint(),
                         self.client.ek_fingerprint(self.agent_uuid))

    def test_required_without_record_refused(self):
        self.config(ek_binding='required', group='keylime')
        node = self._node()
        error = self.assertRaises(exception.AttestationFailure,
                                  self._check, node)
        self.assertIn('keylime_ek_sha256', str(error))
        self.assertIn('baremetal node set', str(error))

    def test_unknown_agent(self):
        error = self.assertRaises(
            kl_exception.AgentNotRegistered,
            self.client.ek_fingerprint,
            '00000000-dead-4bee-8000-000000000000')
        self.assertIn('not found', str(error))
