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


"""The measured-boot policy on the real stack: enrolled, stored, sent.

The ramdisk is the real ironic-python-agent with the keylime extension
(:mod:`.ipa_env`), reading the swtpm's PCRs and, as its UEFI event log,
the real OVMF log of tests/fixtures/uefi-event-log-ovmf
(``[keylime_agent]event_log_path``); the conductor builds the policy with
Keylime 7.14.3's real ``keylime-policy`` and writes it to the real Swift;
the real tenant sends it to the real verifier. The harness's agent (the
6.6.0 Python agent on swtpm, no firmware) sends no UEFI event log, so the
verifier's verdict on a node with a measured-boot policy is FAIL: that is
the verdict checked here, with the reason the node's error gives.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
from unittest import mock

from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils
from testtools import content

from ironic_keylime.common import exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import ipa_env
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import swift_env

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'fixtures',
                        'uefi-event-log-ovmf')
EVENT_LOG = os.path.join(FIXTURES, 'binary_bios_measurements')
PIN = 'keylime_mb_policy_sha256'


# notify_conductor_resume_deploy is an RPC to the conductor, which does
# not run in these tests.
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class MeasuredBootRealTestCase(functional_base.KeylimeDbTestCase):
    """Runs ironic-python-agent, keylime-policy and the real tenant."""

    needs_swift = True

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='ik-mb-policy-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        keylime_env.configure(self, policy_tool=keylime_env.env(
            'POLICY_TOOL'), list_cache_size=0, swift_retries=0,
            send_mb_policy=True)
        swift_env.configure(self)
        self.config(max_command_attempts=1, command_timeout=60,
                    group='agent')
        self.iface = attestation.KeylimeAttestation()
        self.admin = swift_env.admin_connection()
        self.container = 'mb-' + uuidutils.generate_uuid()[:8]
        self.addCleanup(self._delete_container)
        self._upload_lists()
        self.addCleanup(self.check_nothing_left)

    def _upload_lists(self):
        self.admin.put_container(self.container)
        for name in ('allowlist', 'excludelist'):
            with open(keylime_env.env(name.upper()), 'rb') as f:
                data = f.read()
            self.admin.put_object(self.container, name, data)
            self.admin.put_object(
                self.container, name + '_checksum', '%s  %s\n' % (
                    hashlib.sha256(data).hexdigest(), name))

    def _delete_container(self):
        _h, objects = self.admin.get_container(self.container)
        for obj in objects:
            self.admin.delete_object(self.container, obj['name'])
        self.admin.delete_container(self.container)

    def _mb_ramdisk(self):
        """The real IPA, whose extension reads the fixture's event log."""
        token = uuidutils.generate_uuid()
        rd = ipa_env.Ramdisk(
            os.path.join(self.workdir, 'rd'), token,
            options={'tpm_tcti': keylime_env.tcti(),
                     'event_log_path': os.path.abspath(EVENT_LOG)})
        os.makedirs(rd.workdir)
        self.addCleanup(rd.stop)
        rd.start()
        return rd, token

    def _enrolled_node(self):
        rd, token = self._mb_ramdisk()
        node = obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=states.CLEANING,
            clean_step=functional_base.ENROLL_STEP,
            driver_info=keylime_env.driver_info(
                {'keylime_container': self.container}),
            driver_internal_info={'agent_url': rd.url,
                                  'agent_secret_token': token})
        with task_manager.acquire(self.context, node.uuid) as task:
            self.iface.enroll_boot_state(task)
        node.refresh()
        return node

    def test_enroll_store_send_and_fail_on_the_harness_agent(self, _m):
        # 1. Enrollment: the real keylime-policy builds the policy from
        # the event log the real extension returned; the conductor
        # writes it to the real Swift and pins it in driver_info.
        node = self._enrolled_node()
        _h, stored = self.admin.get_object(self.container, 'mb_policy')
        with open(os.path.join(FIXTURES,
                               'mb_policy-without-secureboot.json')) as f:
            self.assertEqual(json.load(f), json.loads(stored))
        self.assertEqual(hashlib.sha256(stored).hexdigest(),
                         node.driver_info[PIN])
        with open(EVENT_LOG, 'rb') as f:
            log = f.read()
        event = self.history_events(node)[-1]
        self.assertIn('Golden boot state enrolled', event)
        self.assertIn('measured-boot policy recorded from the UEFI event '
                      'log of %d bytes, sha256 %s (Secure Boot off)'
                      % (len(log), hashlib.sha256(log).hexdigest()), event)
        self.assertIn('%s=%s' % (PIN, node.driver_info[PIN]), event)

        # 2. Attestation: the real tenant sends it; the verifier holds it.
        node.provision_state = states.DEPLOYING
        node.deploy_step = functional_base.ATTEST_STEP
        node.clean_step = None
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.iface.attest(task))
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        verifier = driver_info.parse_driver_info(node).verifier
        record = keylime_api.rest_client(verifier).agent_record(
            keylime_env.env('AGENT_UUID'))
        self.assertEqual(1, record['has_mb_refstate'])
        # PCRs 0-7 are checked through the measured-boot policy now (the
        # real tenant refuses them in a TPM policy beside it).
        self.assertNotIn('0', json.loads(record['tpm_policy']))
        node = self._wait_verdict(node)

        # 3. The verdict on an agent that sends no UEFI event log.
        self.addDetail('last_error', content.text_content(
            str(node.last_error)))
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Keylime attestation FAIL', node.last_error)
        self.assertIn('pcr_validation.unused_pcr_', node.last_error)
        self.assertIn('covered by the measured-boot policy, but the agent '
                      'sent no UEFI event log', node.last_error)
        self.assertIn('The node has a measured-boot policy (driver_info/'
                      '%s or keylime_mb_policy, the measured-boot policy), '
                      'but its Keylime agent sent no UEFI event log' % PIN,
                      node.last_error)
        self.assertIn('Keylime attestation FAIL',
                      self.history_events(node)[-1])

    def _wait_verdict(self, node):
        deadline = time.monotonic() + 40
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.iface.check_attestation(task)
            node.refresh()
            if node.provision_state != states.DEPLOYWAIT:
                return node
            self.assertLess(time.monotonic(), deadline, 'no verdict')
            time.sleep(1)

    def test_tampered_object_refused_before_keylime(self, _m):
        node = self._enrolled_node()
        policy = json.loads(self.admin.get_object(self.container,
                                                  'mb_policy')[1])
        # Someone with write access to the container swaps the firmware
        # measurement for their own.
        policy['scrtm_and_bios'][0]['scrtm']['sha256'] = '0x' + 'ab' * 32
        self.admin.put_object(self.container, 'mb_policy',
                              json.dumps(policy))
        node.provision_state = states.DEPLOYING
        node.deploy_step = functional_base.ATTEST_STEP
        node.clean_step = None
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('does not match driver_info/%s' % PIN, str(error))
        self.assertIn('enroll the node again', str(error))
        self.assertEqual([], keylime_env.verifier_agents())
        verifier = driver_info.parse_driver_info(node).verifier
        self.assertRaises(kl_exception.AgentNotFound,
                          keylime_api.rest_client(verifier).agent_record,
                          keylime_env.env('AGENT_UUID'))
