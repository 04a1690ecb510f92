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

import datetime
import json

from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import status
from ironic_keylime.tests.unit import tenant_fixture

UUID = 'a1b2c3d4-0000-4000-8000-000000000001'


def record(**fields):
    data = {'operational_state': 'Get Quote', 'tpm_policy': '{}'}
    data.update(fields)
    return data


class RealOutputsTestCase(base.BaseTestCase):
    """Outputs of keylime_tenant 7.14.3 captured on a real verifier."""

    def test_healthy_agent_passes(self):
        for n in range(1, 6):
            result = status.parse_status(
                tenant_fixture.output('tenant-status-ok-%d.stdout' % n), UUID)
            self.assertEqual(status.PASS, result.verdict)
            self.assertEqual('Get Quote', result.state)
            self.assertIsNone(result.last_event_id)
            self.assertGreater(result.attestation_count, 0)

    def test_tampered_agent_fails_with_event(self):
        result = status.parse_status(
            tenant_fixture.output('tenant-status-tampered.stdout'), UUID)
        self.assertEqual(status.FAIL, result.verdict)
        self.assertEqual('Invalid Quote', result.state)
        self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                         result.last_event_id)

    def test_registrar_record_is_not_a_verdict(self):
        # The registrar's record says "Registered" (PENDING); the
        # verifier's record after it says "Get Quote".
        text = tenant_fixture.output('tenant-status-ok-1.stdout')
        self.assertIn('Agent Info from Registrar', text)
        self.assertEqual(status.PASS,
                         status.parse_status(text, UUID).verdict)

    def test_just_added_agent_is_pending(self):
        result = status.parse_status(
            tenant_fixture.output('tenant-add.stdout'), UUID)
        self.assertEqual(status.PENDING, result.verdict)
        self.assertEqual('Start', result.state)

    def test_unknown_agent_has_no_verdict(self):
        self.assertRaises(exception.UnparsableOutput, status.parse_status,
                          tenant_fixture.output(
                              'tenant-status-unknown.stdout'), UUID)

    def test_deleted_agent_has_no_verdict(self):
        self.assertRaises(exception.UnparsableOutput, status.parse_status,
                          tenant_fixture.output(
                              'tenant-status-after-delete.stdout'), UUID)


class OlderFormatsTestCase(base.BaseTestCase):
    """The formats of the tenants of Keylime 6.2 to 7.4 (facts.md)."""

    def test_keylime_6_2_agent_status_line_never_passes(self):
        # The tenants of 6.2.0 and older print the state alone: no
        # evidence of a verified quote, whatever the state and the start.
        for state in ('Get Quote', 'Get Quote (retry)', 'Provide V',
                      'Provide V (retry)'):
            out = ('2021-01-01 - keylime.tenant - INFO - Agent Status: '
                   '"%s"\n' % state)
            result = status.parse_status(out, UUID, since=0)
            self.assertEqual(status.PENDING, result.verdict, state)
            self.assertEqual(state, result.state)
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


def verifier_output(rec, uuid=UUID):
    """Tenant output of Keylime 7.5 and newer holding one record."""
    return ('keylime.tenant - INFO - Agent Info from Verifier '
            '(127.0.0.1:8881):\n%s\n' % json.dumps({uuid: rec}))


def real_record(name='tenant-status-ok-1'):
    """The verifier's record of a real 7.14.3 output."""
    lines = tenant_fixture.output(name + '.stdout').splitlines()
    for index, line in enumerate(lines):
        if 'Agent Info from Verifier' in line:
            return json.loads(lines[index + 1])[UUID]
    raise AssertionError('no verifier record in %s' % name)


#: Seconds since the epoch of an attempt's start.
START = 1795913000


