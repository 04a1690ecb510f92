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

"""The interface's metrics through Ironic's statsd backend.

Ironic's own ``StatsdMetricLogger`` sends real UDP packets to a socket of
the test on 127.0.0.1; the attestations run on real nodes and tasks with
the replaying keylime_tenant. Resuming an operation needs a conductor's
RPC: the resume calls are replaced, as in :mod:`.test_attestation`.
"""

import socket
from unittest import mock

from ironic.conductor import utils as manager_utils


from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import tenant_fixture


@mock.patch.object(manager_utils, 'notify_conductor_resume_clean',
                   autospec=True)
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class StatsdTestCase(base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(5)
        self.config(backend='statsd', global_prefix='region1',
                    group='metrics')
        self.config(statsd_host='127.0.0.1',
                    statsd_port=self.sock.getsockname()[1],
                    group='metrics_statsd')

    def packets(self):
        """Every packet received so far, as 'name:value|type' strings."""
        received = []
        self.sock.settimeout(0.5)
        while True:
            try:
                received.append(self.sock.recv(65536).decode())
            except socket.timeout:
                return received

    def names(self, packets, kind):
        return [p.split(':')[0] for p in packets if p.endswith('|' + kind)]

    def test_pass_counts_and_times(self, resume_deploy, resume_clean):
        node = self.create_node()
        self.attest(node)
        self.check(node)
        packets = self.packets()
        counters = self.names(packets, 'c')
        self.assertEqual(
            ['region1.ironic_keylime.attestation.deploy.started',
             'region1.ironic_keylime.attestation.deploy.passed'],
            counters)
        self.assertIn('region1.ironic_keylime.attestation.deploy.started'
                      ':1|c', packets)
        timers = self.names(packets, 'ms')
        self.assertIn('region1.ironic_keylime.verifier.add', timers)
        self.assertIn('region1.ironic_keylime.verifier.read_status', timers)
        self.assertIn(
            'region1.ironic_keylime.attestation.deploy.time_to_verdict',
            timers)

    def test_fail_of_a_cleaning_is_counted(self, resume_deploy,
                                           resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node('clean')
        self.attest(node)
        self.check(node)
        counters = self.names(self.packets(), 'c')
        self.assertEqual(
            ['region1.ironic_keylime.attestation.clean.started',
             'region1.ironic_keylime.attestation.clean.failed'], counters)

    def test_error_of_a_step_that_cannot_start(self, resume_deploy,
                                               resume_clean):
        self.attest_that_cannot_start()
        counters = self.names(self.packets(), 'c')
        self.assertEqual(
            ['region1.ironic_keylime.attestation.deploy.errored'], counters)
