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

"""ironic-keylime on an Ironic carrying the native attestation interface.

The Ironic 39.0.0 and python-ironicclient 6.3.0 of PyPI with the patches
of ``contrib/ironic-native``, built by ``tools/ironic-native/build.sh``
(see :mod:`native_env`), started with Ironic's own commands on 127.0.0.1
(sqlite, noauth, fake-hardware): the database is the released Ironic's,
upgraded by the patched ``ironic-dbsync upgrade``. The operators' commands
are the patched clients' ``openstack`` and ``baremetal``; the verdicts
come from the real Keylime of the harness, as in test_ironic_real.
"""

import json
import os
import shutil
import subprocess
import tempfile

import requests
import testtools
from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file
from ironic_keylime.harness import services
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import native_env

TIMEOUT = functional_base.TIMEOUT
#: Ironic's refusal of an interface name that is not enabled.
NOT_FOUND = ("Could not find the following interface in the "
             "'ironic.hardware.interfaces.attestation' entrypoint: %s. "
             "Valid interfaces are")
#: Ironic's refusal of a request no conductor can take.
NO_CONDUCTOR = ('No conductor service registered which supports driver '
                'fake-hardware for conductor group "attested"')


def _keylime_args(ironic, lists):
    """--driver-info arguments naming the harness's Keylime and lists.

    Without ``attestation_interface``: the node field selects it.
    """
    args = []
    for key, value in sorted(ironic.keylime_driver_info(lists).items()):
        if key != 'attestation_interface':
            args += ['--driver-info', '%s=%s' % (key, value)]
    return args


class NativeTestCase(functional_base.IronicTestCase):
    """One all-in-one native Ironic per test class."""

    @classmethod
    def setUpClass(cls):
        # Not IronicTestCase's: this one starts the native Ironic.
        super(functional_base.IronicTestCase, cls).setUpClass()
        cls.keylime = ironic_env.keylime_env()
        cls.workdir = tempfile.mkdtemp(prefix='ik-native-')
        cls.ironic = native_env.NativeIronicEnv(cls.workdir, cls.keylime,
                                                cls.overrides)
        cls.ironic.start()
        cls.lists = keylime_env_file.write_lists(
            os.path.join(cls.workdir, 'lists'), cls.keylime)

    def osc(self, *args, check=True):
        """``openstack baremetal ARGS`` of the patched client."""
        return self.ironic.openstack('baremetal', *args, check=check)

    def osc_json(self, *args):
        return json.loads(self.osc(*(list(args) + ['-f', 'json'])).stdout)

    def create(self, prefix, *args):
        """``openstack baremetal node create``; the node is manageable."""
        node = self.osc_json('node', 'create', '--driver', 'fake-hardware',
                             '--name', self.name(prefix), *args)
        self.ironic.provision(node['uuid'], 'manage', 'manageable')
        return node

    def field(self, node):
        return self.osc_json('node', 'show', node)['attestation_interface']


