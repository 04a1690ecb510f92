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

"""The ``keylime`` interface against a real Keylime 7.14.3.

The verifier, the registrar and an agent on swtpm run on 127.0.0.1
(tools/keylime/harness.sh); ``[keylime]tenant_path`` is the real 7.14.3
``keylime_tenant``. The tests drive the interface's step and methods on
nodes of Ironic's test database, as the conductor would, and read the
verdicts Keylime gives. After every test no agent is left on the
verifier, no list file in ``[DEFAULT]tempdir`` and no tenant running.
"""

import hashlib
import os
import time
from unittest import mock

from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils

from ironic_keylime.common import exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests import excludelist_lines
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env

UNKNOWN_UUID = '00000000-dead-4bee-8000-000000000000'


class KeylimeRealTestCase(functional_base.KeylimeDbTestCase):
    """The attest step of the keylime interface, with a real Keylime."""

    def setUp(self):
        super().setUp()
        self.use_lists_dir()
        self.interface = attestation.KeylimeAttestation()
        # The checks of every test: after the test's own clean-ups (a
        # service started again, a node reset), before the base's.
        self.addCleanup(self.check_nothing_left)

    def _node(self, checksum=None, **info):
        lists = keylime_env.write_lists(self.lists_dir, checksum=checksum)
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            provision_state=states.DEPLOYING,
            deploy_step=functional_base.ATTEST_STEP,
            driver_info=keylime_env.driver_info(lists, **info))

    def _reset_node(self):
        # A tampered IMA log stays tampered; the next test needs a clean
        # node (this restarts swtpm and the agent).
        self.addCleanup(keylime_env.harness, 'reset')

    def _attest(self, node):
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.interface.attest(task))
            # What the conductor does with the state the step returned.
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        self.assertEqual([keylime_env.env('AGENT_UUID')],
                         keylime_env.verifier_agents())

    def _wait_for_verdict(self, node, timeout=40):
        """Run the periodic check until it acts on a verdict."""
        deadline = time.monotonic() + timeout
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.interface.check_attestation(task)
            node.refresh()
            if (node.provision_state != states.DEPLOYWAIT
                    or kl_record.STATE_KEY
                    not in node.driver_internal_info):
                return node
            self.assertLess(time.monotonic(), deadline,
                            'no verdict within %s s' % timeout)
            time.sleep(1)

    def _history(self, node):
        """The verdicts in the node's history (type attestation)."""
        return [(h.event_type, h.severity, h.event) for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)
                if h.event_type == 'attestation']

    # notify_conductor_resume_deploy is an RPC to the conductor, which
    # does not run in these tests.
    @mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                       autospec=True)
    def _assert_clean_node_passes(self, mock_resume):
        node = self._node()
        self._attest(node)
        node = self._wait_for_verdict(node)
        mock_resume.assert_called_once_with(mock.ANY)
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        history = self._history(node)
        self.assertEqual(1, len(history), history)
        self.assertEqual('attestation', history[0][0])
        self.assertIn('Keylime attestation PASS', history[0][2])
        self.assertRegex(history[0][2], 'Get Quote|Provide V')
        # Deleted from the verifier once the verdict was read.
        self.assertEqual([], keylime_env.verifier_agents())

    def test_clean_node_passes(self):
        # auto: the runtime policy, as the 7.14.3 tenant supports it.
        self._assert_clean_node_passes()

    def test_clean_node_passes_with_legacy_lists(self):
        self.config(policy_format='legacy', group='keylime')
        self._assert_clean_node_passes()

    def test_clean_node_passes_with_runtime_policy(self):
        self.config(policy_format='runtime-policy', group='keylime')
        self._assert_clean_node_passes()

    def test_tampered_node_fails(self):
        self._reset_node()
        keylime_env.harness('tamper', '/usr/local/bin/ik-not-allowed')
        node = self._node()
        self._attest(node)
        node = self._wait_for_verdict(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Keylime attestation FAIL', node.last_error)
        self.assertIn('Invalid Quote', node.last_error)
        self.assertIn('ima.validation.ima-ng.not_in_allowlist',
                      node.last_error)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_tampered_node_fails_with_legacy_lists(self):
        self.config(policy_format='legacy', group='keylime')
        self.test_tampered_node_fails()

    @mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                       autospec=True)
    def test_excluded_path_passes(self, mock_resume):
        self._reset_node()
        # /tmp/.* is in the excludelist.
        keylime_env.harness('tamper', '/tmp/ik-excluded/tool.sh')
        node = self._node()
        self._attest(node)
        node = self._wait_for_verdict(node)
        mock_resume.assert_called_once_with(mock.ANY)
        self.assertIsNone(node.last_error)

    def _write_excludelist(self, lines):
        data = ('\n'.join(lines) + '\n').encode()
        with open(os.path.join(self.lists_dir, 'excludelist'), 'wb') as f:
            f.write(data)
        # The checksum file keylime_env.write_lists names in driver_info.
        with open(os.path.join(self.lists_dir, 'excludelist.sha256'),
                  'w') as f:
            f.write('%s  excludelist\n' % hashlib.sha256(data).hexdigest())

    @mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                       autospec=True)
    def _assert_accepted_lines_work(self, mock_resume):
        # Every shape of line the excludelist rule accepts (the unit
        # tests' list), compiled and matched by the real verifier: the
        # node passes, with an executable under an excluded directory.
        self._reset_node()
        keylime_env.harness('tamper', '/tmp/ik-excluded/tool.sh')
        node = self._node()
        self._write_excludelist(excludelist_lines.ACCEPTED)
        self._attest(node)
        node = self._wait_for_verdict(node)
        mock_resume.assert_called_once_with(mock.ANY)
        self.assertIsNone(node.last_error)

    def test_accepted_excludelist_lines_on_the_real_verifier(self):
        self._assert_accepted_lines_work()

    def test_accepted_excludelist_lines_with_legacy_lists(self):
        # keylime_tenant --exclude: the tenant reads and joins the lines.
        self.config(policy_format='legacy', group='keylime')
        self._assert_accepted_lines_work()

    def _attest_fails(self, node):
        """Run the step, expecting it to fail; return the message."""
        start = time.monotonic()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.AttestationFailure,
                                      self.interface.attest, task)
        return str(error), time.monotonic() - start

    def test_wrong_checksum_fails_before_the_tenant(self):
        # A tenant that would leave a mark if it ever ran.
        marker = os.path.join(self.lists_dir, 'tenant-was-called')
        spy = os.path.join(self.lists_dir, 'spy-tenant')
        with open(spy, 'w') as f:
            f.write('#!/bin/sh\ntouch %s\nexec %s "$@"\n'
                    % (marker, keylime_env.env('TENANT')))
        os.chmod(spy, 0o700)
        self.config(tenant_path=spy, group='keylime')
        node = self._node(checksum='0' * 64)
        message, _elapsed = self._attest_fails(node)
        self.assertIn('does not match its checksum', message)
        self.assertFalse(os.path.exists(marker))
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_unregistered_agent_fails(self):
        # The binding to the TPM asks the registrar first.
        node = self._node(keylime_agent_uuid=UNKNOWN_UUID)
        message, _elapsed = self._attest_fails(node)
        self.assertIn('is not registered and activated at the Keylime '
                      'registrar at 127.0.0.1:%s'
                      % keylime_env.env('REGISTRAR_PORT'), message)
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_unregistered_agent_fails_in_the_tenant(self):
        # Without the binding, the tenant's add finds it out.
        self.config(ek_binding='off', group='keylime')
        node = self._node(keylime_agent_uuid=UNKNOWN_UUID)
        message, _elapsed = self._attest_fails(node)
        self.assertIn('not registered with the registrar at '
                      '127.0.0.1:%s' % keylime_env.env('REGISTRAR_PORT'),
                      message)

    def _service_down(self, service, port):
        # The tenant's own messages: the registrar check of the binding
        # to the TPM would answer first (test_registrar_down_fails).
        self.config(command_timeout=15, ek_binding='off', group='keylime')
        keylime_env.harness('stop-service', service)
        self.addCleanup(keylime_env.harness, 'start-service', service)
        node = self._node()
        message, elapsed = self._attest_fails(node)
        self.assertIn('The Keylime %s at 127.0.0.1:%s did not answer'
                      % (service, port), message)
        # Each tenant command gave up by itself, well within the timeout.
        self.assertLess(elapsed, 15)
        return node

    def test_verifier_down_fails(self):
        node = self._service_down('verifier',
                                  keylime_env.env('VERIFIER_PORT'))
        keylime_env.harness('start-service', 'verifier')
        # The agent could not be removed then: the periodic clean-up of
        # abandoned attestations does it once the verifier is back.
        node.refresh()
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        node.provision_state = states.DEPLOYFAIL
        node.save()
        with task_manager.acquire(self.context, node.uuid,
                                  shared=True) as task:
            self.interface.remove_abandoned_attestation(task)
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_registrar_down_fails_in_the_tenant(self):
        node = self._service_down('registrar',
                                  keylime_env.env('REGISTRAR_PORT'))
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_registrar_down_fails(self):
        keylime_env.harness('stop-service', 'registrar')
        self.addCleanup(keylime_env.harness, 'start-service', 'registrar')
        node = self._node()
        message, _elapsed = self._attest_fails(node)
        self.assertIn('the Keylime registrar at 127.0.0.1:%s cannot be '
                      'reached' % keylime_env.env('REGISTRAR_PORT'), message)
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_verifier_that_never_answers_fails(self):
        self.config(command_timeout=4, group='keylime')
        self.addCleanup(keylime_env.freeze('verifier'))
        node = self._node()
        message, elapsed = self._attest_fails(node)
        self.assertIn('did not finish within [keylime]command_timeout '
                      '(4 s) and was killed', message)
        self.assertIn('Check that the Keylime verifier and registrar '
                      'answer', message)
        # The delete before add, then the delete of the clean-up.
        self.assertLess(elapsed, 15)

    def test_agent_down_fails(self):
        self._reset_node()
        keylime_env.harness('stop-service', 'agent')
        node = self._node()
        message, _elapsed = self._attest_fails(node)
        self.assertIn('The Keylime agent at 127.0.0.1:%s did not answer'
                      % keylime_env.env('AGENT_PORT'), message)
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_tenant_hung_at_start_is_killed(self):
        pids = os.path.join(self.lists_dir, 'hung-pids')
        self.config(tenant_path=self._hung_tenant(pids), command_timeout=2,
                    group='keylime')
        node = self._node()
        message, elapsed = self._attest_fails(node)
        self.assertIn('did not finish within [keylime]command_timeout '
                      '(2 s) and was killed', message)
        self.assertLess(elapsed, 10)
        self._assert_all_dead(pids, expected=2)

    def _hung_tenant(self, pids):
        """A keylime_tenant that hangs, with a child of its own."""
        hung = os.path.join(self.lists_dir, 'hung-tenant')
        with open(hung, 'w') as f:
            f.write('#!/bin/sh\necho $$ >> %s\nsleep 300 &\n'
                    'echo $! >> %s\nwait\n' % (pids, pids))
        os.chmod(hung, 0o700)
        return hung

    def _assert_all_dead(self, pids, expected=4):
        with open(pids) as f:
            started = [int(pid) for pid in f.read().split()]
        # Each command a shell and its child: two commands (status or
        # delete, then the delete of the clean-up), or, when the tenant
        # hangs at its first command (--help, asked once the lists are
        # verified and before anything is recorded), that one alone: no
        # agent was added, there is nothing to clean up.
        self.assertEqual(expected, len(started))
        # SIGKILL is delivered at once but a killed process is gone only
        # once the kernel has run it: the shell is waited for, its child
        # (reparented) is given a moment, bounded.
        deadline = time.monotonic() + 5
        while (any(_alive(pid) for pid in started)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        for pid in started:
            self.assertFalse(_alive(pid), pid)

    def test_hung_tenant_is_killed(self):
        node = self._node()
        self._attest(node)
        # From now on the tenant hangs, with a child of its own.
        pids = os.path.join(self.lists_dir, 'hung-pids')
        self.config(tenant_path=self._hung_tenant(pids), command_timeout=3,
                    group='keylime')
        start = time.monotonic()
        node = self._wait_for_verdict(node)
        # status, then the delete of the clean-up: 3 s each.
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('did not finish within [keylime]command_timeout '
                      '(3 s) and was killed', node.last_error)
        self._assert_all_dead(pids)
        # The abandoned attestation is cleaned up by the real tenant, with
        # the usual timeout: a delete while the verifier attests waits for
        # "Terminated" (about 3 s, more on a loaded machine).
        self.config(tenant_path=keylime_env.env('TENANT'),
                    command_timeout=30, group='keylime')
        with task_manager.acquire(self.context, node.uuid,
                                  shared=True) as task:
            self.interface.remove_abandoned_attestation(task)
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_tenant_cert_dir_is_needed(self):
        # The tenant finds the verifier's CA and its client certificate
        # only through [keylime]tenant_cert_dir.
        self.config(tenant_cert_dir='', ek_binding='off', group='keylime')
        node = self._node()
        message, _elapsed = self._attest_fails(node)
        self.assertIn('could not set up TLS', message)
        self.assertIn('[keylime]tenant_cert_dir', message)

    def test_cert_dir_is_needed_for_the_registrar(self):
        self.config(tenant_cert_dir='', group='keylime')
        node = self._node()
        message, _elapsed = self._attest_fails(node)
        self.assertIn('needed for mutual TLS with the Keylime registrar',
                      message)
        self.assertIn('[keylime]tenant_cert_dir', message)


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False
