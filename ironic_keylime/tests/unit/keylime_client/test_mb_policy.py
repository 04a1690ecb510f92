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


"""Measured-boot policies from a real UEFI event log (OVMF on swtpm).

The fixtures are real (tests/fixtures/uefi-event-log-ovmf/README.rst).
keylime-policy itself lives in Keylime's virtualenv, not in the unit
tests': here a stand-in script plays it, copying the policy the real
7.14.3 tool wrote from the same log, or printing the real tool's refusal;
the functional test test_mb_policy_real runs the real tool.
"""

import hashlib
import json
import os
import sys

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import mb_policy
from ironic_keylime.tests.unit import mb_policy_fixture as fixture


def _read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


class ParseTestCase(base.BaseTestCase):

    def test_the_real_policy(self):
        policy = mb_policy.parse(_read(fixture.POLICY))
        self.assertIs(False, policy['has_secureboot'])
        scrtm = policy['scrtm_and_bios'][0]['scrtm']['sha256']
        self.assertTrue(scrtm.startswith('0x96a296d2'))

    def test_refused(self):
        for text, what in (('{', 'not valid JSON'),
                           ('[]', 'not a JSON object'),
                           ('{"has_secureboot": false}', 'lacks'),
                           ('{"has_secureboot": "no", "scrtm_and_bios": '
                            '[{}]}', 'not a boolean'),
                           ('{"has_secureboot": false, "scrtm_and_bios": '
                            '[]}', 'records no firmware')):
            error = self.assertRaises(exception.KeylimeError,
                                      mb_policy.parse, text)
            self.assertIn(what, str(error))


class CreateTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.record = os.path.join(self.tmp, 'record.json')
        self.tool = os.path.join(self.tmp, 'keylime-policy')
        with open(self.tool, 'w') as f:
            f.write('#!%s\n' % sys.executable)
            f.write(fixture.STAND_IN % {'record': self.record,
                                        'policy': fixture.POLICY,
                                        'refusal': fixture.REFUSAL})
        os.chmod(self.tool, 0o700)
        self.parent = os.path.join(self.tmp, 'parent')
        os.mkdir(self.parent)
        self.event_log = _read(fixture.EVENT_LOG, 'rb')

    def test_argv(self):
        self.assertEqual(
            ['kp', 'create', 'measured-boot', '-e', 'L', '-o', 'O',
             '--without-secureboot'],
            mb_policy.argv('kp', 'L', 'O', without_secureboot=True))
        self.assertEqual(
            ['kp', 'create', 'measured-boot', '-e', 'L', '-o', 'O'],
            mb_policy.argv('kp', 'L', 'O', without_secureboot=False))

    def test_create(self):
        text = mb_policy.create(self.tool, self.event_log,
                                without_secureboot=True, parent=self.parent)
        self.assertEqual(json.loads(_read(fixture.POLICY)), json.loads(text))
        record = json.loads(_read(self.record))
        # The log the tool read is the node's, in a private file of a
        # private directory, removed afterwards.
        self.assertEqual(self.event_log.hex(), record['log'])
        self.assertEqual(0o600, record['mode'])
        self.assertEqual(0o700, record['dir_mode'])
        self.assertEqual(self.tool, record['argv'][0])
        self.assertEqual(['create', 'measured-boot', '-e'],
                         record['argv'][1:4])
        self.assertEqual([], os.listdir(self.parent))

    def test_tool_refusal_is_reported(self):
        error = self.assertRaises(exception.KeylimeError, mb_policy.create,
                                  self.tool, self.event_log,
                                  parent=self.parent)
        self.assertIn('exit code 1', str(error))
        self.assertIn('SecureBoot disabled, but -i flag was not set',
                      str(error))
        self.assertNotIn('keylime_upgrade_config', str(error))
        self.assertEqual([], os.listdir(self.parent))

    def test_bad_logs_refused_before_the_tool_runs(self):
        for log, what in ((b'', 'No UEFI event log'),
                          (None, 'No UEFI event log'),
                          (b'x' * (mb_policy.MAX_EVENT_LOG_BYTES + 1),
                           'more than')):
            error = self.assertRaises(exception.KeylimeError,
                                      mb_policy.create, self.tool, log)
            self.assertIn(what, str(error))
        self.assertFalse(os.path.exists(self.record))

    def test_missing_tool(self):
        error = self.assertRaises(
            exception.KeylimeError, mb_policy.create,
            os.path.join(self.tmp, 'nowhere'), self.event_log)
        self.assertIn('keylime-policy not found', str(error))

    def test_invalid_output_refused(self):
        with open(self.tool, 'w') as f:
            f.write('#!/bin/sh\nwhile [ "$1" != -o ]; do shift; done\n'
                    'echo "{}" > "$2"\n')
        error = self.assertRaises(exception.KeylimeError, mb_policy.create,
                                  self.tool, self.event_log,
                                  without_secureboot=True)
        self.assertIn('lacks', str(error))


class FixtureTestCase(base.BaseTestCase):

    def test_fixture_is_the_documented_log(self):
        # The README's digest: the tests above run on the real log.
        log = _read(fixture.EVENT_LOG, 'rb')
        self.assertTrue(hashlib.sha256(log).hexdigest()
                        .startswith('52a9cf12'))
