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

"""Verdicts read from real and historical keylime_tenant outputs."""

import json
import os

from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import status
from ironic_keylime.tests import base as test_base

UUID = 'a1b2c3d4-0000-4000-8000-000000000001'


def fixture(name):
    path = os.path.join(test_base.FIXTURES, 'tenant-7.14.3', name)
    with open(path) as f:
        return f.read()


def record(**fields):
    data = {'operational_state': 'Get Quote', 'tpm_policy': '{}'}
    data.update(fields)
    return data


class RealOutputsTestCase(base.BaseTestCase):
    """Outputs of keylime_tenant 7.14.3 captured on a real verifier."""

    def test_healthy_agent_passes(self):
        for n in range(1, 6):
            result = status.parse_status(
                fixture('tenant-status-ok-%d.stdout' % n), UUID)
            self.assertEqual(status.PASS, result.verdict)
            self.assertEqual('Get Quote', result.state)
            self.assertIsNone(result.last_event_id)
            self.assertGreater(result.attestation_count, 0)

    def test_tampered_agent_fails_with_event(self):
        result = status.parse_status(
            fixture('tenant-status-tampered.stdout'), UUID)
        self.assertEqual(status.FAIL, result.verdict)
        self.assertEqual('Invalid Quote', result.state)
        self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                         result.last_event_id)

    def test_registrar_record_is_not_a_verdict(self):
        # The registrar's record says "Registered" (PENDING); the
        # verifier's record after it says "Get Quote".
        text = fixture('tenant-status-ok-1.stdout')
        self.assertIn('Agent Info from Registrar', text)
        self.assertEqual(status.PASS,
                         status.parse_status(text, UUID).verdict)

    def test_just_added_agent_is_pending(self):
        result = status.parse_status(fixture('tenant-add.stdout'), UUID)
        self.assertEqual(status.PENDING, result.verdict)
        self.assertEqual('Start', result.state)

    def test_unknown_agent_has_no_verdict(self):
        self.assertRaises(exception.UnparsableOutput, status.parse_status,
                          fixture('tenant-status-unknown.stdout'), UUID)

    def test_deleted_agent_has_no_verdict(self):
        self.assertRaises(exception.UnparsableOutput, status.parse_status,
                          fixture('tenant-status-after-delete.stdout'), UUID)


class OlderFormatsTestCase(base.BaseTestCase):
    """The formats of the tenants of Keylime 6.2 to 7.4 (facts.md)."""

    def test_keylime_6_2_agent_status_line(self):
        out = ('2021-01-01 - keylime.tenant - INFO - Agent Status: '
               '"Get Quote"\n')
        result = status.parse_status(out, UUID)
        self.assertEqual(status.PASS, result.verdict)
        self.assertIsNone(result.attestation_count)

    def test_keylime_6_2_invalid_quote(self):
        out = 'keylime.tenant - INFO - Agent Status: "Invalid Quote"\n'
        self.assertEqual(status.FAIL,
                         status.parse_status(out, UUID).verdict)

    def test_keylime_6_3_agent_info_skips_registrar_record(self):
        registrar = {UUID: {'aik_tpm': 'x', 'operational_state':
                            'Registered'}}
        verifier = {UUID: record(operational_state=9,
                                 last_event_id='ima.validation.x')}
        out = ('keylime.tenant - INFO - Agent Info:\n%s\n'
               'keylime.tenant - INFO - Agent Info:\n%s\n'
               % (json.dumps(registrar), json.dumps(verifier)))
        result = status.parse_status(out, UUID)
        self.assertEqual(status.FAIL, result.verdict)
        self.assertEqual('Invalid Quote', result.state)
        self.assertEqual('ima.validation.x', result.last_event_id)

    def test_numeric_state_as_string(self):
        out = 'Agent Info:\n%s\n' % json.dumps({UUID: record(
            operational_state='7')})
        self.assertEqual('Failed', status.parse_status(out, UUID).state)


class VerdictRulesTestCase(base.BaseTestCase):

    def test_verifier_mapping(self):
        expected = {0: 'PENDING', 1: 'PENDING', 2: 'PENDING',
                    3: 'PASS', 4: 'PASS', 5: 'PASS', 6: 'PASS',
                    7: 'FAIL', 8: 'PENDING', 9: 'FAIL', 10: 'FAIL'}
        self.assertEqual(expected, {code: status.verdict_for_state(code)
                                    for code in range(11)})

    def test_worse_of_state_and_attestation_status_wins(self):
        self.assertEqual(status.FAIL, status.status_from_record(record(
            operational_state='Invalid Quote',
            attestation_status='PASS', attestation_count=3)).verdict)
        self.assertEqual(status.FAIL, status.status_from_record(record(
            attestation_status='FAIL', attestation_count=3)).verdict)

    def test_no_verified_quote_is_not_a_pass(self):
        self.assertEqual(status.PENDING, status.status_from_record(record(
            attestation_status='PASS', attestation_count=0)).verdict)

    def test_unknown_state_is_an_error(self):
        self.assertRaises(exception.UnparsableOutput,
                          status.status_from_record,
                          record(operational_state='Happy'))

    def test_unknown_attestation_status_is_an_error(self):
        self.assertRaises(exception.UnparsableOutput,
                          status.status_from_record,
                          record(attestation_status='MAYBE'))

    def test_record_without_state_is_an_error(self):
        self.assertRaises(exception.UnparsableOutput,
                          status.status_from_record, {'ip': '1.2.3.4'})

    def test_garbage_is_an_error(self):
        for out in ('', 'Segmentation fault\n',
                    'Agent Info from Verifier (h:1):\n{not json\n',
                    'Agent Info from Verifier (h:1):\n[1, 2]\n'):
            self.assertRaises(exception.UnparsableOutput,
                              status.parse_status, out, UUID)
