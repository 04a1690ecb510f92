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

"""The lessee cannot deploy an attested node without attestation.

On the conductor (Ironic's own start_deploy and update_node, on nodes of
Ironic's test database): a deployment or rebuild whose deploy steps or
deploy templates disable the attest step, and an instance_info name that
would turn attestation off, are refused.
"""

from ironic_keylime.tests import base  # noqa: I100  (must come first)

from unittest import mock

from ironic.common import exception
from ironic.common import states
from ironic.conductor import deployments
from ironic.conductor import rpc_service
from ironic.conductor import task_manager
from ironic.tests.unit.objects import utils as obj_utils
import oslo_messaging as messaging

from ironic_keylime.tests import utils

KEYLIME = utils.get_test_keylime_info(attestation_interface='keylime')
ATTEST = {'interface': 'attestation', 'step': 'attest', 'args': {}}


class DeployStepsGuardTestCase(base.DbTestCase):
    """deployments.start_deploy, as the conductor's do_node_deploy runs it."""

    def _node(self, driver_info=KEYLIME, state=states.AVAILABLE, **kw):
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware', driver_info=driver_info,
            provision_state=state, **kw)

    def _manager(self):
        # Only read for the arguments of the (mocked) process_event.
        return mock.Mock(spec=['_spawn_worker', 'conductor'])

    def _start(self, node, deploy_steps=None, event='deploy'):
        """Run start_deploy; True when it went on to start the worker."""
        with task_manager.acquire(self.context, node.uuid) as task:
            # Spawning the deploy worker needs a started conductor (its
            # executor); every check under test runs before it.
            with mock.patch.object(task, 'process_event',
                                   autospec=True) as mock_event:
                deployments.start_deploy(task, self._manager(),
                                         event=event,
                                         deploy_steps=deploy_steps)
        return mock_event.called

    def _refused(self, node, deploy_steps=None, event='deploy'):
        e = self.assertRaises(exception.InstanceDeployFailure, self._start,
                              node, deploy_steps, event)
        self.assertEqual(400, e.code)
        node.refresh()
        self.assertIsNone(node.target_provision_state)
        return str(e)

    def test_user_step_priority_0_refused(self):
        node = self._node()
        message = self._refused(node, [dict(ATTEST, priority=0)])
        self.assertIn('deploy step attestation.attest (priority 90)',
                      message)
        self.assertIn('the deploy_steps of the request set its priority '
                      'to 0', message)
        self.assertIn('[keylime]allow_user_step_override = True', message)
        self.assertEqual(states.AVAILABLE, node.provision_state)

    def test_rebuild_with_user_step_priority_0_refused(self):
        node = self._node(state=states.ACTIVE)
        message = self._refused(node, [dict(ATTEST, priority=0)],
                                event='rebuild')
        self.assertIn('attestation.attest', message)
        self.assertEqual(states.ACTIVE, node.provision_state)

    def test_deploy_template_priority_0_refused(self):
        obj_utils.create_test_deploy_template(
            self.context, name='CUSTOM_NO_ATTEST',
            steps=[dict(ATTEST, priority=0)])
        node = self._node(instance_info={'traits': ['CUSTOM_NO_ATTEST']})
        self.dbapi.set_node_traits(node.id, ['CUSTOM_NO_ATTEST'], '1.0')
        message = self._refused(node)
        self.assertIn('deploy step attestation.attest', message)
        self.assertIn('deploy template(s) CUSTOM_NO_ATTEST', message)

    def test_request_step_wins_over_template(self):
        obj_utils.create_test_deploy_template(
            self.context, name='CUSTOM_NO_ATTEST',
            steps=[dict(ATTEST, priority=0)])
        node = self._node(instance_info={'traits': ['CUSTOM_NO_ATTEST']})
        self.dbapi.set_node_traits(node.id, ['CUSTOM_NO_ATTEST'], '1.0')
        self.assertTrue(self._start(node, [dict(ATTEST, priority=95)]))

    def test_other_priority_accepted(self):
        self.assertTrue(self._start(self._node(),
                                    [dict(ATTEST, priority=75)]))

    def test_no_user_steps_accepted(self):
        self.assertTrue(self._start(self._node()))

    def test_operator_override(self):
        self.config(allow_user_step_override=True, group='keylime')
        self.assertTrue(self._start(self._node(),
                                    [dict(ATTEST, priority=0)]))

    def test_opt_in_step_may_stay_off(self):
        # An operator who made attest a deploy step to ask for (priority
        # 0) has nothing to protect.
        self.config(deploy_step_priority=0, group='keylime')
        self.assertTrue(self._start(self._node(),
                                    [dict(ATTEST, priority=0)]))

    def test_node_without_attestation_unaffected(self):
        self.assertTrue(self._start(self._node(driver_info={})))

    def test_stored_steps_untouched(self):
        # The check reads Ironic's merge with the request's steps; the
        # node keeps what it had.
        node = self._node(driver_internal_info={'user_deploy_steps': []})
        with task_manager.acquire(self.context, node.uuid) as task:
            with mock.patch.object(task, 'process_event', autospec=True):
                deployments.start_deploy(
                    task, self._manager(),
                    deploy_steps=[dict(ATTEST, priority=75)])
            self.assertEqual([], task.node.driver_internal_info[
                'user_deploy_steps'])

    def test_instance_info_turning_attestation_off_refused(self):
        node = self._node(
            instance_info={'attestation_interface': 'no-attestation'})
        message = self._refused(node)
        self.assertIn('instance_info/attestation_interface=no-attestation',
                      message)
        self.assertIn('remove instance_info/attestation_interface', message)

    def test_instance_info_selecting_keylime_accepted(self):
        node = self._node(
            driver_info=dict(KEYLIME,
                             attestation_interface='no-attestation'),
            instance_info={'attestation_interface': 'keylime'})
        self.assertTrue(self._start(node))


