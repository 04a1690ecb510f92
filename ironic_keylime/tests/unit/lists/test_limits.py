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

"""The size limits of every list read: conductor files, Swift, the cache.

Swift is the in-memory one at the HTTP edge (:mod:`.fake_swift`).
"""

import os

import fixtures
from oslo_config import cfg
from oslotest import base as test_base

from ironic_keylime import conf as kl_conf
from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import exception
from ironic_keylime.lists import formats
from ironic_keylime.lists import local
from ironic_keylime.lists import mb_store
from ironic_keylime.lists import prepare
from ironic_keylime.lists import swift
from ironic_keylime.lists import swift_connection
from ironic_keylime.tests.unit.lists import fake_swift

ALLOWLIST = b''.join(b'%s  /usr/lib/file-%05d\n' % (b'a' * 64, i)
                     for i in range(100))
EXCLUDELIST = b'/tmp/.*\n' * 10


def _limits(allowlist=1024 * 1024, excludelist=1024):
    return {
        formats.ALLOWLIST: formats.Limit(
            allowlist, '[keylime]max_allowlist_size', '%d B' % allowlist),
        formats.EXCLUDELIST: formats.Limit(
            excludelist, '[keylime]max_excludelist_size',
            '%d B' % excludelist)}


class LimitsTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.parent = os.path.join(self.dir, 'parent')
        os.mkdir(self.parent)
        self.swift = self.useFixture(fake_swift.FakeSwift())
        session = fake_swift.session()
        self.conn = swift_connection.SwiftConnection(
            swift_connection.Settings('', 5, 0, 0),
            lambda: (session, fake_swift.ACCOUNT_URL), 'test settings')

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def refused(self, source, setting):
        def use():
            with prepare.prepared_lists(
                    source, require_checksum=False,
                    require_excludelist_checksum=False, parent=self.parent):
                pass
        error = self.assertRaises(exception.ListTooLarge, use)
        self.assertIn(setting, str(error))
        # Nothing of it is left on the conductor.
        self.assertEqual([], os.listdir(self.parent))
        return str(error)

    def local(self, limits):
        return local.LocalListSource(
            self.write('allowlist', ALLOWLIST), None,
            self.write('excludelist', EXCLUDELIST), [self.dir],
            limits=limits)

    def test_conductor_files(self):
        message = self.refused(self.local(_limits(allowlist=1000)),
                               '[keylime]max_allowlist_size')
        self.assertIn('The allowlist %s (driver_info/keylime_allowlist) '
                      'is larger than 1000 B ([keylime]max_allowlist_size)'
                      % os.path.join(self.dir, 'allowlist'), message)
        self.refused(self.local(_limits(excludelist=79)),
                     '[keylime]max_excludelist_size')
        self.assertTrue(self.use(self.local(_limits(excludelist=80))))

    def use(self, source):
        with prepare.prepared_lists(
                source, require_checksum=False,
                require_excludelist_checksum=False,
                parent=self.parent) as lists:
            return lists.excludelist is not None

    def swift_source(self, limits, cache_bytes=0):
        cache = list_cache.ListCache(os.path.join(self.dir, 'cache'),
                                     cache_bytes)
        return swift.SwiftListSource('c', self.conn, cache, limits=limits)

    def test_swift_by_its_length(self):
        # Swift says how large the object is: refused before its body is
        # read.
        self.swift.put('c', 'allowlist', ALLOWLIST)
        message = self.refused(self.swift_source(_limits(allowlist=1000)),
                               '[keylime]max_allowlist_size')
        self.assertIn('object allowlist of container c is larger', message)

    def test_swift_lying_about_its_length(self):
        # A server that announces less: the stream stops at the limit.
        self.swift.put('c', 'allowlist', ALLOWLIST)
        self.swift.put('c', 'excludelist', EXCLUDELIST * 100)
        self.swift.lengths['excludelist'] = '10'
        self.refused(self.swift_source(_limits()),
                     '[keylime]max_excludelist_size')

    def test_swift_cache_entry_over_a_lowered_limit(self):
        self.swift.put('c', 'allowlist', ALLOWLIST)
        self.assertFalse(self.use(self.swift_source(_limits(), 1 << 20)))
        self.refused(self.swift_source(_limits(allowlist=1000), 1 << 20),
                     '[keylime]max_allowlist_size')

    def test_measured_boot_policy(self):
        path = os.path.join(self.dir, 'copy')
        error = self.assertRaises(
            exception.ListTooLarge, mb_store.fetch_file,
            self.write('mb', b'{' * 2000), path, [self.dir],
            'keylime_mb_policy', mb_store.limit(1))
        self.assertIn('larger than 1 KiB ([keylime]max_mb_policy_size)',
                      str(error))
        self.assertFalse(os.path.exists(path))


class DefaultsTestCase(test_base.BaseTestCase):

    def test_defaults_are_the_options_defaults(self):
        conf = cfg.ConfigOpts()
        kl_conf.register_opts(conf)
        conf([], project='ironic')
        self.assertEqual(formats.default_limits(),
                         formats.list_limits(conf))
        self.assertEqual(mb_store.DEFAULT_MAX_KIB,
                         conf.keylime.max_mb_policy_size)
        self.assertEqual(64 * 1024 * 1024,
                         formats.default_limits()['allowlist'].max_bytes)