class NodeFieldTestCase(NativeTestCase):
    """The attestation_interface node field, through the patched clients."""

    overrides = {'conductor': {'automated_clean': 'false'}}

    def test_set_and_show(self):
        node = self.create('field')['uuid']
        self.assertEqual('no-attestation', self.field(node))

        # The operators' command, as written.
        self.osc('node', 'set', node, '--attestation-interface', 'keylime')
        self.assertEqual('keylime', self.field(node))
        # The node field, not driver_info (the CLI hooks stepped aside).
        self.assertNotIn('attestation_interface',
                         self.ironic.conn.baremetal.get_node(node)
                         .driver_info)
        listed = {n['uuid']: n for n in
                  self.osc_json('node', 'list', '--long')}
        self.assertEqual('keylime', listed[node]['attestation_interface'])
        self.assertEqual(
            [{'uuid': node, 'attestation_interface': 'keylime'}],
            [row for row in json.loads(self.ironic.baremetal(
                'node', 'list', '--fields', 'uuid', 'attestation_interface',
                '-f', 'json').stdout) if row['uuid'] == node])

        # An older microversion neither shows nor changes it.
        old = json.loads(self.ironic.openstack(
            '--os-baremetal-api-version', '1.115', 'baremetal', 'node',
            'show', node, '-f', 'json').stdout)
        self.assertEqual(node, old['uuid'])
        self.assertNotIn('attestation_interface', old)
        resp = requests.patch(
            self.ironic.url + '/v1/nodes/%s' % node, timeout=30,
            json=[{'op': 'replace', 'path': '/attestation_interface',
                   'value': 'no-attestation'}],
            headers={'X-OpenStack-Ironic-API-Version': '1.115'})
        self.assertEqual(406, resp.status_code, resp.text)
        self.assertEqual('keylime', self.field(node))

        # Reset and unset give the default back.
        self.osc('node', 'set', node, '--reset-attestation-interface')
        self.assertEqual('no-attestation', self.field(node))
        self.osc('node', 'set', node, '--attestation-interface', 'keylime')
        self.osc('node', 'unset', node, '--attestation-interface')
        self.assertEqual('no-attestation', self.field(node))

        driver = self.osc_json('driver', 'show', 'fake-hardware')
        self.assertEqual('no-attestation',
                         driver['default_attestation_interface'])
        self.assertEqual(['keylime', 'no-attestation'], sorted(
            i.strip() for i in
            driver['enabled_attestation_interfaces'].split(',')))

    def test_cli_hooks_step_aside(self):
        # Both clients side by side: the stock client of the test
        # virtualenv has the option through ironic-keylime's hooks (their
        # epilog says so); the patched client has its own, and the hooks
        # add nothing.
        marker = 'Provided by ironic-keylime'
        stock = ironic_env.IronicEnv.command
        for words in (['openstack', 'baremetal'], ['baremetal']):
            for command in ('create', 'set', 'unset'):
                args = words[1:] + ['node', command, '--help']
                patched = self.ironic.command(words[0], *args).stdout
                self.assertNotIn(marker, patched)
                self.assertEqual(1, patched.count(
                    '\n  --attestation-interface'), patched)
                self.assertIn(marker, stock(self.ironic, words[0],
                                            *args).stdout)

    def test_registration_layer_steps_aside(self):
        # In the native virtualenv, as ironic-attest* would call it.
        script = (
            'import ironic.command  # noqa\n'
            'from ironic.drivers import base\n'
            'from ironic_keylime.drivers.modules import noop\n'
            'from ironic.drivers.modules import noop as ironic_noop\n'
            'from ironic_keylime import ironic_integration as ii\n'
            'print(ii.has_native_support(),\n'
            '      ii.register_attestation_interface_type(),\n'
            '      base.BareDriver().optional_interfaces.count(\n'
            '          "attestation"),\n'
            '      noop.NoAttestation is ironic_noop.NoAttestation)\n')
        result = subprocess.run(
            [os.path.join(self.ironic.bin_dir, 'python'), '-c', script],
            capture_output=True, text=True, check=True, timeout=60)
        self.assertEqual('True False 1 True', result.stdout.strip())

    def test_unknown_or_disabled_name_refused(self):
        node = self.create('refused')['uuid']
        self.osc('node', 'set', node, '--attestation-interface', 'keylime')
        # Unknown, and installed but not enabled (Ironic's fake one).
        for name in ('keylimee', 'fake'):
            result = self.osc('node', 'set', node, '--attestation-interface',
                              name, check=False)
            self.assertNotEqual(0, result.returncode)
            self.assertIn(NOT_FOUND % name, result.stderr)
            self.assertIn('(HTTP 400)', result.stderr)
            self.assertEqual('keylime', self.field(node))
        name = self.name('refused')
        result = self.osc('node', 'create', '--driver', 'fake-hardware',
                          '--name', name, '--attestation-interface',
                          'keylimee', check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(NOT_FOUND % 'keylimee', result.stderr)
        self.assertEqual(404, self.ironic.api('GET', '/nodes/' + name)
                         .status_code)

    def test_deploy_and_clean_attested(self):
        # driver_info and instance_info say otherwise: the node field wins.
        node = self.create('attested', '--attestation-interface', 'keylime',
                           '--driver-info',
                           'attestation_interface=no-attestation',
                           *_keylime_args(self.ironic, self.lists))
        validation = {row['Interface']: row for row in
                      self.ironic.baremetal_json('node', 'validate',
                                                 node['uuid'])}
        self.assertTrue(validation['attestation']['Result'],
                        validation['attestation'])
        node = self.provide(self.ironic.conn.baremetal.get_node(
            node['uuid']))
        # instance_info (the lessee's) cannot skip the attestation.
        self.ironic.baremetal('node', 'set', node.id, '--instance-info',
                              'attestation_interface=no-attestation')
        node = self.deploy(node)
        self.assertAllPassed(node, 1)
        # The steps tables of the patch: a manual clean step of the
        # attestation interface is accepted and runs.
        self.ironic.provision(node.id, 'deleted', 'available',
                              timeout=TIMEOUT)
        self.ironic.provision(node.id, 'manage', 'manageable')
        self.ironic.baremetal(
            'node', 'clean', node.id, '--wait', str(TIMEOUT),
            '--clean-steps',
            '[{"interface": "attestation", "step": "attest"}]')
        node = self.ironic.wait_state(node.id, 'manageable')
        self.assertAllPassed(node, 2)

    def test_tampered_deploy_fails(self):
        node = self.create('tampered', '--attestation-interface', 'keylime',
                           *_keylime_args(self.ironic, self.lists))
        node = self.provide(self.ironic.conn.baremetal.get_node(
            node['uuid']))
        keylime_env.harness('tamper', '/usr/bin/evil')
        self.addCleanup(keylime_env.harness, 'reset')
        node = self.deploy(node, expected='deploy failed')
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        self.assertIn('not_in_allowlist', error)
        self.assertVerifierHasNoAgent()

    def test_field_wins_over_driver_info(self):
        # The field says no-attestation, driver_info says keylime: the
        # node is not attested (the keylime step never runs).
        node = self.create('not-attested', '--attestation-interface',
                           'no-attestation', '--driver-info',
                           'attestation_interface=keylime',
                           *_keylime_args(self.ironic, self.lists))
        node = self.provide(self.ironic.conn.baremetal.get_node(
            node['uuid']))
        node = self.deploy(node)
        self.assertEqual([], self.ironic.attestation_events(node.id))
        self.assertEqual('no-attestation', self.field(node.id))


class UpgradeTestCase(testtools.TestCase):
    """ironic-dbsync upgrade of a database of the released Ironic 39.0.0."""

    def setUp(self):
        super().setUp()
        self.keylime = ironic_env.keylime_env()
        self.workdir = tempfile.mkdtemp(prefix='ik-native-upgrade-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.database = os.path.join(self.workdir, 'released.sqlite')

    def _released_nodes(self, conf_file):
        """Create nodes with the released Ironic's objects."""
        return native_env.released_python(
            'import json, sys\n'
            'import ironic.command  # noqa\n'
            'from ironic.conf import CONF\n'
            'CONF(["--config-file", sys.argv[1]], project="ironic")\n'
            'from ironic.common import context\n'
            'from ironic import objects\n'
            'objects.register_all()\n'
            'ctx = context.get_admin_context()\n'
            'nodes = {}\n'
            'for name in ("old-1", "old-2"):\n'
            '    node = objects.Node(ctx, name=name, driver="fake-hardware",\n'
            '                        driver_info={"kept": name},\n'
            '                        deploy_interface="fake",\n'
            '                        provision_state="manageable")\n'
            '    node.create()\n'
            '    nodes[name] = node.uuid\n'
            'print(json.dumps(nodes))\n', conf_file).stdout

    def test_existing_nodes_kept_without_interface(self):
        ironic = native_env.NativeIronicEnv(
            self.workdir, self.keylime,
            {'conductor': {'automated_clean': 'false'}},
            database=self.database)
        ironic._write_config()
        native_env.create_released_schema(ironic.conf_file)
        nodes = json.loads(self._released_nodes(ironic.conf_file)
                           .splitlines()[-1])
        version = services.dbsync(ironic.bin_dir, ironic.conf_file,
                                  'version')
        self.assertEqual('9fb44677ef15', version.strip().splitlines()[-1])

        ironic.start()  # runs the patched ironic-dbsync upgrade
        self.addCleanup(ironic.stop)
        self.addOnException(lambda exc_info: self.addDetail(
            'ironic-log', content.text_content(ironic.log_tail(200))))
        version = services.dbsync(ironic.bin_dir, ironic.conf_file,
                                  'version')
        self.assertEqual('b4c2a7e1d3f9', version.strip().splitlines()[-1])

        for name, uuid in nodes.items():
            node = ironic.api('GET', '/nodes/%s' % uuid).json()
            self.assertEqual(name, node['name'])
            self.assertEqual({'kept': name}, node['driver_info'])
            self.assertEqual('manageable', node['provision_state'])
            self.assertIn('attestation_interface', node)
            self.assertIsNone(node['attestation_interface'])
        # The conductor gives them the default, and they deploy
        # unattested as before.
        uuid = nodes['old-1']
        ironic.provision(uuid, 'provide', 'available')
        node = ironic.provision(uuid, 'active', 'active')
        self.assertEqual('no-attestation', ironic.api(
            'GET', '/nodes/%s' % uuid).json()['attestation_interface'])
        self.assertEqual([], ironic.attestation_events(node.id))


class TwoConductorsTestCase(testtools.TestCase):
    """Conductors with and without keylime, one database, JSON-RPC.

    Ironic's hash ring maps a node to the conductors of its hardware type
    and conductor group, not of its interfaces: conductor "a" (keylime
    enabled) serves the conductor group "attested", conductor "b" (no
    keylime) the default group. Neither deploys a keylime node
    unattested: "b" refuses it, and with "a" stopped nobody takes it.
    """

    def setUp(self):
        super().setUp()
        keylime = ironic_env.keylime_env()
        self.workdir = tempfile.mkdtemp(prefix='ik-native-cluster-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.ironic = native_env.Cluster(self.workdir, keylime, {
            'a': {'conductor': {'conductor_group': 'attested',
                                'automated_clean': 'false'}},
            'b': {'DEFAULT': {
                'enabled_attestation_interfaces': 'no-attestation'},
                'conductor': {'automated_clean': 'false'}},
        })
        self.addOnException(lambda exc_info: self.addDetail(
            'ironic-logs', content.text_content(self.ironic.log_tail())))
        self.ironic.start()
        self.addCleanup(self.ironic.stop)
        # Borrow the node helpers of the all-in-one environment.
        self.env = native_env.NativeIronicEnv(
            os.path.join(self.workdir, 'client'), keylime)
        self.env.url = self.ironic.url
        self.lists = keylime_env_file.write_lists(
            os.path.join(self.workdir, 'lists'), keylime)

    def osc_json(self, *args):
        return json.loads(self.ironic.command(
            'openstack', 'baremetal', *(list(args) + ['-f', 'json'])).stdout)

    def create(self, name, *args):
        node = self.osc_json('node', 'create', '--driver', 'fake-hardware',
                             '--name', name, '--conductor-group',
                             'attested', *args)
        self.env.provision(node['uuid'], 'manage', 'manageable')
        return self.env.provision(node['uuid'], 'provide', 'available')

    def deploy_refused(self, node, message):
        result = self.ironic.command('openstack', 'baremetal', 'node',
                                     'deploy', node, check=False)
        self.assertNotEqual(0, result.returncode, result.stdout)
        self.assertIn(message, result.stderr)
        node = self.env.conn.baremetal.get_node(node)
        self.assertEqual('available', node.provision_state)
        self.assertIsNone(node.target_provision_state)
        self.assertEqual([], self.env.attestation_events(node.id))

    def test_keylime_node_never_deployed_unattested(self):
        a, b = self.ironic.hosts['a'], self.ironic.hosts['b']
        keylime = _keylime_args(self.env, self.lists)
        mapped = self.create('mapped', '--attestation-interface', 'keylime',
                             *keylime)
        moved = self.create('moved', '--attestation-interface', 'keylime',
                            *keylime)
        plain = self.create('plain')
        self.assertEqual(a, self.osc_json('node', 'show', mapped.id)
                         ['conductor'])

        # Moved to the default group, the node maps to "b", which does
        # not have keylime enabled: it refuses to act on it.
        for node in (moved, plain):
            # The client cannot set an empty group (nor unset it).
            resp = requests.patch(
                self.ironic.url + '/v1/nodes/%s' % node.id, timeout=30,
                json=[{'op': 'replace', 'path': '/conductor_group',
                       'value': ''}],
                headers={'X-OpenStack-Ironic-API-Version':
                         native_env.NATIVE_VERSION})
            self.assertEqual(200, resp.status_code, resp.text)
            self.assertEqual(b, self.osc_json('node', 'show', node.id)
                             ['conductor'])
        self.deploy_refused(moved.id, NOT_FOUND % 'keylime')
        # "b" itself works: a node without attestation deploys.
        self.env.provision(plain.id, 'active', 'active')

        # With "a" stopped, the keylime node of its group waits. With
        # sqlite, the API keeps its hash ring (Ironic assumes one
        # conductor) and still sends the request to "a", which is gone;
        # an API that builds its ring again finds no conductor.
        self.ironic.stop('a')
        self.ironic.wait_conductors([b])
        self.deploy_refused(mapped.id, 'Unable to establish connection to '
                            'http://%s' % a)
        self.ironic.restart('api')
        self.deploy_refused(mapped.id, NO_CONDUCTOR)
