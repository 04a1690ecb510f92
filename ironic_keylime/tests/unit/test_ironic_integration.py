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

"""The attestation interface type inside Ironic's own machinery.

Real nodes in Ironic's sqlite test database, real tasks, real driver
composition and step collection; the registration was done by
``ironic_keylime.tests.base`` at import, as ``ironic-attest`` does.
"""

from ironic_keylime.tests import base  # noqa: I100  (must come first)

from unittest import mock

from ironic.api.controllers.v1 import node as api_node
from ironic.api.controllers.v1 import utils as api_utils
from ironic.api import validation as api_validation
from ironic.common import driver_factory
from ironic.common import exception
from ironic.common import states
from ironic.conductor import deployments
from ironic.conductor import rpc_service
from ironic.conductor import steps as conductor_steps
from ironic.conductor import task_manager
from ironic.drivers import base as driver_base
from ironic.drivers import fake_hardware
from ironic.drivers import generic
from ironic.drivers import ipmi
from ironic.objects import node as node_obj
from ironic.tests.unit.objects import utils as obj_utils
import jsonschema
import oslo_messaging as messaging

from ironic_keylime.cmd import attest
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules import noop
from ironic_keylime import ironic_integration
from ironic_keylime.ironic_integration import register
from ironic_keylime.ironic_integration import version as ii_version
from ironic_keylime.tests import utils

KEYLIME_INFO = utils.get_test_keylime_info()
ATTEST = {'interface': 'attestation', 'step': 'attest'}


class RegistrationTestCase(base.DbTestCase):

    def test_idempotent(self):
        self.assertTrue(
            ironic_integration.register_attestation_interface_type())
        self.assertTrue(
            ironic_integration.register_attestation_interface_type())
        self.assertEqual(
            1, driver_base.BareDriver().optional_interfaces.count(
                'attestation'))

    def test_interface_type_known(self):
        bare = driver_base.BareDriver()
        self.assertIn('attestation', bare.optional_interfaces)
        self.assertIn('attestation', bare.non_vendor_interfaces)
        self.assertIsNone(bare.attestation)
        self.assertIn('attestation', driver_base.ALL_INTERFACES)
        self.assertEqual(
            'ironic.hardware.interfaces.attestation',
            driver_factory._INTERFACE_LOADERS['attestation']._entrypoint_name)
        # Ironic's stock types are untouched.
        self.assertEqual(
            ['bios', 'console', 'firmware', 'inspect', 'raid', 'rescue',
             'storage', 'attestation'], bare.optional_interfaces)

    def test_step_tables(self):
        for table in (conductor_steps.CLEANING_INTERFACE_PRIORITY,
                      conductor_steps.DEPLOYING_INTERFACE_PRIORITY,
                      conductor_steps.SERVICING_INTERFACE_PRIORITY,
                      conductor_steps.VERIFYING_INTERFACE_PRIORITY):
            self.assertIn('attestation', table)
            # Runs before any stock step of the same priority.
            self.assertGreater(table['attestation'], max(
                v for k, v in table.items() if k != 'attestation'))

    def test_api_step_schemas_accept_attestation(self):
        # The API copied the interface names when this module imported it.
        step = dict(ATTEST, args={}, priority=50)
        jsonschema.validate(step, api_utils.DEPLOY_STEP_SCHEMA)
        jsonschema.validate([ATTEST], api_node._STEPS_SCHEMA)
        jsonschema.validate(dict(ATTEST, order=1),
                            api_utils.RUNBOOK_STEP_SCHEMA)
        self.assertRaises(jsonschema.ValidationError, jsonschema.validate,
                          dict(step, interface='attestations'),
                          api_utils.DEPLOY_STEP_SCHEMA)

    def test_driver_api_schema_has_attestation_fields(self):
        from ironic.api.schemas.v1 import driver as driver_schema
        body = {'name': 'fake-hardware', 'hosts': ['h'], 'links': [],
                'properties': [], 'type': 'dynamic',
                'default_attestation_interface': 'no-attestation',
                'enabled_attestation_interfaces': ['no-attestation']}
        for name in ('show_response_body_v86', 'show_response_body_v40_85'):
            api_validation._schema_validator(
                getattr(driver_schema, name), body, None, None,
                is_body=True)

    def test_every_hardware_type_supports_attestation_interfaces(self):
        for hw_type in (fake_hardware.FakeHardware(),
                        generic.ManualManagementHardware(),
                        ipmi.IPMIHardware()):
            supported = hw_type.supported_attestation_interfaces
            self.assertEqual(noop.NoAttestation, supported[0])
            self.assertIn(attestation.KeylimeAttestation, supported)

    def test_enabled_supported_interfaces(self):
        mapping = driver_factory.enabled_supported_interfaces(
            fake_hardware.FakeHardware())
        self.assertEqual({'no-attestation', 'keylime'},
                         mapping['attestation'])
        self.config(enabled_attestation_interfaces=['no-attestation'])
        driver_factory._INTERFACE_LOADERS[
            'attestation']._extension_manager = None
        mapping = driver_factory.enabled_supported_interfaces(
            fake_hardware.FakeHardware())
        self.assertEqual({'no-attestation'}, mapping['attestation'])

    def test_default_when_not_configured(self):
        # no-attestation comes first: enabling keylime attests no node
        # that did not ask for it.
        self.assertEqual('no-attestation', driver_factory.default_interface(
            fake_hardware.FakeHardware(), 'attestation'))
        self.config(enabled_attestation_interfaces=['keylime'])
        driver_factory._INTERFACE_LOADERS[
            'attestation']._extension_manager = None
        self.assertEqual('keylime', driver_factory.default_interface(
            fake_hardware.FakeHardware(), 'attestation'))

    def test_driver_properties_include_keylime(self):
        self.config(default_attestation_interface='keylime')
        props = fake_hardware.FakeHardware().get_properties()
        self.assertIn('keylime_v', props)


