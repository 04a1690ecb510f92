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

"""The start-up check of the shape of Ironic's patched internals."""

from ironic_keylime.tests import base  # noqa: I100  (must come first)

from unittest import mock

import fixtures
from ironic.conductor import deployments
from ironic.conductor import rpcapi
from ironic.conductor import steps as conductor_steps
from ironic.drivers import base as driver_base

from ironic_keylime.cmd import attest
from ironic_keylime import ironic_integration
from ironic_keylime.ironic_integration import names
from ironic_keylime.ironic_integration import register
from ironic_keylime.ironic_integration import shape


class ShapeTestCase(base.DbTestCase):

    def test_installed_ironic_has_the_expected_shape(self):
        # Also after the patches of the registration (done for the whole
        # test run): they keep the signatures they wrap.
        self.assertEqual([], shape.find_shape_problems())
        self.assertEqual([], shape.find_shape_problems(late=True))

    def _register_again(self):
        self.patch(register, '_registered', False)
        return self.assertRaises(
            ironic_integration.IronicShapeError,
            ironic_integration.register_attestation_interface_type)

    def test_other_signature_refused_before_patching(self):
        def do_node_deploy(self, context, node_id, rebuild, topic=None):
            pass  # an Ironic where the RPC client takes other arguments

        self.patch(rpcapi.ConductorAPI, 'do_node_deploy', do_node_deploy)
        optional = driver_base.BareDriver.optional_interfaces
        e = self._register_again()
        message = str(e)
        self.assertIn('ironic.conductor.rpcapi.ConductorAPI.do_node_deploy '
                      'takes (self, context, node_id, rebuild, topic), '
                      'expected (self, context, node_id, rebuild, '
                      'configdrive, topic, deploy_steps)', message)
        self.assertIn('Ironic %s' % ironic_integration.ironic_version(),
                      message)
        self.assertIn('Refusing to start', message)
        # Nothing was patched.
        self.assertIs(optional, driver_base.BareDriver.optional_interfaces)
        self.assertIs(do_node_deploy, rpcapi.ConductorAPI.do_node_deploy)
        self.assertFalse(register._registered)

    def test_missing_internal_refused(self):
        self.useFixture(fixtures.MonkeyPatch(
            'ironic.conductor.steps.SERVICING_INTERFACE_PRIORITY',
            fixtures.MonkeyPatch.delete))
        e = self._register_again()
        self.assertIn('ironic.conductor.steps.SERVICING_INTERFACE_PRIORITY '
                      'is missing', str(e))

    def test_object_of_another_kind_refused(self):
        self.patch(conductor_steps, 'DEPLOYING_INTERFACE_PRIORITY',
                   list(conductor_steps.DEPLOYING_INTERFACE_PRIORITY))
        e = self._register_again()
        self.assertIn('ironic.conductor.steps.DEPLOYING_INTERFACE_PRIORITY '
                      'is a list, expected a dict', str(e))

    def test_every_problem_named(self):
        self.patch(deployments, 'start_deploy', lambda task: None)
        self.patch(driver_base, 'ALL_INTERFACES', frozenset())
        problems = (shape.find_shape_problems()
                    + shape.find_shape_problems(late=True))
        self.assertEqual(2, len(problems), problems)
        self.assertIn('ironic.drivers.base.ALL_INTERFACES is a frozenset',
                      problems[0])
        self.assertIn('ironic.conductor.deployments.start_deploy takes '
                      '(task)', problems[1])

    def test_late_internal_checked(self):
        self.patch(deployments, 'start_deploy', lambda task, manager: None)
        e = self.assertRaises(ironic_integration.IronicShapeError,
                              shape.check_ironic_shape, late=True)
        self.assertIn('ironic.conductor.deployments.start_deploy', str(e))

    def test_conductor_manager_update_node_checked(self):
        class Manager(object):
            def update_node(self, context, node_obj):
                pass  # no reset_interfaces

        e = self.assertRaises(ironic_integration.IronicShapeError,
                              names.check_names_on_update, Manager)
        self.assertIn('Manager.update_node takes (self, context, '
                      'node_obj)', str(e))
        self.assertFalse(getattr(Manager.update_node, '_ironic_keylime',
                                 False))

    def test_commands_refuse_to_start(self):
        self.patch(rpcapi.ConductorAPI, 'do_provisioning_action',
                   lambda self, context, node_id: None)
        self.patch(register, '_registered', False)
        for main, module in ((attest.main_api, 'ironic.command.api'),
                             (attest.main_conductor,
                              'ironic.command.conductor'),
                             (attest.main_all_in_one,
                              'ironic.command.singleprocess')):
            # Starting a real service would never return; the services
            # must not be reached anyway.
            with mock.patch('%s.main' % module, autospec=True) as mock_main:
                e = self.assertRaises(SystemExit, main)
            self.assertFalse(mock_main.called)
            self.assertIn('ConductorAPI.do_provisioning_action takes',
                          str(e.code))
            self.assertIn('Refusing to start', str(e.code))
