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


"""Failure events of the verifier that name a PCR."""

from oslotest import base

from ironic_keylime.keylime_client import events


class PcrFailureTestCase(base.BaseTestCase):

    def test_tpm_policy_mismatch_names_the_pcr(self):
        # What a Keylime 7.14.3 verifier reports for a PCR of the
        # tpm_policy whose quoted value is not allowed.
        self.assertEqual(
            'PCR 0 differs from every value the TPM policy allows',
            events.pcr_failure('pcr_validation.invalid_pcr_0'))
        self.assertIn('PCR 7 ',
                      events.pcr_failure('pcr_validation.invalid_pcr_7'))

    def test_missing_pcrs(self):
        self.assertIn('lacks PCRs of the TPM policy',
                      events.pcr_failure('pcr_validation.missing_pcrs'))

    def test_measured_boot(self):
        self.assertIn('PCR 4 does not match the boot event log',
                      events.pcr_failure('measured_boot.invalid_pcr_4'))

    def test_data_pcr(self):
        self.assertIn('PCR 16, where the agent binds',
                      events.pcr_failure('pcr_validation.invalid_pcr_16'))

    def test_other_events_are_not_about_a_pcr(self):
        for event in (None, '', 'ima.validation.ima-ng.not_in_allowlist',
                      'pcr_validation.invalid_pcr_x', 'qoute_validation'):
            self.assertIsNone(events.pcr_failure(event))
