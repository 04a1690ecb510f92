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

"""Attestation in the deploy and clean workflows of a real Ironic.

Each test class starts a real, stock Ironic 39 with ``ironic-attest`` on
127.0.0.1 (sqlite, noauth, no RPC bus, fake-hardware) and drives it with
openstacksdk and the ``baremetal`` command. Verdicts come from the real
Keylime of tools/keylime/harness.sh (verifier, registrar, keylime_tenant
and an agent on a software TPM), started by tools/functional.sh; the
nodes' keylime_agent_* name the harness's agent.
"""

import os
import sqlite3
import time

from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env as keylime_harness


class AttestationWorkflowTestCase(functional_base.IronicTestCase):
    """Keylime attestation in deploy and clean, failure fails them."""

    def test_driver_show_lists_attestation_interfaces(self):
        driver = self.ironic.baremetal_json('driver', 'show',
                                            'fake-hardware')
        self.assertEqual('no-attestation',
                         driver['default_attestation_interface'])
        self.assertEqual(['keylime', 'no-attestation'], sorted(
            i.strip() for i in
            driver['enabled_attestation_interfaces'].split(',')))

    def test_deploy_and_clean_pass(self):
        node = self.keylime_node()
        validation = {row['Interface']: row for row in
                      self.ironic.baremetal_json('node', 'validate',
                                                 node.id)}
        self.assertTrue(validation['attestation']['Result'],
                        validation['attestation'])

        # Automated cleaning runs the attest clean step.
        self.provide(node)
        self.assertEqual(1, len(self.verdicts(node)))

        node = self.deploy(node)
        self.assertAllPassed(node, 2)

        # Undeploy: automated cleaning attests again.
        self.ironic.provision(node.id, 'deleted', 'available',
                              timeout=functional_base.TIMEOUT)
        self.assertEqual(3, len(self.verdicts(node)))

        # Manual cleaning with the attest step only.
        self.ironic.provision(node.id, 'manage', 'manageable')
        self.ironic.baremetal(
            'node', 'clean', node.id, '--wait', str(functional_base.TIMEOUT),
            '--clean-steps',
            '[{"interface": "attestation", "step": "attest"}]')
        node = self.ironic.wait_state(node.id, 'manageable')
        verdicts = self.verdicts(node)
        self.assertEqual(4, len(verdicts), verdicts)
        self.assertIn('PASS', verdicts[-1][1])
        self.assertVerifierHasNoAgent()

        # The node keeps its last attestation; the operators' commands
        # show it (both clients).
        shown = self.attestation('show', node.id)
        self.assertEqual('keylime', shown['attestation_interface'])
        self.assertEqual('PASS', shown['last_verdict'])
        self.assertEqual('clean', shown['last_operation'])
        self.assertEqual('attest', shown['last_step'])
        self.assertEqual('%s:%s' % (self.keylime['KEYLIME_HARNESS_VERIFIER'],
                                    self.keylime[
                                        'KEYLIME_HARNESS_VERIFIER_PORT']),
                         shown['last_verifier'])
        self.assertEqual(shown, self.attestation('show', node.id,
                                                 client='baremetal'))
        listed = {r['node']: r for r in self.attestation('list')}
        self.assertEqual('PASS', listed[node.id]['last_verdict'])
        self.assertNotIn(node.id, [r['node'] for r in self.attestation(
            'list', '--failed')])

    def test_tampered_deploy_fails(self):
        node = self.keylime_node('tampered')
        self.provide(node)
        keylime_harness.harness('tamper', '/usr/bin/evil')
        self.addCleanup(keylime_harness.harness, 'reset')
        node = self.deploy(node, expected='deploy failed')
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        self.assertIn('not_in_allowlist', error)
        self.assertVerifierHasNoAgent()
        # The verdict is in the history, as an error.
        events = self.ironic.history(node.id)
        self.assertEqual('ERROR', events[-1]['severity'])
        self.assertIn('Keylime attestation FAIL', events[-1]['event'])
        # The node remembers the FAIL, and the list's filter finds it.
        shown = self.attestation('show', node.id)
        self.assertEqual('FAIL', shown['last_verdict'])
        self.assertEqual('deploy', shown['last_operation'])
        self.assertIn('not_in_allowlist', shown['last_event_id'])
        failed = {r['node']: r for r in self.attestation('list', '--failed')}
        self.assertEqual('FAIL', failed[node.id]['last_verdict'])
        # A node without the keylime interface is refused by name.
        plain = self.ironic.create_node(self.name('plain'))
        result = self.ironic.openstack('baremetal', 'node', 'attestation',
                                       'show', plain.id, check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('does not use the keylime attestation interface',
                      result.stderr)

    def test_deploy_steps_and_templates_name_the_attest_step(self):
        node = self.keylime_node('steps')
        self.provide(node)
        count = len(self.verdicts(node))
        # A deploy template that disables the attest step (priority 0),
        # chosen with the instance traits (which the lessee can set):
        # the deployment is refused ([keylime]allow_user_step_override
        # is False).
        self.ironic.baremetal(
            'deploy', 'template', 'create', 'CUSTOM_NO_ATTESTATION',
            '--steps', '[{"interface": "attestation", "step": "attest", '
            '"args": {}, "priority": 0}]')
        self.ironic.baremetal('node', 'add', 'trait', node.id,
                              'CUSTOM_NO_ATTESTATION')
        self.ironic.baremetal('node', 'set', node.id, '--instance-info',
                              'traits=["CUSTOM_NO_ATTESTATION"]')
        result = self.ironic.baremetal('node', 'deploy', node.id,
                                       check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('attestation.attest', result.stderr)
        self.assertIn('CUSTOM_NO_ATTESTATION', result.stderr)
        self.assertIn('HTTP 400', result.stderr)
        self.assertEqual('available', self.ironic.conn.baremetal.get_node(
            node.id).provision_state)
        self.assertEqual(count, len(self.verdicts(node)))
        # User deploy steps name it again: they win over the template.
        self.ironic.baremetal(
            'node', 'deploy', node.id, '--wait', str(functional_base.TIMEOUT),
            '--deploy-steps', '[{"interface": "attestation", "step": '
            '"attest", "args": {}, "priority": 95}]')
        node = self.ironic.wait_state(node.id, 'active')
        verdicts = self.verdicts(node)
        self.assertEqual(count + 1, len(verdicts))
        self.assertIn('PASS', verdicts[-1][1])

    def test_stock_nodes_deploy_as_before(self):
        for info in ({'attestation_interface': 'no-attestation'}, {}):
            node = self.ironic.create_node(self.name('stock'), info)
            validation = {row['Interface']: row for row in
                          self.ironic.baremetal_json('node', 'validate',
                                                     node.id)}
            self.assertTrue(validation['attestation']['Result'])
            self.provide(node)
            node = self.deploy(node)
            self.assertEqual([], self.ironic.attestation_events(node.id))
            self.assertEqual({}, {k: v for k, v in
                                  node.driver_internal_info.items()
                                  if k.startswith('keylime')})
            self.assertIsNone(node.last_error)

    def test_bad_interface_name_refused(self):
        message = ("Could not find the following interface in the "
                   "'ironic.hardware.interfaces.attestation' entrypoint: "
                   "keylimee. Valid interfaces are ['keylime', "
                   "'no-attestation'].")
        # On create, as Ironic refuses a bad --deploy-interface.
        name = self.name('bad-name')
        result = self.ironic.baremetal(
            'node', 'create', '--driver', 'fake-hardware', '--name', name,
            '--driver-info', 'attestation_interface=keylimee', check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(message, result.stderr)
        self.assertEqual(404, self.ironic.api('GET', '/nodes/' + name)
                         .status_code)
        # On update; the node keeps its setting.
        node = self.keylime_node('bad-name')
        self.provide(node)
        result = self.ironic.baremetal('node', 'set', node.id, '--driver-info',
                                       'attestation_interface=keylimee',
                                       check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(message, result.stderr)
        node = self.ironic.conn.baremetal.get_node(node.id)
        self.assertEqual('keylime', node.driver_info['attestation_interface'])
        self.assertEqual('available', node.provision_state)

    def test_bad_keylime_driver_info_refused(self):
        node = self.keylime_node('bad-info', keylime_vp='not-a-port')
        validation = {row['Interface']: row for row in
                      self.ironic.baremetal_json('node', 'validate',
                                                 node.id)}
        self.assertFalse(validation['attestation']['Result'])
        self.assertIn('keylime_vp', validation['attestation']['Reason'])
        # Cleaning is not refused up front by Ironic: give the node a
        # good port to get it available, then break it again.
        self.ironic.baremetal(
            'node', 'set', node.id, '--driver-info',
            'keylime_vp=%s' % self.keylime['KEYLIME_HARNESS_VERIFIER_PORT'])
        self.provide(node)
        self.ironic.baremetal('node', 'set', node.id, '--driver-info',
                              'keylime_vp=not-a-port')
        result = self.ironic.baremetal('node', 'deploy', node.id,
                                       check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('attestation interface', result.stderr)
        self.assertIn('keylime_vp', result.stderr)
        self.assertEqual('available',
                         self.ironic.conn.baremetal.get_node(
                             node.id).provision_state)


class RestVerifierWorkflowTestCase(AttestationWorkflowTestCase):
    """The same workflow with [keylime]verifier_api = rest.

    Verdicts are read with one bulk request per verifier and round; the
    agent the verifier is still removing after a verdict (DELETE answered
    202) does not hold the node, and the removal periodic confirms it is
    gone.
    """

    overrides = {'keylime': {'verifier_api': 'rest'}}

    def wait_removal(self, node, timeout=60):
        """Wait until the node has no agent removal left to confirm."""
        deadline = time.monotonic() + timeout
        while True:
            node = self.ironic.conn.baremetal.get_node(node.id)
            if 'keylime_removal' not in node.driver_internal_info:
                return node
            self.assertLess(time.monotonic(), deadline,
                            'removal not confirmed within %d s: %s'
                            % (timeout, node.driver_internal_info))
            time.sleep(1)

    def assertVerifierHasNoAgent(self):
        """The harness's agent leaves the verifier within a few rounds."""
        k = self.keylime
        deadline = time.monotonic() + 60
        while True:
            try:
                super().assertVerifierHasNoAgent()
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            self.assertIn(k['KEYLIME_HARNESS_AGENT_UUID'],
                          keylime_harness.verifier_agents())
            time.sleep(1)

    def test_removal_confirmed_after_resume(self):
        node = self.keylime_node('rest')
        self.provide(node)
        node = self.deploy(node)
        verdicts = self.verdicts(node)
        self.assertEqual(2, len(verdicts), verdicts)
        node = self.wait_removal(node)
        self.assertEqual([], keylime_harness.verifier_agents())
        self.assertAllPassed(node, 2)
        log = self._log()
        # Agents added, verdicts read and agents removed over REST: no
        # keylime_tenant process at all.
        self.assertNotIn('Running keylime_tenant', log)
        # A DELETE answered 202 (the verifier was attesting the agent)
        # did not hold the node; the periodic confirmed the removal. It
        # logs that just after it saved the node (wait_removal saw the
        # save): read the log until the line is there.
        if 'the verifier is removing Keylime agent' in log:
            self.assertIn('left the verifier', functional_base.read_until(
                self._log, ['left the verifier']))

    def _log(self):
        with open(self.ironic.log_file, errors='replace') as f:
            return f.read()


class NoFailOnAttestationFailureTestCase(functional_base.IronicTestCase):
    """fail_deploy_on_attestation_failure = False: FAIL is recorded only."""

    overrides = {'keylime': {'fail_deploy_on_attestation_failure': 'false'},
                 'conductor': {'automated_clean': 'false'}}

    def test_tampered_node_reaches_active(self):
        node = self.keylime_node('tolerated')
        self.provide(node)
        keylime_harness.harness('tamper', '/usr/bin/evil')
        self.addCleanup(keylime_harness.harness, 'reset')
        node = self.deploy(node)
        severity, event = self.verdicts(node)[-1]
        self.assertEqual('ERROR', severity)
        self.assertIn('Keylime attestation FAIL', event)
        self.assertIn('not_in_allowlist', event)
        self.assertIn('goes on', event)
        self.assertVerifierHasNoAgent()


class TPMIndexTestCase(functional_base.IronicTestCase):
    """The EK pin's index tag follows "baremetal node set/unset"."""

    def _tags(self):
        with sqlite3.connect(os.path.join(self.workdir,
                                          'ironic.sqlite')) as db:
            return db.execute('SELECT n.uuid, t.tag FROM node_tags t JOIN '
                              'nodes n ON n.id = t.node_id').fetchall()

    def test_pin_set_and_unset_through_the_api(self):
        node = self.keylime_node('pinned')
        self.assertEqual([], self._tags())
        pin = 'AB' * 32
        self.ironic.baremetal('node', 'set', node.id, '--driver-info',
                              'keylime_ek_sha256=%s' % pin)
        self.assertEqual([(node.id, 'keylime-ek-sha256:' + pin.lower())],
                         self._tags())
        self.ironic.baremetal('node', 'unset', node.id, '--driver-info',
                              'keylime_ek_sha256')
        self.assertEqual([], self._tags())