class VersionTestCase(base.DbTestCase):

    def test_installed_ironic_is_tested(self):
        self.assertTrue(ironic_integration.ironic_version().startswith('39.'))
        self.assertTrue(ii_version.check_ironic_version())

    @mock.patch.object(ii_version.LOG, 'warning', autospec=True)
    def test_untested_version_warns(self, mock_warning):
        self.assertFalse(ii_version.check_ironic_version('40.1.0'))
        args = mock_warning.call_args[0]
        message = args[0] % args[1]
        self.assertIn('tested with Ironic 39.x only', message)
        self.assertIn('this is Ironic 40.1.0', message)

    @mock.patch.object(ii_version.LOG, 'warning', autospec=True)
    def test_tested_version_is_quiet(self, mock_warning):
        self.assertTrue(ii_version.check_ironic_version('39.2.1'))
        self.assertFalse(mock_warning.called)

    @mock.patch.object(ii_version, 'check_ironic_version',
                       autospec=True)
    def test_version_checked_when_interfaces_load(self, mock_check):
        # Again when the conductor loads the interfaces: Ironic's logging
        # is set up by then.
        factory = driver_factory._INTERFACE_LOADERS['attestation']
        factory._extension_manager = None
        self.assertEqual(['keylime', 'no-attestation'],
                         sorted(factory().names))
        mock_check.assert_called_once_with()

    def test_no_native_support_in_ironic_39(self):
        self.assertFalse(ironic_integration.has_native_support())

    def test_native_support_does_nothing(self):
        # A future Ironic with the core patch cannot be installed here:
        # give the node object the column such an Ironic would have.
        fields = dict(node_obj.Node.fields)
        fields['attestation_interface'] = fields['deploy_interface']
        self.patch(node_obj.Node, 'fields', fields)
        self.patch(register, '_registered', False)
        self.assertTrue(ironic_integration.has_native_support())
        get_interface = node_obj.Node.get_interface
        optional = driver_base.BareDriver.optional_interfaces
        loaders = dict(driver_factory._INTERFACE_LOADERS)
        self.assertFalse(
            ironic_integration.register_attestation_interface_type())
        self.assertIs(get_interface, node_obj.Node.get_interface)
        self.assertIs(optional, driver_base.BareDriver.optional_interfaces)
        self.assertEqual(loaders, driver_factory._INTERFACE_LOADERS)
        self.assertFalse(register._registered)


