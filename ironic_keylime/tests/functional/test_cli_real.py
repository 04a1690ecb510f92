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

"""The operators' own commands against a real Ironic.

``openstack baremetal node ... --attestation-interface`` (the stock
python-openstackclient) and ``baremetal node ... --attestation-interface``
(python-ironicclient's own shell), run as the executables of the test
virtualenv, where ironic-keylime is installed next to the clients: the
options come from its command hooks. The Ironic is a real, stock Ironic
39 started with ``ironic-attest`` (see test_ironic_real), the verdicts
come from the real Keylime of the harness.
"""

import json

from ironic_keylime.tests.functional import base as functional_base

TIMEOUT = functional_base.TIMEOUT
KEYLIME_MESSAGE = (
    "Could not find the following interface in the "
    "'ironic.hardware.interfaces.attestation' entrypoint: bogus. Valid "
    "interfaces are ['keylime', 'no-attestation'].")


class _CliTests(object):
    """The node commands of one client executable.

    A mixin: the test cases below run these tests with each client.
    """

    #: The executable and the words before "node".
    command = None

    def cli(self, *args, check=True):
        """Run the client's command with args.

        :returns: the CompletedProcess.
        """
        return self.ironic.command(*(self.command + list(args)),
                                   check=check)

    def cli_json(self, *args):
        result = self.cli(*(list(args) + ['-f', 'json']))
        return json.loads(result.stdout)

    def driver_info_args(self):
        """--driver-info arguments for the harness's Keylime.

        The keylime_* keys of a node the harness attests, without the
        attestation interface.
        """
        args = []
        for key, value in sorted(
                self.ironic.keylime_driver_info(self.lists).items()):
            if key != 'attestation_interface':
                args += ['--driver-info', '%s=%s' % (key, value)]
        return args

    def create(self, *args):
        """node create NAME, fake-hardware; returns the command's output."""
        return self.cli_json('node', 'create', '--driver', 'fake-hardware',
                             '--name', self.name('cli'), *args)

    def api_driver_info(self, node):
        """The node's driver_info, read with openstacksdk."""
        return self.ironic.conn.baremetal.get_node(node).driver_info

    def shown(self, node):
        """The attestation_interface row of node show."""
        return self.cli_json('node', 'show', node)['attestation_interface']

    def test_help(self):
        for words, texts in (
                (['node', 'set'], ['--attestation-interface',
                                   '--reset-attestation-interface',
                                   'Set the attestation interface']),
                (['node', 'create'], ['--attestation-interface',
                                      'Attestation interface used']),
                (['node', 'unset'], ['--attestation-interface',
                                     'Unset the attestation interface'])):
            result = self.cli(*(words + ['--help']))
            for text in texts:
                self.assertIn(text, result.stdout, words)
            self.assertIn('driver_info/attestation_interface',
                          result.stdout.replace('\n', ' '))

    def test_create_show_validate(self):
        created = self.create('--attestation-interface', 'keylime',
                              *self.driver_info_args())
        node = created['uuid']
        self.assertEqual('keylime', created['attestation_interface'])
        self.assertEqual('keylime',
                         self.api_driver_info(node)['attestation_interface'])
        self.assertEqual('keylime', self.shown(node))
        self.assertEqual(
            {'attestation_interface': 'keylime'},
            self.cli_json('node', 'show', node,
                          '--fields', 'attestation_interface'))
        rows = {row['uuid']: row
                for row in self.cli_json('node', 'list', '--long')}
        self.assertEqual('keylime', rows[node]['attestation_interface'])

        validation = {row['Interface']: row for row in
                      self.cli_json('node', 'validate', node)}
        self.assertTrue(validation['attestation']['Result'],
                        validation['attestation'])

    def test_validate_reports_bad_keylime_info(self):
        created = self.create('--attestation-interface', 'keylime',
                              '--driver-info', 'keylime_v=192.0.2.10')
        validation = {row['Interface']: row for row in
                      self.cli_json('node', 'validate', created['uuid'])}
        self.assertFalse(validation['attestation']['Result'])
        self.assertIn('keylime_r', validation['attestation']['Reason'])

    def test_set_unset_reset(self):
        node = self.create()['uuid']
        # The conductor's default.
        self.assertEqual('no-attestation', self.shown(node))
        self.assertNotIn('attestation_interface', self.api_driver_info(node))

        self.cli('node', 'set', node, '--attestation-interface',
                 'no-attestation')
        self.assertEqual('no-attestation',
                         self.api_driver_info(node)['attestation_interface'])

        self.cli('node', 'set', node, '--attestation-interface', 'keylime')
        self.assertEqual('keylime',
                         self.api_driver_info(node)['attestation_interface'])
        self.assertEqual('keylime', self.shown(node))

        result = self.cli('node', 'unset', node, '--attestation-interface')
        # The command did something: no "Please specify what to unset."
        self.assertNotIn('Please specify', result.stderr)
        self.assertNotIn('attestation_interface', self.api_driver_info(node))
        self.assertEqual('no-attestation', self.shown(node))
        # Unsetting what is not set works, as for the other interfaces.
        self.cli('node', 'unset', node, '--attestation-interface')

        self.cli('node', 'set', node, '--attestation-interface', 'keylime')
        result = self.cli('node', 'set', node,
                          '--reset-attestation-interface')
        self.assertNotIn('Please specify', result.stderr)
        self.assertNotIn('attestation_interface', self.api_driver_info(node))
        self.assertEqual('no-attestation', self.shown(node))
        # Resetting what is not set works too.
        self.cli('node', 'set', node, '--reset-attestation-interface')
        self.assertNotIn('attestation_interface', self.api_driver_info(node))

    def test_bogus_name_refused(self):
        node = self.create('--attestation-interface', 'keylime')['uuid']
        result = self.cli('node', 'set', node, '--attestation-interface',
                          'bogus', check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(KEYLIME_MESSAGE, result.stderr)
        self.assertIn('HTTP 400', result.stderr)
        self.assertEqual('keylime',
                         self.api_driver_info(node)['attestation_interface'])

        # The same kind of message as for Ironic's own interface types.
        result = self.cli('node', 'set', node, '--deploy-interface',
                          'bogus', check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn("'ironic.hardware.interfaces.deploy' entrypoint: "
                      "bogus. Valid interfaces are ['fake'].", result.stderr)

        name = self.name('bogus')
        result = self.cli('node', 'create', '--driver', 'fake-hardware',
                          '--name', name, '--attestation-interface', 'bogus',
                          check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(KEYLIME_MESSAGE, result.stderr)
        self.assertEqual(404, self.ironic.api('GET', '/nodes/' + name)
                         .status_code)

    def test_deploy_with_the_option_passes(self):
        # Everything through the command: the node is enrolled with the
        # keylime driver_info, then set to the keylime interface.
        node_id = self.create(*self.driver_info_args())['uuid']
        self.cli('node', 'set', node_id, '--attestation-interface',
                 'keylime')
        self.assertEqual('keylime', self.shown(node_id))
        self.cli('node', 'manage', node_id, '--wait', '60')

        # Automated cleaning runs the attest clean step.
        self.cli('node', 'provide', node_id, '--wait', str(TIMEOUT))
        node = self.ironic.wait_state(node_id, 'available')
        self.assertEqual(1, len(self.verdicts(node)))

        self.cli('node', 'deploy', node_id, '--wait', str(TIMEOUT))
        node = self.ironic.wait_state(node_id, 'active')
        self.assertAllPassed(node, 2)


class OpenStackCommandTestCase(_CliTests, functional_base.IronicTestCase):
    """``openstack baremetal node ...`` (python-openstackclient)."""

    command = ['openstack', 'baremetal']


class BaremetalCommandTestCase(_CliTests, functional_base.IronicTestCase):
    """``baremetal node ...`` (python-ironicclient's own shell)."""

    command = ['baremetal']
