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

"""What the previous release reads of the records this one writes.

During a rolling upgrade or a rollback, a conductor of the previous
release (commit 8c972c9, ``upgrade_env.OLD_RELEASE`` of the functional
tests) finishes the attestations a conductor of this release started, and
the other way round; ``test_upgrade_real`` runs both against a real
Keylime. The previous release reads the driver_internal_info keys and the
record fields named here, in these forms (its
``drivers/modules/keylime/record.py``, ``verdict.py``, ``removal.py``
and ``agent.py``). A change to them breaks the roll: keep them, or
document the constraint in doc/source/admin/upgrade.rst.
"""

from oslo_utils import timeutils

from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests.unit.drivers import base

#: The driver_internal_info keys the previous release reads.
STATE_KEY = 'keylime_attestation'
REMOVAL_KEY = 'keylime_removal'
AGENT_KEYS = ('keylime_agent_uuid', 'keylime_agent_address',
              'keylime_agent_port')


def previous_is_current(record, operation):
    """The previous release's test of a record (``record.is_current``).

    Its other half, the node waiting in the attest step, is Ironic's.
    """
    return bool(record.get('attempt')
                and record.get('operation') == operation)


def previous_endpoint(value):
    """How the previous release reads a [host, port] of a record."""
    return value[0], int(value[1])


class PreviousReleaseReadsTestCase(base.KeylimeTestCase):

    def test_keys(self):
        self.assertEqual(STATE_KEY, kl_record.STATE_KEY)
        self.assertEqual(REMOVAL_KEY, kl_record.REMOVAL_KEY)
        self.assertEqual(AGENT_KEYS, driver_info.AGENT_KEYS)

    def _assert_readable(self, operation):
        node = self.create_node(operation, driver_info=self.driver_info(
            keylime_vp=18881, keylime_rp=18891))
        self.attest(node)
        node.refresh()
        record = node.driver_internal_info[STATE_KEY]
        self.assertTrue(previous_is_current(record, operation), record)
        self.assertEqual(base.AGENT_UUID, record['agent_uuid'])
        self.assertEqual((node.driver_info['keylime_v'], 18881),
                         previous_endpoint(record['verifier']))
        self.assertEqual((node.driver_info['keylime_r'], 18891),
                         previous_endpoint(record['registrar']))
        # The previous release measures attestation_timeout from it.
        timeutils.parse_isotime(record['started_at'])
        return record

    def test_record_of_a_deploy_attempt(self):
        self._assert_readable('deploy')

    def test_record_of_a_clean_attempt(self):
        self._assert_readable('clean')

    def test_removal_record(self):
        record = self._assert_readable('deploy')
        removal = kl_record.removal(record)
        self.assertEqual(record['agent_uuid'], removal['agent_uuid'])
        self.assertEqual(previous_endpoint(record['verifier']),
                         previous_endpoint(removal['verifier']))
        timeutils.parse_isotime(removal['since'])
