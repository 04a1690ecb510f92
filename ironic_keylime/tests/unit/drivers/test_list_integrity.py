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

"""Every list sent to Keylime is verified before any tenant call.

The admin workflow (conductor files) on Ironic's real nodes and tasks,
with the replaying keylime_tenant: the excludelist has a checksum, the
driver_info pins win over the checksum files, and an excludelist that
would hide everything is refused.
"""

import hashlib

from ironic.common import exception
from ironic.conductor import task_manager

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.tests.unit.drivers import base

ALLOWLIST_SHA256 = hashlib.sha256(base.ALLOWLIST).hexdigest()
EXCLUDELIST_SHA256 = hashlib.sha256(b'/tmp/.*\n').hexdigest()


class ListIntegrityTestCase(base.KeylimeTestCase):

    def assertRefusedBeforeTheTenant(
            self, fragments, node,
            cls=kl_ironic_exception.AttestationFailure):
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(cls, self.iface.attest, task)
        for fragment in fragments:
            self.assertIn(fragment, str(error))
        self.assertEqual([], self.fake.calls())
        self.assertNothingLeft(node)

    def test_excludelist_hiding_everything_refused(self):
        # The one line ".*" would make Keylime ignore every measurement;
        # its checksum matches, as whoever writes the lists can make it.
        self.write('excludelist', b'.*\n')
        self.write('excludelist.sha256',
                   hashlib.sha256(b'.*\n').hexdigest().encode())
        self.assertRefusedBeforeTheTenant(
            ["Line 1 of the excludelist", "'.*'",
             'does not start with the literal directory'], self.create_node())

    def test_excludelist_checksum_mismatch(self):
        self.write('excludelist', b'/tmp/.*\n/usr/local/.*\n')
        self.assertRefusedBeforeTheTenant(
            ['The excludelist', 'does not match its checksum'],
            self.create_node())

    def test_excludelist_without_checksum(self):
        info = self.driver_info()
        del info['keylime_excludelist_checksum']
        self.assertRefusedBeforeTheTenant(
            ['driver_info/keylime_excludelist_checksum is required',
             '[keylime]require_excludelist_checksum'],
            self.create_node(driver_info=info),
            cls=exception.MissingParameterValue)

    def test_allowlist_pin_mismatch(self):
        # The checksum file matches the changed list; the pin does not.
        self.write('allowlist', base.ALLOWLIST + b'%s  /evil\n'
                   % (b'b' * 64))
        self.write('allowlist.sha256', hashlib.sha256(
            base.ALLOWLIST + b'%s  /evil\n'
            % (b'b' * 64)).hexdigest().encode())
        node = self.create_node(driver_info=self.driver_info(
            keylime_allowlist_sha256=ALLOWLIST_SHA256,
            keylime_excludelist_sha256=EXCLUDELIST_SHA256))
        self.assertRefusedBeforeTheTenant(
            ['does not match driver_info/keylime_allowlist_sha256',
             ALLOWLIST_SHA256], node)

    def test_pins_win_over_checksum_files(self):
        self.write('allowlist.sha256', b'f' * 64)
        self.write('excludelist.sha256', b'f' * 64)
        node = self.create_node(driver_info=self.driver_info(
            keylime_allowlist_sha256=ALLOWLIST_SHA256.upper(),
            keylime_excludelist_sha256=EXCLUDELIST_SHA256))
        self.attest(node)
        self.assertEqual(1, len(self.fake.calls('add')))

    def test_unpinned_excludelist_next_to_a_pinned_allowlist(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_allowlist_sha256=ALLOWLIST_SHA256))
        self.assertRefusedBeforeTheTenant(
            ['is not pinned', 'driver_info/keylime_excludelist_sha256'],
            node)


class PinsTestCase(base.KeylimeTestCase):

    def test_pins_parsed(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_allowlist_sha256=' %s ' % ALLOWLIST_SHA256.upper(),
            keylime_excludelist_sha256=EXCLUDELIST_SHA256))
        info = driver_info.parse_driver_info(node)
        self.assertEqual((ALLOWLIST_SHA256, EXCLUDELIST_SHA256),
                         (info.allowlist_sha256, info.excludelist_sha256))

    def test_bad_pins_refused(self):
        for key in driver_info.PIN_KEYS:
            for value in ('abc', 'g' * 64, 64, ALLOWLIST_SHA256 + '0'):
                node = self.create_node(
                    driver_info=self.driver_info(**{key: value}))
                error = self.assertRaises(
                    exception.InvalidParameterValue,
                    driver_info.parse_driver_info, node)
                self.assertIn('driver_info/%s' % key, str(error))

    def test_pin_replaces_the_checksum_file(self):
        info = self.driver_info(
            keylime_allowlist_sha256=ALLOWLIST_SHA256,
            keylime_excludelist_sha256=EXCLUDELIST_SHA256)
        del info['keylime_allowlist_checksum']
        del info['keylime_excludelist_checksum']
        node = self.create_node(driver_info=info)
        self.attest(node)
        self.assertEqual(1, len(self.fake.calls('add')))

    def test_excludelist_checksum_file_confined(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_excludelist_checksum='/etc/shadow'))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn('driver_info/keylime_excludelist_checksum',
                      str(error))

    def test_properties(self):
        for key in ('keylime_excludelist_checksum',
                    'keylime_allowlist_sha256',
                    'keylime_excludelist_sha256'):
            self.assertIn(key, self.iface.get_properties())