class NodeInterfaceTestCase(base.DbTestCase):

    def _node(self, driver_info=None, instance_info=None, **kwargs):
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            driver_info=driver_info or {},
            instance_info=instance_info or {}, **kwargs)

    def _attestation(self, node):
        with task_manager.acquire(self.context, node.uuid) as task:
            return task.driver.attestation

    def test_node_without_setting_gets_default(self):
        node = self._node()
        self.assertIsInstance(self._attestation(node), noop.NoAttestation)

    def test_configured_default(self):
        self.config(default_attestation_interface='keylime')
        node = self._node()
        self.assertIsInstance(self._attestation(node),
                              attestation.KeylimeAttestation)

    def test_driver_info_selects(self):
        node = self._node(dict(KEYLIME_INFO,
                               attestation_interface='keylime'))
        self.assertIsInstance(self._attestation(node),
                              attestation.KeylimeAttestation)
        self.assertEqual('keylime', node.get_interface('attestation'))

    def test_instance_info_turns_attestation_on(self):
        node = self._node(
            {'attestation_interface': 'no-attestation'},
            {'attestation_interface': 'keylime'})
        self.assertIsInstance(self._attestation(node),
                              attestation.KeylimeAttestation)

    def test_instance_info_cannot_turn_attestation_off(self):
        # The lessee writes instance_info: the operator's keylime stays.
        node = self._node(dict(KEYLIME_INFO,
                               attestation_interface='keylime'),
                          {'attestation_interface': 'no-attestation'})
        self.assertIsInstance(self._attestation(node),
                              attestation.KeylimeAttestation)
        self.assertEqual('keylime', node.get_interface('attestation'))

    def test_instance_info_cannot_turn_default_keylime_off(self):
        self.config(default_attestation_interface='keylime')
        node = self._node(KEYLIME_INFO,
                          {'attestation_interface': 'no-attestation'})
        self.assertIsInstance(self._attestation(node),
                              attestation.KeylimeAttestation)

    def test_driver_info_overrides_default(self):
        self.config(default_attestation_interface='keylime')
        node = self._node({'attestation_interface': 'no-attestation'})
        self.assertIsInstance(self._attestation(node), noop.NoAttestation)

    def test_other_interfaces_unchanged(self):
        node = self._node({'deploy_interface': 'direct',
                           'attestation_interface': 'keylime'},
                          {'boot_interface': 'pxe'},
                          deploy_interface='fake')
        self.assertEqual('fake', node.get_interface('deploy'))
        self.assertEqual('pxe', node.get_interface('boot'))

    def test_unknown_name_refused(self):
        node = self._node({'attestation_interface': 'keylimee'})
        e = self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                              self._attestation, node)
        self.assertIn('keylimee', str(e))
        self.assertIn('ironic.hardware.interfaces.attestation', str(e))
        self.assertIn('keylime', str(e).split('keylimee')[1])

    def test_unknown_instance_info_name_refused(self):
        node = self._node(instance_info={'attestation_interface': 'nope'})
        self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                          driver_factory.check_and_update_node_interfaces,
                          node)

    def test_disabled_name_refused(self):
        self.config(enabled_attestation_interfaces=['no-attestation'])
        node = self._node(dict(KEYLIME_INFO,
                               attestation_interface='keylime'))
        e = self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                              self._attestation, node)
        self.assertIn("Valid interfaces are ['no-attestation']", str(e))

    def test_node_can_be_fixed_without_driver(self):
        # A node with a bad name must stay editable (Ironic updates nodes
        # without building their driver).
        node = self._node({'attestation_interface': 'nope'})
        with task_manager.acquire(self.context, node.uuid,
                                  load_driver=False) as task:
            task.node.driver_info = {'attestation_interface': 'keylime'}
            task.node.save()
        node.refresh()
        self.assertEqual('keylime', node.driver_info['attestation_interface'])

    def test_deploy_refused_on_bad_keylime_info(self):
        node = self._node({'attestation_interface': 'keylime',
                           'keylime_v': '0.0.0.0', 'keylime_r': 'x'},
                          provision_state=states.AVAILABLE)
        with task_manager.acquire(self.context, node.uuid) as task:
            # The manager is not reached: validation comes first.
            e = self.assertRaises(exception.InstanceDeployFailure,
                                  deployments.start_deploy, task, None)
        self.assertIn('attestation interface', str(e))
        self.assertIn('keylime_v', str(e))
        self.assertEqual(400, e.code)
        node.refresh()
        self.assertEqual(states.AVAILABLE, node.provision_state)

    def test_keylime_validation_reports_driver_info(self):
        node = self._node({'attestation_interface': 'keylime',
                           'keylime_v': '0.0.0.0', 'keylime_r': 'x'})
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.InvalidParameterValue,
                                  task.driver.attestation.validate, task)
        self.assertIn('keylime_v', str(e))


