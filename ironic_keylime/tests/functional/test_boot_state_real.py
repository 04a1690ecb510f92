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


"""The golden boot state on the real stack: IPA, swtpm and Keylime 7.14.3.

The node's ramdisk is the real ironic-python-agent API with the keylime
extension (:mod:`.ipa_env`), reading the PCRs of the harness's swtpm with
the real ``tpm2_pcrread``; the conductor side is the interface's own
clean step on a node of Ironic's test database; the verdicts come from
the real verifier, given the policy by the real 7.14.3 tenant. A PCR is
changed as firmware would change it (``tpm2_pcrextend``); the harness's
swtpm and agent are restarted afterwards (``harness.sh reset``), so that
the other tests find PCRs 0-7 as they were.
"""

import hashlib
import json
import os
import shutil
import tempfile
from unittest import mock

import testtools.content

from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import ipa_env
from ironic_keylime.tests.functional import keylime_env

PCRS = list(range(8))
#: What "new firmware" extends into PCR 0.
FIRMWARE_CHANGE = hashlib.sha256(b'ironic-keylime: new firmware').hexdigest()


# notify_conductor_resume_deploy is an RPC to the conductor, which does
# not run in these tests.
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class BootStateRealTestCase(functional_base.KeylimeDbTestCase):
    """Runs ironic-python-agent, tpm2-tools and the real keylime_tenant."""

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='ik-boot-state-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.lists_dir = os.path.join(self.workdir, 'lists')
        os.makedirs(self.lists_dir)
        keylime_env.configure(self,
                              allowed_list_directories=[self.lists_dir])
        self.config(max_command_attempts=1, command_timeout=60,
                    group='agent')
        self.iface = attestation.KeylimeAttestation()
        self.addCleanup(self.check_nothing_left)

    def _ramdisk(self):
        token = uuidutils.generate_uuid()
        rd = ipa_env.Ramdisk(os.path.join(self.workdir, 'rd'), token,
                             options={'tpm_tcti': keylime_env.tcti()})
        os.makedirs(rd.workdir)
        self.addCleanup(rd.stop)
        self.addOnException(lambda exc_info: self.addDetail(
            'ipa.log', testtools.content.text_content(rd.read_log())))
        rd.start()
        return rd, token

    def _node(self, **info):
        lists = keylime_env.write_lists(self.lists_dir)
        # The harness's agent is named by driver_info: attest does not ask
        # the ramdisk to configure it (the ramdisk here only reads PCRs).
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=states.CLEANING,
            clean_step=functional_base.ENROLL_STEP,
            driver_info=keylime_env.driver_info(lists, **info))

    def _enroll(self, node, rd, token):
        node.refresh()
        # What a manual cleaning does first: boot the ramdisk, which
        # heartbeats its URL and token (a failed deployment removed them).
        node.set_driver_internal_info('agent_url', rd.url)
        node.set_driver_internal_info('agent_secret_token', token)
        node.provision_state = states.CLEANING
        node.clean_step = functional_base.ENROLL_STEP
        node.deploy_step = None
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.iface.enroll_boot_state(task)
        node.refresh()
        return json.loads(node.driver_info['keylime_tpm_policy'])

    def _assert_pass(self, node):
        self.assertIsNone(node.last_error)
        self.assertIn('Keylime attestation PASS',
                      self.history_events(node)[-1])

    def _assert_pcr0_fail(self, node):
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Keylime attestation FAIL', node.last_error)
        self.assertIn('pcr_validation.invalid_pcr_0', node.last_error)
        self.assertIn('PCR 0 differs from every value the TPM policy '
                      'allows', node.last_error)
        self.assertIn('enroll the node again', node.last_error)

    def _with_zero_boot_aggregate(self, node):
        """Accept the all-zero boot_aggregate too (the known workaround)."""
        allowlist = node.driver_info['keylime_allowlist']
        with open(allowlist, 'a') as f:
            f.write('%s  boot_aggregate\n' % ('0' * 64))
        with open(allowlist, 'rb') as f:
            checksum = hashlib.sha256(f.read()).hexdigest()
        with open(node.driver_info['keylime_allowlist_checksum'], 'w') as f:
            f.write('%s  allowlist\n' % checksum)

    def test_enroll_change_fail_enroll_pass(self, mock_resume):
        rd, token = self._ramdisk()
        node = self._node()
        # 1. Enroll: the real extension reads the swtpm's PCRs.
        policy = self._enroll(node, rd, token)
        before = keylime_env.pcr_read(PCRS)
        self.assertEqual({k: [v] for k, v in before.items()}, policy)
        events = self.history_events(node)
        self.assertIn('Golden boot state enrolled', events[-1])
        self.assertIn('PCR 0=%s' % before['0'], events[-1])
        self.assertIn('no UEFI event log', events[-1])
        # ... and the boot_aggregate of the node's IMA log (its first
        # line), which replaces the allowlist's from now on.
        with open(os.environ['KEYLIME_HARNESS_IMA_LOG']) as f:
            aggregate = f.readline().split()[3].split(':')[1]
        node.refresh()
        self.assertEqual(aggregate,
                         node.driver_info['keylime_boot_aggregate'])
        self.assertIn('IMA boot_aggregate sha256:%s' % aggregate, events[-1])
        # 2. Attest with it: PASS.
        node = self.attest_until_verdict(node)
        self._assert_pass(node)

        # 3. The firmware changes: PCR 0 is extended.
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.pcr_extend(0, FIRMWARE_CHANGE)
        after = keylime_env.pcr_read(PCRS)
        self.assertNotEqual(before['0'], after['0'])
        node = self.attest_until_verdict(node)
        self._assert_pcr0_fail(node)
        self.assertIn('PCR 0 differs', self.history_events(node)[-1])

        # 4. The all-zero boot_aggregate of the allowlist changes nothing:
        # the TPM policy still catches PCR 0.
        self._with_zero_boot_aggregate(node)
        node = self.attest_until_verdict(node)
        self._assert_pcr0_fail(node)

        # 5. Enroll again (a deliberate firmware update): PASS again.
        policy = self._enroll(node, rd, token)
        self.assertEqual([after['0']], policy['0'])
        self.assertIn('changed: PCR 0.', self.history_events(node)[-1])
        node = self.attest_until_verdict(node)
        self._assert_pass(node)

    def test_without_golden_state_a_pcr_change_passes(self, mock_resume):
        # Why the golden state is needed: IMA and its boot_aggregate
        # entry do not see a changed PCR 0 (Keylime compares the log's
        # boot_aggregate with the allowlist, not with the quoted PCRs).
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.pcr_extend(0, FIRMWARE_CHANGE)
        node = self.attest_until_verdict(self._node())
        self._assert_pass(node)

    def test_required_golden_state_missing_refused(self, mock_resume):
        self.config(require_boot_state=True, group='keylime')
        node = self._node()
        node.provision_state = states.DEPLOYING
        node.deploy_step = functional_base.ATTEST_STEP
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('no golden boot state', str(error))
        self.assertIn('enroll_boot_state', str(error))
        self.assertEqual([], keylime_env.verifier_agents())
