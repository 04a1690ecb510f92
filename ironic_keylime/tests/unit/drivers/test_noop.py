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

"""The no-attestation interface."""

from ironic.conductor import task_manager
from ironic.tests.unit.objects import utils as obj_utils

from ironic_keylime.drivers.modules import noop
from ironic_keylime.tests import base


class NoAttestationTestCase(base.DbTestCase):

    def test_does_nothing_and_has_no_steps(self):
        node = obj_utils.create_test_node(self.context,
                                          driver='fake-hardware')
        internal = dict(node.driver_internal_info)
        iface = noop.NoAttestation()
        self.assertEqual('attestation', iface.interface_type)
        self.assertEqual({}, iface.get_properties())
        with task_manager.acquire(self.context, node.uuid) as task:
            iface.validate(task)
            iface.start_attestation(task)
            self.assertIsNone(iface.validate_security_status(task))
            iface.unregister_node(task)
            self.assertEqual([], iface.get_deploy_steps(task))
            self.assertEqual([], iface.get_clean_steps(task))
            self.assertEqual([], iface.get_service_steps(task))
        node.refresh()
        self.assertEqual(internal, node.driver_internal_info)
