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

"""The attest step against a real Keylime 6.x stack.

The other functional tests run Keylime 7.14.3's servers and tenant. This
one starts, for itself only, a second harness on its own ports with the
Keylime 6.8.0 verifier, registrar and tenant (the last 6.x release, from
PyPI, in its own virtualenv) and the 6.6.0 agent on its own swtpm
(``harness.sh start --keylime-version 6.8.0``), and runs a node through
it with the default options, among them ``[keylime]ek_binding =
trust_on_first_use``: a PASS that records the TPM, a FAIL once the node
is tampered with, and nothing left on the verifier. It stops the stack
afterwards.

Its ports: ``IRONIC_KEYLIME6_BASE_PORT``, else 500 above
``IRONIC_KEYLIME_BASE_PORT`` (8500 without one).
"""

import os
import subprocess
import tempfile
import time
from unittest import mock

import fixtures
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils

from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.keylime_client import https as kl_https
from ironic_keylime.keylime_client import tls as kl_tls
from ironic_keylime.tests import base
from ironic_keylime.tests.functional import keylime_env

KEYLIME6 = '6.8.0'
ATTEST_STEP = {'step': 'attest', 'interface': 'attestation',
               'priority': 90, 'argsinfo': None}


def _base_port():
    if os.environ.get('IRONIC_KEYLIME6_BASE_PORT'):
        return int(os.environ['IRONIC_KEYLIME6_BASE_PORT'])
    return int(os.environ.get('IRONIC_KEYLIME_BASE_PORT') or 8000) + 500


def _read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            name, sep, value = line.rstrip('\n').partition('=')
            if sep and name.startswith('KEYLIME_HARNESS_'):
                values[name] = value
    return values


class Keylime6RealTestCase(base.DbTestCase):
    """A node attested by a Keylime 6.8.0 verifier, registrar and tenant."""

    # These tests run the real keylime_tenant and the harness.
    block_execute = False

    def setUp(self):
        super().setUp()
        # Ironic's TestCase kills a test after 60 s (BASE_TEST_TIMEOUT);
        # this one starts and stops a whole Keylime first.
        self.useFixture(fixtures.Timeout(300, gentle=False))
        self.run_dir = tempfile.mkdtemp(
            prefix='keylime6.', dir=os.environ.get('IRONIC_KEYLIME_RUN_DIR'))
        self._harness('start', '--keylime-version', KEYLIME6, '--agents', '1',
                      '--verifiers', '1', '--base-port', str(_base_port()))
        self.addCleanup(self._harness, 'stop')
        # keylime_env's helpers read the harness from the environment:
        # this stack's, for this test.
        for name, value in _read_env(
                os.path.join(self.run_dir, 'keylime.env')).items():
            self.useFixture(fixtures.EnvironmentVariable(name, value))
        self.assertEqual(KEYLIME6, keylime_env.env('KEYLIME_VERSION'))
        self.lists_dir = self.useFixture(fixtures.TempDir()).path
        keylime_env.configure(self,
                              allowed_list_directories=[self.lists_dir])
        self.interface = attestation.KeylimeAttestation()
        self.addCleanup(self._check_nothing_left)

    def _harness(self, command, *args):
        argv = [keylime_env._HARNESS, command, self.run_dir] + list(args)
        try:
            subprocess.run(argv, check=True, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except subprocess.CalledProcessError as e:
            logs = os.path.join(self.run_dir, 'logs')
            self.fail('harness.sh %s failed: %s\n%s (logs: %s)'
                      % (command, e, e.stdout.decode(errors='replace'),
                         logs))

    def _verifier_agents(self):
        """The agents the 6.8.0 verifier holds (its REST API, v2.1).

        keylime_env.verifier_agents reads the 7.x tenant's cvlist output;
        6.8.0 prints the list in another shape.
        """
        connection = kl_https.Connection(
            'verifier', keylime_env.env('VERIFIER'),
            keylime_env.env('VERIFIER_PORT'),
            kl_tls.find_certificates(keylime_env.env('CERT_DIR')),
            timeout=30)
        try:
            code, body = connection.request('GET', '/v2.1/agents/')
        finally:
            connection.close()
        self.assertEqual(200, code, body)
        return sorted(u[0] if isinstance(u, list) else u
                      for u in body['results']['uuids'])

    def _check_nothing_left(self):
        self.assertEqual([], self._verifier_agents())
        self.assertEqual([], self.leftovers())
        self.assertEqual([], keylime_env.tenant_processes())

    def _node(self):
        lists = keylime_env.write_lists(self.lists_dir)
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            provision_state=states.DEPLOYING, deploy_step=ATTEST_STEP,
            driver_info=keylime_env.driver_info(lists))

    def _attest_to_verdict(self, node, timeout=60):
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.interface.attest(task))
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        self.assertEqual([keylime_env.env('AGENT_UUID')],
                         self._verifier_agents())
        deadline = time.monotonic() + timeout
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.interface.check_attestation(task)
            node.refresh()
            if (node.provision_state != states.DEPLOYWAIT
                    or kl_record.STATE_KEY not in node.driver_internal_info):
                return node
            self.assertLess(time.monotonic(), deadline,
                            'no verdict within %s s' % timeout)
            time.sleep(1)

    def _history(self, node):
        return [h.event for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]

    # notify_conductor_resume_deploy is an RPC to the conductor, which
    # does not run in these tests.
    @mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                       autospec=True)
    def test_pass_records_the_tpm_then_tamper_fails(self, mock_resume):
        self.assertEqual(tpm_binding.TRUST_ON_FIRST_USE,
                         attestation.CONF.keylime.ek_binding)
        registrar = tpm_binding.registrar_client(
            keylime_env.registrar_endpoint())
        # A 6.x registrar has no /version on its TLS port.
        fingerprint = registrar.ek_fingerprint(keylime_env.env('AGENT_UUID'))
        self.assertIn(registrar.api_version(), ('2.0', '2.1'))

        node = self._attest_to_verdict(self._node())
        mock_resume.assert_called_once_with(mock.ANY)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.assertTrue(any('Keylime attestation PASS' in event
                            for event in self._history(node)),
                        self._history(node))
        # Trust on first use: the TPM the 6.8.0 tenant checked and
        # Keylime attested is recorded.
        self.assertEqual(fingerprint, node.driver_info['keylime_ek_sha256'])
        self.assertEqual([], self._verifier_agents())

        keylime_env.harness('tamper', '/usr/local/bin/ik-not-allowed')
        node.provision_state = states.DEPLOYING
        node.deploy_step = ATTEST_STEP
        node.save()
        node = self._attest_to_verdict(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Keylime attestation FAIL', node.last_error)
        self.assertIn('Invalid Quote', node.last_error)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.assertEqual(1, mock_resume.call_count)
