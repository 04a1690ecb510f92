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

"""``node attestation show`` and ``list``: rows and filters.

The commands themselves run against a real Ironic in the functional tests
(test_ironic_real, after a PASS and after a FAIL); here, what they make of
a node's fields.
"""

import datetime

from osc_lib import exceptions
from oslotest import base as oslo_base

from ironic_keylime.cli import attestation as cli

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.timezone.utc)


def _node(verdict=None, at='2026-12-06T11:00:00', policy=None, pin=None,
          **info):
    internal = {}
    if verdict:
        internal[cli.LAST_ATTESTATION] = {
            'verdict': verdict, 'at': at, 'operation': 'clean',
            'step': 'attest', 'attempt': 'a1', 'verifier': '10.0.0.1:8881',
            'event_id': None, 'message': 'm',
            'golden_state': {'tpm_policy_sha256': 'ab' * 32,
                             'mb_policy_sha256': None,
                             'enrolled_at': '2026-12-01T00:00:00'},
            'ek_sha256': pin}
    driver_info = {'keylime_v': '10.0.0.1', 'keylime_container': 'lists'}
    if policy:
        driver_info[cli.TPM_POLICY] = policy
    if pin:
        driver_info[cli.EK_PIN] = pin
    driver_info.update(info)
    return {'uuid': 'u-%s' % verdict, 'name': 'n', 'driver': 'ipmi',
            'provision_state': 'available', 'driver_info': driver_info,
            'driver_internal_info': internal,
            'attestation_interface': 'keylime'}


class RowTestCase(oslo_base.BaseTestCase):

    def test_row_has_every_column(self):
        row = cli.row(_node('PASS', policy='{"0": ["00"]}', pin='cd' * 32))
        self.assertEqual(set(cli.SHOW_COLUMNS), set(row))
        self.assertTrue(row['enrolled'])
        self.assertEqual('cd' * 32, row['ek_sha256'])
        self.assertEqual('swift:lists', row['list_source'])
        self.assertEqual('PASS', row['last_verdict'])
        self.assertEqual('ab' * 32, row['last_tpm_policy_sha256'])
        self.assertEqual('2026-12-01T00:00:00', row['last_enrolled_at'])

    def test_never_attested(self):
        row = cli.row(_node())
        self.assertIsNone(row['last_verdict'])
        self.assertFalse(row['enrolled'])

    def test_hidden_internal_info_is_explained(self):
        node = _node('PASS')
        node['driver_internal_info'] = None
        error = self.assertRaises(exceptions.CommandError, cli.row, node)
        self.assertIn('baremetal:node:get:driver_internal_info',
                      str(error))

    def test_names_agree_with_the_conductor(self):
        # The conductor's modules import Ironic; the client cannot.
        from ironic_keylime.drivers.modules.keylime import driver_info
        from ironic_keylime.drivers.modules.keylime import last_attestation
        from ironic_keylime.drivers.modules.keylime import tpm_binding
        self.assertEqual(last_attestation.ATTESTATION_KEY,
                         cli.LAST_ATTESTATION)
        self.assertEqual(last_attestation.ENROLLMENT_KEY,
                         cli.LAST_ENROLLMENT)
        self.assertEqual(driver_info.TPM_POLICY, cli.TPM_POLICY)
        self.assertEqual(tpm_binding.DRIVER_INFO_KEY, cli.EK_PIN)
        self.assertEqual(driver_info.MB_POLICY_SHA256, cli.MB_POLICY_PIN)
        self.assertEqual(driver_info.BOOT_AGGREGATE, cli.BOOT_AGGREGATE)
        self.assertEqual(driver_info.PIN_KEYS, cli.LIST_PINS)


class FilterTestCase(oslo_base.BaseTestCase):

    def _rows(self):
        return [cli.row(_node('PASS', policy='{}')),
                cli.row(_node('FAIL', at='2026-11-01T00:00:00')),
                cli.row(_node('timeout')),
                cli.row(_node())]

    def _verdicts(self, **filters):
        return [r['last_verdict'] for r in
                cli.selected(self._rows(), now=NOW, **filters)]

    def test_no_filter(self):
        self.assertEqual(['PASS', 'FAIL', 'timeout', None],
                         self._verdicts())

    def test_failed(self):
        self.assertEqual(['FAIL', 'timeout'], self._verdicts(failed=True))

    def test_not_enrolled(self):
        self.assertEqual(['FAIL', 'timeout', None],
                         self._verdicts(not_enrolled=True))

    def test_older_than(self):
        # The FAIL is 35 days old; the node never attested counts too.
        self.assertEqual(['FAIL', None], self._verdicts(older_than=30))
