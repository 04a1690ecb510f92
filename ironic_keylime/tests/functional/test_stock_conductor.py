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

"""An attested node is not run by a stock ironic-conductor.

A real cluster on 127.0.0.1 (:mod:`.cluster_env`): ``ironic-attest-api``
in front of Ironic 39's own ``ironic-conductor``, one sqlite database,
JSON-RPC. The stock conductor does not know the attestation interface
type and registers no ``attestation`` interface: the API refuses to have
it deploy, provide or clean a node that selects ``keylime``, and refuses a
deployment whose deploy steps disable the ``attest`` step, while nodes
without attestation go through as usual.
"""

import shutil
import tempfile
import uuid

import testtools
from testtools import content

from ironic_keylime.tests.functional import cluster_env
from ironic_keylime.tests import utils

KEYLIME = utils.get_test_keylime_info(attestation_interface='keylime')


class StockConductorTestCase(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix='ik-cluster-')
        cls.cluster = cluster_env.StockConductorCluster(cls.workdir)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(lambda exc_info: self.addDetail(
            'ironic-logs', content.text_content(
                self.cluster.log_tail(200))))

    def _node(self, driver_info=None, target='manageable'):
        node = self.cluster.create_node('n-%s' % uuid.uuid4().hex[:8],
                                        driver_info)
        if target == 'available':
            node = self.cluster.provision(node.id, 'provide', 'available')
        return node

    def _provision(self, node, body):
        return self.cluster.api('PUT', '/nodes/%s/states/provision' % node.id,
                                json=body)

    def _refused(self, node, body, status):
        resp = self._provision(node, body)
        self.assertEqual(status, resp.status_code, resp.text)
        return resp.json()['error_message']

    def test_stock_conductor_registers_no_attestation_interface(self):
        rows = self.cluster.conductor_interfaces()
        host = self.cluster.conductor_hostname
        self.assertIn((host, 'fake-hardware', 'deploy', 'fake'), rows)
        self.assertEqual(
            [], [r for r in rows if r[2] == 'attestation'])

    def test_provide_refused(self):
        node = self._node(KEYLIME)
        message = self._refused(node, {'target': 'provide'}, 409)
        self.assertIn('Refusing to provide node %s: the conductor that '
                      'manages it, %s, has not registered the attestation '
                      'interface keylime' % (node.id,
                                             self.cluster.conductor_hostname),
                      message)
        self.assertEqual('manageable', self.cluster.conn.baremetal.get_node(
            node.id).provision_state)

    def test_undeploy_refused(self):
        # Deployed while no-attestation, then selected keylime: the stock
        # conductor would clean it without attestation on its way out.
        node = self._node(target='available')
        node = self.cluster.provision(node.id, 'active', 'active')
        self.cluster.conn.baremetal.update_node(node.id, driver_info=KEYLIME)
        message = self._refused(node, {'target': 'deleted'}, 409)
        self.assertIn('Refusing to undeploy node %s' % node.id, message)
        self.assertEqual('active', self.cluster.conn.baremetal.get_node(
            node.id).provision_state)

    def test_clean_refused(self):
        node = self._node(KEYLIME)
        message = self._refused(node, {
            'target': 'clean',
            'clean_steps': [{'interface': 'deploy',
                             'step': 'erase_devices_metadata'}]}, 409)
        self.assertIn('Refusing to clean node', message)

    def test_deploy_refused(self):
        # Made available before the operator selects keylime: a stock
        # conductor stores the setting without knowing it.
        node = self._node(target='available')
        self.cluster.conn.baremetal.update_node(
            node.id, driver_info=KEYLIME)
        message = self._refused(node, {'target': 'active'}, 409)
        self.assertIn('Refusing to deploy node', message)
        node = self.cluster.conn.baremetal.get_node(node.id)
        self.assertEqual('available', node.provision_state)
        self.assertIsNone(node.target_provision_state)

    def test_deploy_steps_disabling_attest_refused(self):
        node = self._node(target='available')
        self.cluster.conn.baremetal.update_node(
            node.id, driver_info=KEYLIME)
        message = self._refused(node, {
            'target': 'active',
            'deploy_steps': [{'interface': 'attestation', 'step': 'attest',
                              'args': {}, 'priority': 0}]}, 400)
        self.assertIn('The deploy step attestation.attest of node %s '
                      'cannot be skipped' % node.id, message)

    def test_instance_info_turning_attestation_off_refused(self):
        node = self._node(KEYLIME)
        resp = self.cluster.api(
            'PATCH', '/nodes/%s' % node.id,
            json=[{'op': 'add',
                   'path': '/instance_info/attestation_interface',
                   'value': 'no-attestation'}])
        self.assertEqual(400, resp.status_code, resp.text)
        self.assertIn('not turn attestation off',
                      resp.json()['error_message'])

    def test_node_without_attestation_deploys(self):
        node = self._node(target='available')
        self.cluster.provision(node.id, 'active', 'active')


class ConductorsDefaultTestCase(testtools.TestCase):
    """The default is the conductors', not the API's.

    ``ironic-attest-api`` keeps ``[DEFAULT]default_attestation_interface``
    unset (no-attestation); next to the stock conductor runs an
    ``ironic-attest-conductor`` whose default is ``keylime``. A node that
    selects nothing is attested by the latter, so the stock conductor is
    not let to provide it.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix='ik-cluster-')
        cls.cluster = cluster_env.StockConductorCluster(
            cls.workdir, attest_default='keylime')
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(lambda exc_info: self.addDetail(
            'ironic-logs', content.text_content(
                self.cluster.log_tail(200))))

    def _node_of(self, hostname):
        """A manageable node without attestation setting, of a conductor."""
        for _ in range(40):
            node = self.cluster.create_node('n-%s' % uuid.uuid4().hex[:8])
            owner = self.cluster.api('GET', '/nodes/%s' % node.id).json()[
                'conductor']
            if owner == hostname:
                return node
        self.fail('no node was mapped to %s' % hostname)

    def test_conductors_register_their_default(self):
        rows = self.cluster.conductor_interfaces(default=True)
        self.assertEqual(
            {(self.cluster.attest_conductor_hostname, 'fake-hardware',
              'attestation', 'keylime', 1),
             (self.cluster.attest_conductor_hostname, 'fake-hardware',
              'attestation', 'no-attestation', 0)},
            {r for r in rows if r[2] == 'attestation'})

    def test_node_of_the_stock_conductor_refused(self):
        node = self._node_of(self.cluster.conductor_hostname)
        resp = self.cluster.api('PUT', '/nodes/%s/states/provision' % node.id,
                                json={'target': 'provide'})
        self.assertEqual(409, resp.status_code, resp.text)
        self.assertIn('Refusing to provide node %s: the conductor that '
                      'manages it, %s, has not registered the attestation '
                      'interface keylime' % (node.id,
                                             self.cluster.conductor_hostname),
                      resp.json()['error_message'])
        self.assertEqual('manageable', self.cluster.conn.baremetal.get_node(
            node.id).provision_state)

    def test_node_of_the_attesting_conductor_goes_through(self):
        node = self._node_of(self.cluster.attest_conductor_hostname)
        resp = self.cluster.api('PUT', '/nodes/%s/states/provision' % node.id,
                                json={'target': 'provide'})
        self.assertEqual(202, resp.status_code, resp.text)