class EvidenceTestCase(base.BaseTestCase):
    """PASS needs proof that the verifier verified a quote."""

    def test_pass_states_without_evidence_are_pending(self):
        # A verifier before Keylime 6.5 reports no count and no time: it
        # says "Get Quote" as soon as the agent is added and while it
        # retries an agent that never answers.
        for code in (3, 4, 5, 6):
            result = status.status_from_record(
                record(operational_state=code), since=START)
            self.assertEqual(status.PENDING, result.verdict, code)

    def test_no_count_and_no_start_is_pending(self):
        result = status.status_from_record(record(
            last_received_quote=START + 10,
            last_successful_attestation=START + 10))
        self.assertEqual(status.PENDING, result.verdict)

    def test_real_record_without_count_and_times_is_pending(self):
        rec = real_record()
        self.assertEqual(status.PASS,
                         status.status_from_record(rec).verdict)
        for name in ('attestation_count', 'last_received_quote',
                     'last_successful_attestation'):
            del rec[name]
        self.assertEqual(
            status.PENDING,
            status.parse_status(verifier_output(rec), UUID,
                                since=START).verdict)

    def test_count_is_evidence(self):
        result = status.status_from_record(record(attestation_count=1))
        self.assertEqual(status.PASS, result.verdict)
        self.assertEqual(1, result.attestation_count)

    def test_zero_count_wins_over_times(self):
        # The count is the verifier's own word on this agent record.
        result = status.status_from_record(record(
            attestation_count=0, last_received_quote=START + 10,
            last_successful_attestation=START + 10), since=START)
        self.assertEqual(status.PENDING, result.verdict)

    def test_quote_after_start_is_evidence_without_count(self):
        for name in ('last_received_quote', 'last_successful_attestation'):
            result = status.status_from_record(
                record(**{name: START + 2}), since=START)
            self.assertEqual(status.PASS, result.verdict, name)
            self.assertEqual(START + 2, getattr(result, name))

    def test_quote_before_or_at_start_is_not_evidence(self):
        for stamp in (0, START - 60, START):
            for name in ('last_received_quote',
                         'last_successful_attestation'):
                result = status.status_from_record(
                    record(**{name: stamp}), since=START)
                self.assertEqual(status.PENDING, result.verdict,
                                 (name, stamp))

    def test_last_successful_attestation_wins_over_received(self):
        # A quote received after the start that did not pass.
        result = status.status_from_record(record(
            last_received_quote=START + 5,
            last_successful_attestation=START - 5), since=START)
        self.assertEqual(status.PENDING, result.verdict)

    def test_since_as_datetime(self):
        aware = datetime.datetime.fromtimestamp(START,
                                                datetime.timezone.utc)
        naive = aware.replace(tzinfo=None)
        for since in (naive, aware):
            self.assertEqual(status.PASS, status.status_from_record(
                record(last_successful_attestation=START + 1),
                since=since).verdict)
            self.assertEqual(status.PENDING, status.status_from_record(
                record(last_successful_attestation=START),
                since=since).verdict)

    def test_since_of_another_type_is_a_programming_error(self):
        self.assertRaises(TypeError, status.status_from_record, record(),
                          since='2026-12-03T07:00:00')

    def test_failure_needs_no_evidence(self):
        # A 6.2 tenant, and a verifier without count, still report FAIL.
        out = 'keylime.tenant - INFO - Agent Status: "Invalid Quote"\n'
        self.assertEqual(status.FAIL, status.parse_status(out, UUID).verdict)
        self.assertEqual(status.FAIL, status.status_from_record(
            record(operational_state='Failed')).verdict)


class WrongTypesTestCase(base.BaseTestCase):
    """Output of the wrong shape is UnparsableOutput, nothing else."""

    def assertUnparsable(self, **fields):
        out = verifier_output(record(**fields))
        try:
            status.parse_status(out, UUID, since=START)
        except exception.UnparsableOutput:
            return
        except Exception as e:
            self.fail('%r: %r escaped' % (fields, e))
        self.fail('%r: no error' % (fields,))

    def test_count_of_the_wrong_type(self):
        for count in ('abc', '3', [1], {'n': 1}, True, False, -1, 1.5):
            self.assertUnparsable(attestation_count=count)

    def test_state_of_the_wrong_type(self):
        for state in (True, False, [3], {'a': 1}, 3.0, '\u00b2', 11, -1,
                      ''):
            self.assertUnparsable(operational_state=state)

    def test_times_of_the_wrong_type(self):
        for name in ('last_received_quote', 'last_successful_attestation'):
            for stamp in ('yesterday', True, [START], {}, -5,
                          float('nan')):
                self.assertUnparsable(**{name: stamp})

    def test_attestation_status_of_the_wrong_type(self):
        for value in (['PASS'], True, 1, {'PASS': 1}):
            self.assertUnparsable(attestation_status=value)

    def test_last_event_of_the_wrong_type(self):
        for value in ({'id': 'x'}, ['x'], 7, True):
            self.assertUnparsable(last_event_id=value)

    def test_uuid_of_the_wrong_type(self):
        for uuid in ({'a': 1}, ['x'], None, 5):
            self.assertRaises(exception.UnparsableOutput,
                              status.parse_status, verifier_output(record()),
                              uuid)

    def test_record_of_the_wrong_type(self):
        for rec in ([1, 2], 'Get Quote', 3, None):
            out = ('Agent Info from Verifier (h:1):\n%s\n'
                   % json.dumps({UUID: rec}))
            self.assertRaises(exception.UnparsableOutput,
                              status.parse_status, out, UUID)
        self.assertRaises(exception.UnparsableOutput,
                          status.status_from_record, ['operational_state'])
