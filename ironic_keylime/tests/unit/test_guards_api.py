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

"""The API refuses requests that would skip a node's attestation.

Ironic's own API application (its API test helpers, its sqlite test
database, its hash ring built from the conductors registered there): a
deployment, provide or clean of an attested node is refused when the
conductor that owns the node did not register the node's attestation
interface (a stock ironic-conductor), and a request that turns the
node's attestation off is refused before any conductor sees it.
"""

from ironic_keylime.tests import base  # noqa: F401,I100  (must come first)

import json
from unittest import mock

from ironic.api.controllers.v1 import versions
from ironic.common import driver_factory
from ironic.common import hash_ring
from ironic.common import states
from ironic.conductor import rpcapi
from ironic.drivers import fake_hardware
from ironic import objects
from ironic.tests.unit.api import base as api_base
from ironic.tests.unit.objects import utils as obj_utils

from ironic_keylime.tests import utils

KEYLIME = utils.get_test_keylime_info(attestation_interface='keylime')
ATTEST = {'interface': 'attestation', 'step': 'attest', 'args': {}}
HEADERS = {'X-OpenStack-Ironic-API-Version': versions.max_version_string()}


class GuardedApiTestCase(api_base.BaseApiTest):

    #: The hostname of the one conductor of the test's cluster.
    conductor = 'stock-conductor'
    #: Whether it registered the attestation interfaces.
    attests = False

    def setUp(self):
        super().setUp()
        self.config(enabled_attestation_interfaces=['no-attestation',
                                                    'keylime'])
        self._register_conductor()
        # The hash ring is cached per process: rebuild it from this
        # test's conductors.
        self.patch(hash_ring.HashRingManager, '_hash_rings', (None, 0))
        # The RPC transport cannot reach a conductor in a unit test: the
        # request stops at the client's prepared call, which records it.
        p = mock.patch.object(rpcapi.ConductorAPI, '_prepare_call',
                              autospec=True)
        self.mock_prepare = p.start()
        self.addCleanup(p.stop)
        self.calls = self.mock_prepare.return_value.call

    def _register_conductor(self):
        """Register a conductor with the rows Ironic's conductor writes.

        The rows come from Ironic's own driver_factory in this process
        (with the attestation type); a stock conductor writes the same
        rows without the attestation ones (the functional test
        test_stock_conductor reads them from a real one).
        """
        conductor = self.dbapi.register_conductor(
            {'hostname': self.conductor, 'drivers': [],
             'conductor_group': '',
             'version': objects.Conductor.VERSION})
        hw_type = fake_hardware.FakeHardware()
        rows = []
        for iface_type, names in driver_factory.enabled_supported_interfaces(
                hw_type).items():
            if iface_type == 'attestation' and not self.attests:
                continue
            default = driver_factory.default_interface(hw_type, iface_type)
            rows.extend({'hardware_type': 'fake-hardware',
                         'interface_type': iface_type,
                         'interface_name': name,
                         'default': name == default} for name in names)
        self.dbapi.register_conductor_hardware_interfaces(conductor.id, rows)

    def _node(self, driver_info=KEYLIME, state=states.AVAILABLE, **kw):
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware', driver_info=driver_info,
            provision_state=state, **kw)

    def _provision(self, node, body, status):
        resp = self.put_json('/nodes/%s/states/provision' % node.uuid, body,
                             headers=HEADERS, expect_errors=status >= 400)
        self.assertEqual(status, resp.status_int, resp.body)
        if status >= 400:
            return json.loads(resp.json['error_message'])['faultstring']

    def _sent(self):
        return [c[0][1] for c in self.calls.call_args_list]


class StockConductorTestCase(GuardedApiTestCase):
    """The node's conductor is a stock ironic-conductor."""

    def test_deploy_refused(self):
        node = self._node()
        message = self._provision(node, {'target': 'active'}, 409)
        self.assertIn('Refusing to deploy node %s: the conductor that '
                      'manages it, stock-conductor, has not registered the '
                      'attestation interface keylime for hardware type '
                      'fake-hardware' % node.uuid, message)
        self.assertIn('ironic-attest-conductor', message)
        self.assertEqual([], self._sent())

    def test_rebuild_refused(self):
        node = self._node(state=states.ACTIVE)
        message = self._provision(node, {'target': 'rebuild'}, 409)
        self.assertIn('Refusing to rebuild node', message)
        self.assertEqual([], self._sent())

    def test_provide_refused(self):
        node = self._node(state=states.MANAGEABLE)
        message = self._provision(node, {'target': 'provide'}, 409)
        self.assertIn('Refusing to provide node', message)
        self.assertEqual([], self._sent())

    def test_clean_refused(self):
        node = self._node(state=states.MANAGEABLE)
        message = self._provision(
            node, {'target': 'clean',
                   'clean_steps': [{'interface': 'deploy',
                                    'step': 'erase_devices'}]}, 409)
        self.assertIn('Refusing to clean node', message)
        self.assertEqual([], self._sent())

    def test_instance_info_selecting_keylime_refused(self):
        node = self._node(driver_info={},
                          instance_info={'attestation_interface': 'keylime'})
        self._provision(node, {'target': 'active'}, 409)

    def test_default_keylime_refused(self):
        self.config(default_attestation_interface='keylime')
        node = self._node(driver_info={})
        self._provision(node, {'target': 'active'}, 409)

    def test_node_without_attestation_goes_through(self):
        node = self._node(driver_info={})
        self._provision(node, {'target': 'active'}, 202)
        node = self._node(driver_info={}, state=states.MANAGEABLE,
                          uuid='8c34fe14-3e51-4e56-9b3f-b9b3fe1bd6b4')
        self._provision(node, {'target': 'provide'}, 202)
        self.assertEqual(['do_node_deploy', 'do_provisioning_action'],
                         self._sent())

    def test_other_actions_go_through(self):
        # Tearing down and managing do not attest.
        node = self._node(state=states.ACTIVE)
        self._provision(node, {'target': 'deleted'}, 202)
        self.assertEqual(['do_node_tear_down'], self._sent())


