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

"""The EK check keylime_tenant runs on its own registrar read."""

import json
import os
import stat
import subprocess
import sys

import fixtures
from oslotest import base as test_base

from ironic_keylime.keylime_client import ek_check
from ironic_keylime.keylime_client import exception
from ironic_keylime.tests.unit import registrar_fixture

AGENT = registrar_fixture.AGENT_UUID
EXPECTED = registrar_fixture.AGENT_EK_SHA256


def _ek_tpm():
    return json.loads(registrar_fixture.recorded('agent.json'))[
        'results']['ek_tpm']


class EKCheckTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.result = os.path.join(self.dir, 'result.json')

    def env(self, **extra):
        env = {'AGENT_UUID': AGENT, 'EK_TPM': _ek_tpm(),
               ek_check.EXPECTED_ENV: EXPECTED,
               ek_check.RESULT_ENV: self.result}
        env.update(extra)
        return env

    def test_same_ek_passes(self):
        self.assertEqual(0, ek_check.main(self.env()))
        result = ek_check.read_result(self.result, AGENT, EXPECTED, True)
        self.assertTrue(result['match'])
        self.assertEqual(0o600, stat.S_IMODE(os.stat(self.result).st_mode))

    def test_other_ek_fails(self):
        other = 'ab' * 32
        self.assertEqual(1, ek_check.main(
            self.env(**{ek_check.EXPECTED_ENV: other})))
        error = self.assertRaises(exception.EndorsementKeyChanged,
                                  ek_check.read_result, self.result, AGENT,
                                  other, False)
        self.assertIn(EXPECTED, str(error))
        self.assertIn(other, str(error))

    def test_unreadable_ek_fails(self):
        self.assertEqual(1, ek_check.main(self.env(EK_TPM='not base64!')))
        self.assertRaises(exception.EndorsementKeyChanged,
                          ek_check.read_result, self.result, AGENT,
                          EXPECTED, False)

    def test_without_expected_fingerprint_fails(self):
        for value in ('', 'x' * 64, EXPECTED[:-1]):
            self.assertEqual(2, ek_check.main(
                self.env(**{ek_check.EXPECTED_ENV: value})))

    def test_no_result_after_an_add_is_refused(self):
        error = self.assertRaises(exception.EndorsementKeyNotChecked,
                                  ek_check.read_result, self.result, AGENT,
                                  EXPECTED, True)
        self.assertIn(ek_check.SCRIPT_ENV, str(error))

    def test_no_result_after_a_failed_add(self):
        # The tenant failed before its EK check: its own error applies.
        self.assertIsNone(ek_check.read_result(self.result, AGENT, EXPECTED,
                                               False))

    def test_result_of_another_agent_refused(self):
        ek_check.main(self.env(AGENT_UUID='other'))
        self.assertRaises(exception.EndorsementKeyNotChecked,
                          ek_check.read_result, self.result, AGENT,
                          EXPECTED, True)

    def test_script_must_be_executable(self):
        plain = os.path.join(self.dir, 'plain')
        open(plain, 'w').close()
        for script in (None, 'relative/ironic-keylime-ek-check', plain,
                       '/nonexistent/x'):
            error = self.assertRaises(
                exception.KeylimeError,
                ek_check.prepared(script, EXPECTED, '[x]y').__enter__)
            self.assertIn('[x]y', str(error))

    def test_prepared_result_is_private_and_removed(self):
        with ek_check.prepared(sys.executable, EXPECTED) as (env, path):
            self.assertEqual(sys.executable, env[ek_check.SCRIPT_ENV])
            self.assertEqual(path, env[ek_check.RESULT_ENV])
            parent = os.path.dirname(path)
            self.assertEqual(0o700, stat.S_IMODE(os.stat(parent).st_mode))
        self.assertFalse(os.path.exists(parent))

    def test_as_a_command(self):
        # As keylime_tenant runs it: no arguments, the environment only.
        env = dict(os.environ, **self.env())
        process = subprocess.run(
            [sys.executable, '-m', 'ironic_keylime.keylime_client.ek_check'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            check=False)
        self.assertEqual(0, process.returncode, process.stdout)
        self.assertIn(EXPECTED, process.stdout.decode())
