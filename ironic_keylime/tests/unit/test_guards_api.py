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

from ironic.common import driver_factory
from ironic.common import states
from ironic.conductor import manager
from ironic.conductor import rpcapi
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.tests.unit import api_base

KEYLIME = api_base.KEYLIME
ATTEST = api_base.ATTEST
HEADERS = api_base.HEADERS


class StockConductorTestCase(api_base.GuardedApiTestCase):
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

    def test_undeploy_refused(self):
        # Tearing down runs automated cleaning, whose attest step a stock
        # conductor would skip.
        for target in ('deleted', 'undeploy'):
            node = self._node(state=states.ACTIVE,
                              uuid=uuidutils.generate_uuid())
            message = self._provision(node, {'target': target}, 409)
            self.assertIn('Refusing to undeploy node %s: the conductor '
                          'that manages it, stock-conductor, has not '
                          'registered the attestation interface keylime'
                          % node.uuid, message)
        self.assertEqual([], self._sent())

    def test_undeploy_without_attestation_goes_through(self):
        node = self._node(driver_info={}, state=states.ACTIVE)
        self._provision(node, {'target': 'deleted'}, 202)
        self.assertEqual(['do_node_tear_down'], self._sent())

    def test_other_actions_go_through(self):
        # Managing does not attest.
        node = self._node()
        self._provision(node, {'target': 'manage'}, 202)
        self.assertEqual(['do_provisioning_action'], self._sent())


class AttestConductorTestCase(api_base.GuardedApiTestCase):
    """The node's conductor is an ironic-attest-conductor."""

    conductor = 'attest-conductor'
    attests = True

    def test_deploy_goes_through(self):
        node = self._node()
        self._provision(node, {'target': 'active'}, 202)
        self.assertEqual(['do_node_deploy'], self._sent())

    def test_undeploy_goes_through(self):
        node = self._node(state=states.ACTIVE)
        self._provision(node, {'target': 'deleted'}, 202)
        self.assertEqual(['do_node_tear_down'], self._sent())

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
        self._register_conductor(self.conductor, False)
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


class ConductorsDefaultTestCase(api_base.GuardedApiTestCase):
    """The default comes from the node's conductors, not the API's options.

    This API process keeps its own [DEFAULT]default_attestation_interface
    (unset: no-attestation); the conductors registered theirs in Ironic's
    conductor hardware interfaces table.
    """

    conductor = 'stock-conductor'
    attests = False

    def _owned_by(self, hostname, **kw):
        """A node without an attestation setting, owned by ``hostname``."""
        api = rpcapi.ConductorAPI()
        for _ in range(64):
            node = self._node(driver_info={}, uuid=uuidutils.generate_uuid(),
                              **kw)
            if api.get_conductor_for(node) == hostname:
                return node
        self.fail('no node maps to %s' % hostname)

    def test_conductors_default_keylime_refused_on_stock_conductor(self):
        # The API's own default is no-attestation: the old guard let the
        # stock conductor provide the node, which the other conductor of
        # its group would have attested.
        self._register_conductor('attest-conductor', True, default='keylime')
        node = self._owned_by('stock-conductor', state=states.MANAGEABLE)
        message = self._provision(node, {'target': 'provide'}, 409)
        self.assertIn('Refusing to provide node %s: the conductor that '
                      'manages it, stock-conductor, has not registered the '
                      'attestation interface keylime' % node.uuid, message)
        self.assertEqual([], self._sent())

    def test_real_conductor_registers_its_default(self):
        # Ironic's own conductor registration (what a conductor runs at
        # start), in a process where the attestation type was added and
        # [DEFAULT]default_attestation_interface is keylime.
        self.config(default_attestation_interface='keylime')
        service = manager.ConductorManager('attest-conductor', 'test-topic')
        hardware_types = driver_factory.hardware_types()
        service.conductor = objects.Conductor.register(
            self.context, 'attest-conductor', list(hardware_types), '')
        service._register_and_validate_hardware_interfaces(hardware_types)
        rows = {(r.interface_name, r.default)
                for r in self.dbapi.list_hardware_type_interfaces(
                    ['fake-hardware'])
                if r.interface_type == 'attestation'}
        self.assertEqual({('keylime', True), ('no-attestation', False)},
                         rows)
        # This API process's own option is not what decides.
        self.config(default_attestation_interface=None)
        node = self._owned_by('stock-conductor', state=states.MANAGEABLE)
        message = self._provision(node, {'target': 'provide'}, 409)
        self.assertIn('has not registered the attestation interface keylime',
                      message)

    def test_conductors_default_keylime_on_attesting_owner(self):
        self._register_conductor('attest-conductor', True, default='keylime')
        node = self._owned_by('attest-conductor', state=states.MANAGEABLE)
        self._provision(node, {'target': 'provide'}, 202)
        self.assertEqual(['do_provisioning_action'], self._sent())

    def test_conductors_default_keylime_deploy_steps_checked(self):
        self._register_conductor('attest-conductor', True, default='keylime')
        node = self._owned_by('attest-conductor')
        message = self._provision(node, {
            'target': 'active',
            'deploy_steps': [dict(ATTEST, priority=0)]}, 400)
        self.assertIn('The deploy step attestation.attest of node %s '
                      'cannot be skipped' % node.uuid, message)
        self.assertEqual([], self._sent())

    def test_conductors_disagree_refused(self):
        self._register_conductor('attest-a', True, default='keylime')
        self._register_conductor('attest-b', True, default='no-attestation')
        node = self._owned_by('attest-b', state=states.MANAGEABLE)
        message = self._provision(node, {'target': 'provide'}, 409)
        self.assertIn('Refusing to provide node %s: it selects no '
                      'attestation interface' % node.uuid, message)
        self.assertIn('registered different defaults: keylime on '
                      'attest-a, no-attestation on attest-b', message)
        self.assertEqual([], self._sent())
        # A node that selects its interface does not depend on defaults.
        node = self._node(driver_info={'attestation_interface':
                                       'no-attestation'},
                          uuid=uuidutils.generate_uuid(),
                          state=states.MANAGEABLE)
        self._provision(node, {'target': 'provide'}, 202)

    def test_conductors_default_wins_over_api_option(self):
        # The API's own option says keylime; the conductors run
        # no-attestation by default, so the node is not attested
        # whichever of them runs it.
        self.config(default_attestation_interface='keylime')
        self._register_conductor('attest-conductor', True,
                                 default='no-attestation')
        node = self._owned_by('stock-conductor', state=states.MANAGEABLE)
        self._provision(node, {'target': 'provide'}, 202)
        self.assertEqual(['do_provisioning_action'], self._sent())

    def test_other_conductor_group_ignored(self):
        # A conductor of another group never runs the node.
        self._register_conductor('attest-conductor', True, default='keylime',
                                 group='other')
        node = self._owned_by('stock-conductor', state=states.MANAGEABLE)
        self._provision(node, {'target': 'provide'}, 202)