class NodeNameCheckTestCase(base.DbTestCase):
    """Bad names are refused when a node is created or updated.

    Through the conductor manager that Ironic's RPC service creates (as
    in ironic-attest), on nodes of Ironic's test database.
    """

    def setUp(self):
        super().setUp()
        self.manager = rpc_service.RPCService(
            'test-host', 'ironic.conductor.manager',
            'ConductorManager').manager

    def _call(self, method, *args, **kwargs):
        """Call a manager method as Ironic's RPC clients do.

        :returns: its result.
        :raises: the exception it raised (unwrapped from the
            ExpectedException of oslo.messaging, as the RPC client does).
        """
        try:
            return getattr(self.manager, method)(self.context, *args,
                                                 **kwargs)
        except messaging.ExpectedException as e:
            raise e.exc_info[1]

    def _new_node(self, **kwargs):
        return obj_utils.get_test_node(self.context, driver='fake-hardware',
                                       **kwargs)

    def _stored(self, **kwargs):
        return obj_utils.create_test_node(self.context,
                                          driver='fake-hardware', **kwargs)

    def test_create_with_good_name(self):
        node = self._call('create_node', self._new_node(
            driver_info={'attestation_interface': 'keylime'}))
        node.refresh()
        self.assertEqual('keylime', node.driver_info['attestation_interface'])

    def test_create_with_unknown_name_refused(self):
        e = self.assertRaises(
            exception.InterfaceNotFoundInEntrypoint, self._call,
            'create_node', self._new_node(
                driver_info={'attestation_interface': 'bogus'}))
        self.assertEqual(
            "Could not find the following interface in the "
            "'ironic.hardware.interfaces.attestation' entrypoint: bogus. "
            "Valid interfaces are ['keylime', 'no-attestation'].", str(e))
        self.assertEqual([], self.dbapi.get_node_list())

    def test_create_with_non_string_name_refused(self):
        e = self.assertRaises(
            exception.InterfaceNotFoundInEntrypoint, self._call,
            'create_node', self._new_node(
                driver_info={'attestation_interface': ['keylime']}))
        self.assertIn("entrypoint: ['keylime']. Valid interfaces", str(e))

    def test_update_to_unknown_name_refused(self):
        node = self._stored(driver_info={'attestation_interface': 'keylime'})
        node.driver_info = {'attestation_interface': 'keylimee'}
        e = self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                              self._call, 'update_node', node)
        self.assertIn('keylimee', str(e))
        node.refresh()
        self.assertEqual('keylime', node.driver_info['attestation_interface'])

    def test_update_to_disabled_name_refused(self):
        self.config(enabled_attestation_interfaces=['no-attestation'])
        node = self._stored()
        node.driver_info = {'attestation_interface': 'keylime'}
        e = self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                              self._call, 'update_node', node)
        self.assertIn("Valid interfaces are ['no-attestation']", str(e))

    def test_update_of_instance_info_name_refused(self):
        node = self._stored()
        node.instance_info = {'attestation_interface': 'nope'}
        self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                          self._call, 'update_node', node)

    def test_update_to_good_name_and_back(self):
        node = self._stored()
        node.driver_info = {'attestation_interface': 'keylime'}
        self._call('update_node', node)
        node.refresh()
        self.assertEqual('keylime', node.driver_info['attestation_interface'])
        node.driver_info = {}
        self._call('update_node', node)
        node.refresh()
        self.assertEqual({}, node.driver_info)

    def test_other_changes_of_a_node_with_a_bad_name_accepted(self):
        # As for Ironic's own interfaces: a name that became invalid
        # (here stored directly) does not block other changes.
        node = self._stored(driver_info={'attestation_interface': 'gone'})
        node.driver_info = {'attestation_interface': 'gone', 'x': 1}
        self._call('update_node', node)
        node.refresh()
        self.assertEqual(1, node.driver_info['x'])

    def test_driver_change_checks_the_name(self):
        node = self._stored(driver_info={'attestation_interface': 'gone'})
        node.driver = 'manual-management'
        self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                          self._call, 'update_node', node)

    def test_deploy_interface_message_is_the_same_kind(self):
        node = self._stored()
        node.deploy_interface = 'bogus'
        e = self.assertRaises(exception.InterfaceNotFoundInEntrypoint,
                              self._call, 'update_node', node)
        # The attestation message above has the same form.
        self.assertRegex(
            str(e), r"^Could not find the following interface in the "
            r"'ironic.hardware.interfaces.deploy' entrypoint: bogus. "
            r"Valid interfaces are \[.*'fake'.*\].$")

    def test_manager_patched_once(self):
        update_node = self.manager.update_node.__func__
        ironic_integration.check_names_on_update(type(self.manager))
        self.assertIs(update_node, type(self.manager).update_node)