class AttestConductorTestCase(GuardedApiTestCase):
    """The node's conductor is an ironic-attest-conductor."""

    conductor = 'attest-conductor'
    attests = True

    def test_deploy_goes_through(self):
        node = self._node()
        self._provision(node, {'target': 'active'}, 202)
        self.assertEqual(['do_node_deploy'], self._sent())

    def test_provide_and_clean_go_through(self):
        node = self._node(state=states.MANAGEABLE)
        self._provision(node, {'target': 'provide'}, 202)
        self._provision(node, {'target': 'clean', 'clean_steps': [
            {'interface': 'deploy', 'step': 'erase_devices'}]}, 202)
        self.assertEqual(['do_provisioning_action', 'do_node_clean'],
                         self._sent())

    def test_keylime_disabled_on_conductor_refused(self):
        # A conductor without keylime enabled registered no-attestation
        # only: it cannot attest either.
        self.dbapi.unregister_conductor_hardware_interfaces(
            self.dbapi.get_conductor(self.conductor).id)
        self.attests = False
        self.dbapi.unregister_conductor(self.conductor)
        self._register_conductor()
        node = self._node()
        self._provision(node, {'target': 'active'}, 409)

    def test_user_step_priority_0_refused(self):
        node = self._node()
        message = self._provision(node, {
            'target': 'active',
            'deploy_steps': [dict(ATTEST, priority=0)]}, 400)
        self.assertIn('The deploy step attestation.attest of node %s '
                      'cannot be skipped: the deploy_steps of the request '
                      'set its priority to 0' % node.uuid, message)
        self.assertEqual([], self._sent())

    def test_user_step_priority_0_allowed_by_operator(self):
        self.config(allow_user_step_override=True, group='keylime')
        node = self._node()
        self._provision(node, {'target': 'active', 'deploy_steps': [
            dict(ATTEST, priority=0)]}, 202)
        self.assertEqual(['do_node_deploy'], self._sent())

    def test_deploy_template_priority_0_refused(self):
        obj_utils.create_test_deploy_template(
            self.context, name='CUSTOM_NO_ATTEST',
            steps=[dict(ATTEST, priority=0)])
        node = self._node(instance_info={'traits': ['CUSTOM_NO_ATTEST']})
        message = self._provision(node, {'target': 'active'}, 400)
        self.assertIn('deploy template CUSTOM_NO_ATTEST', message)
        self.assertEqual([], self._sent())

    def test_request_step_wins_over_template(self):
        obj_utils.create_test_deploy_template(
            self.context, name='CUSTOM_NO_ATTEST',
            steps=[dict(ATTEST, priority=0)])
        node = self._node(instance_info={'traits': ['CUSTOM_NO_ATTEST']})
        self._provision(node, {'target': 'active', 'deploy_steps': [
            dict(ATTEST, priority=95)]}, 202)
        self.assertEqual(['do_node_deploy'], self._sent())

    def test_instance_info_turning_attestation_off_refused_at_deploy(self):
        node = self._node(
            instance_info={'attestation_interface': 'no-attestation'})
        message = self._provision(node, {'target': 'active'}, 400)
        self.assertIn('instance_info/attestation_interface=no-attestation',
                      message)
        self.assertEqual([], self._sent())

    def test_instance_info_turning_attestation_off_refused_on_update(self):
        node = self._node()
        resp = self.patch_json(
            '/nodes/%s' % node.uuid,
            [{'path': '/instance_info/attestation_interface',
              'value': 'no-attestation', 'op': 'add'}],
            headers=HEADERS, expect_errors=True)
        self.assertEqual(400, resp.status_int)
        self.assertIn('instance_info may select an attestation interface '
                      'for one deployment, not turn attestation off',
                      resp.json['error_message'])
        self.assertEqual([], self._sent())
