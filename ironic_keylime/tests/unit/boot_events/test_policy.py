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

"""The golden boot policy: what the conductor makes, the engine accepts."""

import json

from oslotest import base

from ironic_keylime.boot_events import policy

EVENT = {'pcr': 4, 'type': 'EV_EFI_BOOT_SERVICES_APPLICATION',
         'sha256': 'ab' * 32, 'text': None}
PARAMETERS = {'ipa-global-request-id': 'req-[0-9a-f-]{36}'}


class PolicyTestCase(base.BaseTestCase):

    def test_made_policy_passes_the_check(self):
        made = policy.make([EVENT], PARAMETERS, ['console=ttyS0'])
        self.assertEqual(([EVENT], PARAMETERS, ['console=ttyS0']),
                         policy.check(made))
        self.assertNotIn('kernel_command_lines',
                         policy.make([EVENT], PARAMETERS))

    def test_marked(self):
        made = policy.make([EVENT], PARAMETERS)
        self.assertTrue(policy.is_golden_boot_policy(made))
        self.assertTrue(policy.is_golden_boot_policy(json.dumps(made)))
        self.assertTrue(policy.is_golden_boot_policy(
            json.dumps(made).encode()))
        for other in ({}, '{"meta": {}}', 'not json', None, [made]):
            self.assertFalse(policy.is_golden_boot_policy(other), other)

    def test_other_policy_or_version_refused(self):
        for other in ({}, [], {'meta': {'version': 1}},
                      dict(policy.make([EVENT], PARAMETERS),
                           **{policy.MARKER: 2})):
            self.assertRaisesRegex(ValueError, 'runs the ironic-keylime '
                                   'engine', policy.check, other)

    def test_malformed_events_refused(self):
        bad = [dict(EVENT, pcr=True), dict(EVENT, pcr='4'),
               dict(EVENT, sha256='AB' * 32), dict(EVENT, sha256='ab'),
               dict(EVENT, text=4), dict(EVENT, extra=1),
               {k: v for k, v in EVENT.items() if k != 'text'}, 'event']
        for event in bad:
            self.assertFalse(policy.valid_event(event), event)
            self.assertRaisesRegex(
                ValueError, 'malformed golden event', policy.check,
                policy.make([EVENT, event], PARAMETERS))
        self.assertRaisesRegex(ValueError, 'no golden events', policy.check,
                               policy.make([], PARAMETERS))

    def test_command_lines_bounded(self):
        made = policy.make([EVENT], PARAMETERS)
        for lines in (['x'] * (policy.MAX_COMMAND_LINES + 1), ['x' * 4097],
                      [4], 'console=ttyS0'):
            made['kernel_command_lines'] = lines
            self.assertRaisesRegex(ValueError, 'kernel command lines',
                                   policy.check, made)

    def test_per_boot_parameters_an_object(self):
        made = policy.make([EVENT], PARAMETERS)
        made['per_boot_parameters'] = ['ipa-global-request-id']
        self.assertRaisesRegex(ValueError, 'per-boot parameters',
                               policy.check, made)
