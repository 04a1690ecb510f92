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

"""The golden boot state in the cleaning of a real Ironic.

A real Ironic 39 (``ironic-attest``, :mod:`.ironic_env`) cleans a
fake-hardware node with the ``direct`` deploy interface, so that its
cleaning boots a ramdisk and waits for it: for each cleaning the test
"boots" a real ironic-python-agent with the keylime extension
(:mod:`.ipa_env`), which looks the node up in the Ironic API, gets its
agent token and heartbeats, as a ramdisk does; Ironic then runs the clean
steps, and the enroll step asks that IPA to read the PCRs of the
harness's swtpm. Verdicts come from the harness's real Keylime 7.14.3.

What is not real: the power (fake-hardware: the ramdisk is started by the
test when Ironic waits for it) and IPA's hardware manager (a stand-in
without clean steps: IPA's own would erase the disks of the machine
running the tests).
"""

import hashlib
import json
import tempfile

from testtools import content

from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import ipa_env
from ironic_keylime.tests.functional import keylime_env

TIMEOUT = functional_base.TIMEOUT
ENROLL = [{'interface': 'attestation', 'step': 'enroll_boot_state'}]
PCRS = list(range(8))
#: What "new firmware" extends into PCR 0.
FIRMWARE_CHANGE = hashlib.sha256(b'ironic-keylime: new firmware').hexdigest()


class GoldenBootStateCleaningTestCase(functional_base.IronicTestCase):
    """enroll -> clean PASS -> PCR 0 changed -> clean failed -> enroll."""

    overrides = {'DEFAULT': {'enabled_deploy_interfaces': 'fake,direct'}}

    def _boot_ramdisk(self, node):
        """Start a ramdisk that looks the node up and heartbeats."""
        workdir = tempfile.mkdtemp(prefix='ramdisk-', dir=self.workdir)
        rd = ipa_env.Ramdisk(workdir, None, api_url=self.ironic.url,
                             node_uuid=node.id,
                             options={'tpm_tcti': keylime_env.tcti()})
        self.addOnException(lambda exc_info: self.addDetail(
            'ipa.log of %s' % workdir,
            content.text_content(rd.read_log())))
        self.addCleanup(rd.stop)
        rd.start()
        self.ramdisks.append(rd)
        return rd

    def _clean(self, node, expected, steps=None):
        """One cleaning: Ironic prepares, the ramdisk boots, steps run.

        :param steps: manual clean steps (from manageable), or None for
            the automated cleaning of ``provide``.
        :returns: the node once it settled in ``expected``.
        """
        if steps is None:
            self.ironic.conn.baremetal.set_node_provision_state(node.id,
                                                                'provide')
        else:
            # As an operator would run it.
            self.ironic.baremetal('node', 'clean', node.id, '--clean-steps',
                                  json.dumps(steps))
        # The node "reboots" into the ramdisk once Ironic waits for it.
        self.ironic.wait_for(node.id, 'clean wait', TIMEOUT)
        rd = self._boot_ramdisk(node)
        try:
            return self.ironic.wait_state(node.id, expected, TIMEOUT)
        finally:
            # The end of cleaning powers the node off.
            rd.stop()

    def _events(self, node):
        return [e['event'] for e in self.ironic.attestation_events(node.id)]

    def test_enroll_change_clean_failed_enroll_pass(self):
        self.ramdisks = []
        node = self.keylime_node('golden')
        self.ironic.baremetal('node', 'set', node.id, '--deploy-interface',
                              'direct')
        before = keylime_env.pcr_read(PCRS)

        # 1. Enroll (manual cleaning): the ramdisk reads the swtpm's PCRs.
        node = self._clean(node, 'manageable', steps=ENROLL)
        self.assertEqual({k: [v] for k, v in before.items()},
                         json.loads(node.driver_info['keylime_tpm_policy']))
        enrolled = self._events(node)[-1]
        self.assertIn('Golden boot state enrolled', enrolled)
        self.assertIn('PCR 0=%s' % before['0'], enrolled)

        # 2. Automated cleaning attests with it: PASS.
        node = self._clean(node, 'available')
        self.assertIn('Keylime attestation PASS', self._events(node)[-1])
        self.assertIsNone(node.last_error)

        # 3. The firmware changes (PCR 0 is extended): cleaning fails and
        # says why.
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.pcr_extend(0, FIRMWARE_CHANGE)
        after = keylime_env.pcr_read(PCRS)
        self.assertNotEqual(before['0'], after['0'])
        self.ironic.provision(node.id, 'manage', 'manageable')
        node = self._clean(node, 'clean failed')
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        self.assertIn('pcr_validation.invalid_pcr_0', error)
        self.assertIn('PCR 0 differs', error)
        self.assertIn('golden boot state', error)
        self.assertIn('enroll_boot_state', error)
        failure = self.ironic.history(node.id)[-1]
        self.assertEqual('ERROR', failure['severity'])
        self.assertIn('PCR 0 differs', failure['event'])
        self.assertVerifierHasNoAgent()

        # Ironic puts a node whose cleaning failed in maintenance.
        self.assertTrue(node.is_maintenance)
        self.assertEqual('clean failure', node.fault)

        # 4. The operator updated the firmware: enroll again, then PASS.
        self.ironic.baremetal('node', 'maintenance', 'unset', node.id)
        self.ironic.provision(node.id, 'manage', 'manageable')
        node = self._clean(node, 'manageable', steps=ENROLL)
        self.assertEqual(
            [after['0']],
            json.loads(node.driver_info['keylime_tpm_policy'])['0'])
        self.assertIn('changed: PCR 0.', self._events(node)[-1])
        node = self._clean(node, 'available')
        self.assertIn('Keylime attestation PASS', self._events(node)[-1])
        self.assertIsNone(node.last_error)
        self.assertVerifierHasNoAgent()

        # Each cleaning had its ramdisk, which ran no step of its own:
        # the steps were the conductor's.
        self.assertEqual(5, len(self.ramdisks))
        for rd in self.ramdisks:
            log = rd.read_log()
            self.assertIn('looked up node %s' % node.id, log)
            self.assertNotIn('execute_clean_step', log)
