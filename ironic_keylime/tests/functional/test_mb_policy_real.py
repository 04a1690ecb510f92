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


"""Keylime 7.14.3's own keylime-policy builds the measured-boot policy.

On the real UEFI event log of tests/fixtures/uefi-event-log-ovmf (OVMF
under QEMU with swtpm), through :mod:`ironic_keylime.keylime_client
.mb_policy`, with the harness's Keylime virtualenv.
"""

import json
import os

import testtools

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import mb_policy
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'fixtures',
                        'uefi-event-log-ovmf')


def _read(name, mode='r'):
    with open(os.path.join(FIXTURES, name), mode) as f:
        return f.read()


class MeasuredBootPolicyRealTestCase(functional_base.KeylimeHarnessMixin,
                                     testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tool = keylime_env.env('POLICY_TOOL')
        self.event_log = _read('binary_bios_measurements', 'rb')

    def test_policy_from_the_real_event_log(self):
        text = mb_policy.create(self.tool, self.event_log,
                                without_secureboot=True)
        self.assertEqual(json.loads(_read(
            'mb_policy-without-secureboot.json')), json.loads(text))
        self.assertFalse(mb_policy.parse(text)['has_secureboot'])

    def test_secure_boot_mismatch_is_refused(self):
        error = self.assertRaises(exception.KeylimeError, mb_policy.create,
                                  self.tool, self.event_log)
        self.assertIn('SecureBoot disabled', str(error))

    def test_garbage_log_is_refused(self):
        error = self.assertRaises(exception.KeylimeError, mb_policy.create,
                                  self.tool, b'\x00' * 64,
                                  without_secureboot=True)
        self.assertIn('failed', str(error))
