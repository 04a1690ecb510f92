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

"""The Bare Metal API of a test, with the attestation interface type.

Ironic's own API test base (``ironic.tests.unit.api.base``) on its sqlite
test database, with conductors registered as Ironic's conductor registers
them; the requests stop at the RPC client, which records them (no
conductor runs in a unit test: the functional tests run real ones).
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
        self._register_conductor(self.conductor, self.attests)
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

    def _register_conductor(self, hostname, attests, default=None,
                            group=''):
        """Register a conductor with the rows Ironic's conductor writes.

        The rows come from Ironic's own driver_factory in this process
        (with the attestation type); a stock conductor writes the same
        rows without the attestation ones (the functional test
        test_stock_conductor reads them from a real one).

        :param default: the attestation interface the conductor registers
            as its default (its [DEFAULT]default_attestation_interface),
            or None for the one this process computes.
        :param group: its conductor group.
        """
        conductor = self.dbapi.register_conductor(
            {'hostname': hostname, 'drivers': [],
             'conductor_group': group,
             'version': objects.Conductor.VERSION})
        hw_type = fake_hardware.FakeHardware()
        rows = []
        for iface_type, names in driver_factory.enabled_supported_interfaces(
                hw_type).items():
            if iface_type == 'attestation' and not attests:
                continue
            default_name = driver_factory.default_interface(hw_type,
                                                            iface_type)
            if iface_type == 'attestation' and default is not None:
                default_name = default
            rows.extend({'hardware_type': 'fake-hardware',
                         'interface_type': iface_type,
                         'interface_name': name,
                         'default': name == default_name} for name in names)
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