class InstanceInfoUpdateTestCase(base.DbTestCase):
    """Node updates through the conductor manager of Ironic's RPC service."""

    def setUp(self):
        super().setUp()
        self.manager = rpc_service.RPCService(
            'test-host', 'ironic.conductor.manager',
            'ConductorManager').manager

    def _update(self, node):
        try:
            return self.manager.update_node(self.context, node)
        except messaging.ExpectedException as e:
            raise e.exc_info[1]

    def _stored(self, driver_info=KEYLIME, **kw):
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware', driver_info=driver_info,
            **kw)

    def test_turning_off_refused(self):
        node = self._stored()
        node.instance_info = {'attestation_interface': 'no-attestation'}
        e = self.assertRaises(exception.InvalidParameterValue, self._update,
                              node)
        self.assertIn('instance_info/attestation_interface=no-attestation '
                      'would replace the attestation interface keylime',
                      str(e))
        node.refresh()
        self.assertNotIn('attestation_interface', node.instance_info)

    def test_turning_default_keylime_off_refused(self):
        self.config(default_attestation_interface='keylime')
        node = self._stored(driver_info={})
        node.instance_info = {'attestation_interface': 'no-attestation'}
        self.assertRaises(exception.InvalidParameterValue, self._update,
                          node)

    def test_turning_on_accepted(self):
        node = self._stored(driver_info={})
        node.instance_info = {'attestation_interface': 'keylime'}
        self._update(node)
        node.refresh()
        self.assertEqual('keylime',
                         node.instance_info['attestation_interface'])

    def test_same_name_accepted(self):
        node = self._stored()
        node.instance_info = {'attestation_interface': 'keylime'}
        self._update(node)

    def test_operator_may_select_keylime_over_instance_info(self):
        # The stored instance_info name is ignored from now on and the
        # next deployment refused until it is removed.
        node = self._stored(
            driver_info={},
            instance_info={'attestation_interface': 'no-attestation'})
        node.driver_info = KEYLIME
        self._update(node)
        node.refresh()
        self.assertEqual('keylime', node.get_interface('attestation'))