class StepsTestCase(base.DbTestCase):

    def _task(self, name):
        node = obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            driver_info=dict(KEYLIME_INFO, attestation_interface=name))
        return task_manager.acquire(self.context, node.uuid)

    def _attest_steps(self, steps):
        return [s for s in steps if s['interface'] == 'attestation']

    def test_deploy_steps(self):
        with self._task('keylime') as task:
            steps = conductor_steps._get_deployment_steps(
                task, enabled=True)
        self.assertEqual([dict(ATTEST, priority=90,
                               argsinfo=None, abortable=True)],
                         self._attest_steps(steps))
        # Sorted by priority: after deploy (100), before write_image (80)
        # on a real deploy interface; here fake's deploy step is 100.
        self.assertEqual(['deploy', 'attest'],
                         [s['step'] for s in steps][:2])

    def test_clean_steps(self):
        with self._task('keylime') as task:
            steps = conductor_steps._get_cleaning_steps(task, enabled=True)
        attest = self._attest_steps(steps)
        self.assertEqual(1, len(attest))
        self.assertEqual(95, attest[0]['priority'])
        self.assertTrue(attest[0]['requires_ramdisk'])

    def test_manual_clean_step(self):
        self.config(clean_step_priority=0, group='keylime')
        with self._task('keylime') as task:
            self.assertEqual([], self._attest_steps(
                conductor_steps._get_cleaning_steps(task, enabled=True)))
            result = conductor_steps._validate_user_clean_steps(
                task, [dict(ATTEST)])
        self.assertEqual('attest', result[0]['step'])

    def test_service_steps(self):
        with self._task('keylime') as task:
            steps = conductor_steps._get_service_steps(task)
        self.assertEqual(['attest'],
                         [s['step'] for s in self._attest_steps(steps)])

    def test_verify_steps_collected_without_error(self):
        with self._task('keylime') as task:
            steps = conductor_steps._get_verify_steps(task)
        self.assertEqual([], self._attest_steps(steps))

    def test_no_attestation_has_no_steps(self):
        with self._task('no-attestation') as task:
            for get in (conductor_steps._get_deployment_steps,
                        conductor_steps._get_cleaning_steps,
                        conductor_steps._get_service_steps):
                self.assertEqual([], self._attest_steps(get(task)))

    def test_user_deploy_steps(self):
        with self._task('keylime') as task:
            result = conductor_steps._validate_user_deploy_steps(
                task, [dict(ATTEST, args={}, priority=75)])
        self.assertEqual([dict(ATTEST, args={}, priority=75)], result)

    def test_deploy_template(self):
        obj_utils.create_test_deploy_template(
            self.context, name='CUSTOM_ATTESTED',
            steps=[dict(ATTEST, args={}, priority=70)])
        with self._task('keylime') as task:
            task.node.instance_info = {'traits': ['CUSTOM_ATTESTED']}
            steps = conductor_steps._get_all_deployment_steps(task)
        self.assertEqual([70], [s['priority']
                                for s in self._attest_steps(steps)])

    def test_user_step_of_no_attestation_refused(self):
        with self._task('no-attestation') as task:
            self.assertRaises(exception.InvalidParameterValue,
                              conductor_steps._validate_user_clean_steps,
                              task, [dict(ATTEST)])


class CommandTestCase(base.DbTestCase):
    """The commands start Ironic's own entry points after registering."""

    def _check(self, main, module):
        # Starting a real service in a unit test would never return; the
        # functional tests run the real ironic-attest.
        with mock.patch('%s.main' % module, autospec=True,
                        return_value=0) as mock_main, \
                mock.patch.object(ironic_integration,
                                  'register_attestation_interface_type',
                                  autospec=True) as mock_register:
            mock_register.side_effect = lambda: self.assertFalse(
                mock_main.called)
            self.assertEqual(0, main())
        mock_register.assert_called_once_with()
        mock_main.assert_called_once_with()

    def test_all_in_one(self):
        self._check(attest.main_all_in_one, 'ironic.command.singleprocess')

    def test_api(self):
        self._check(attest.main_api, 'ironic.command.api')

    def test_conductor(self):
        self._check(attest.main_conductor, 'ironic.command.conductor')
