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

"""The node's memory of its last attestation and enrollment.

Real nodes, tasks and error handlers; keylime_tenant replays real outputs
(:mod:`..fake_tenant`). Resuming an operation needs a conductor's RPC:
the resume calls are replaced, as in :mod:`.test_attestation`.
"""

import datetime
import hashlib
import json
from unittest import mock

from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic.drivers.modules import agent_client

from ironic_keylime.drivers.modules.keylime import last_attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import tenant_fixture

PCR0 = '7f85193790de75e46b70bfec3614098f47332a6993dabac6e38ad35f47df5da4'
LAST = last_attestation.ATTESTATION_KEY
ENROLLED = last_attestation.ENROLLMENT_KEY


@mock.patch.object(manager_utils, 'notify_conductor_resume_clean',
                   autospec=True)
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class LastAttestationTestCase(base.KeylimeTestCase):

    def _attempt(self, node):
        node.refresh()
        return node.driver_internal_info[kl_record.STATE_KEY]['attempt']

    def test_pass_is_remembered_after_the_operation(self, resume_deploy,
                                                    resume_clean):
        node = self.create_node()
        self.attest(node)
        attempt = self._attempt(node)
        node = self.check(node)
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        last = node.driver_internal_info[LAST]
        self.assertEqual('PASS', last['verdict'])
        self.assertEqual('deploy', last['operation'])
        self.assertEqual('attest', last['step'])
        self.assertEqual(attempt, last['attempt'])
        self.assertEqual('127.0.0.1:8881', last['verifier'])
        self.assertIsNone(last['event_id'])
        self.assertIn('Keylime attestation PASS', last['message'])
        # No golden boot state on this node, and no EK binding here.
        self.assertEqual({'tpm_policy_sha256': None,
                          'mb_policy_sha256': None, 'enrolled_at': None},
                         last['golden_state'])
        self.assertIsNone(last['ek_sha256'])
        self.assertIsNotNone(datetime.datetime.fromisoformat(last['at']))

    def test_fail_names_event_and_is_replaced_by_next(self, resume_deploy,
                                                      resume_clean):
        node = self.create_node('clean')
        self.attest(node)
        node = self.check(node)
        first = node.driver_internal_info[LAST]
        self.assertEqual('PASS', first['verdict'])
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node.provision_state = states.CLEANING
        node.clean_step = base.CLEAN_STEP
        node.save()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(states.CLEANFAIL, node.provision_state)
        last = node.driver_internal_info[LAST]
        self.assertEqual('FAIL', last['verdict'])
        self.assertEqual('clean', last['operation'])
        self.assertNotEqual(first['attempt'], last['attempt'])
        self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                         last['event_id'])
        self.assertIn('Invalid Quote', last['message'])

    def test_error_of_a_read_is_remembered(self, resume_deploy,
                                           resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'stdout': 'all good, trust me\n'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        last = node.driver_internal_info[LAST]
        self.assertEqual('error', last['verdict'])
        self.assertEqual(node.last_error[:100], last['message'][:100])

    def test_step_that_cannot_start_is_remembered(self, resume_deploy,
                                                  resume_clean):
        node = self.attest_that_cannot_start()
        last = node.driver_internal_info[LAST]
        self.assertEqual('error', last['verdict'])
        self.assertIsNone(last['attempt'])
        self.assertEqual('deploy', last['operation'])

    def test_golden_state_is_the_policy_sent(self, resume_deploy,
                                             resume_clean):
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy={'0': [PCR0]}))
        self.attest(node)
        argv = self.fake.calls('add')[0]['argv']
        sent = argv[argv.index('--tpm_policy') + 1]
        node = self.check(node)
        golden = node.driver_internal_info[LAST]['golden_state']
        self.assertEqual(hashlib.sha256(sent.encode()).hexdigest(),
                         golden['tpm_policy_sha256'])


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class LastEnrollmentTestCase(base.KeylimeTestCase):

    def enroll(self):
        node = self.create_node(
            'clean', clean_step=base.ENROLL_STEP,
            driver_internal_info={'agent_url': 'http://10.0.0.9:9999'})
        with task_manager.acquire(self.context, node.uuid) as task:
            self.iface.enroll_boot_state(task)
        node.refresh()
        return node

    def test_enrollment_is_remembered_and_named_by_attestations(
            self, mock_command, resume_deploy):
        mock_command.return_value = base.ok(
            base.reading({'0': PCR0}))
        node = self.enroll()
        enrolled = node.driver_internal_info[ENROLLED]
        self.assertEqual(list(range(8)), enrolled['pcrs'])
        self.assertEqual(
            hashlib.sha256(node.driver_info['keylime_tpm_policy']
                           .encode()).hexdigest(),
            enrolled['tpm_policy_sha256'])
        self.assertIsNone(enrolled['mb_policy_sha256'])
        # The next attestation says which enrollment it was checked
        # against (its agent is named by driver_info: the ramdisk is not
        # asked again).
        node.del_driver_internal_info('agent_url')
        node.provision_state = states.DEPLOYING
        node.clean_step = None
        node.deploy_step = base.DEPLOY_STEP
        node.save()
        self.attest(node)
        node = self.check(node)
        golden = node.driver_internal_info[LAST]['golden_state']
        self.assertEqual(enrolled['at'], golden['enrolled_at'])
        self.assertEqual(enrolled['tpm_policy_sha256'],
                         golden['tpm_policy_sha256'])
        self.assertEqual(json.loads(node.driver_info['keylime_tpm_policy']),
                         json.loads(self.fake.calls('add')[0]['argv'][
                             self.fake.calls('add')[0]['argv'].index(
                                 '--tpm_policy') + 1]))
