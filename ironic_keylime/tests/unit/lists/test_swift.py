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

"""Fetching lists from a container (with the cache) and publishing them.

Against an in-memory Swift at the HTTP edge (see :mod:`.fake_swift`; the
functional tests use a real Swift).
"""

import hashlib
import os

import fixtures
from oslotest import base as test_base

from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import exception
from ironic_keylime.lists import prepare
from ironic_keylime.lists import swift
from ironic_keylime.lists import swift_connection
from ironic_keylime.tests.unit.lists import fake_swift
from ironic_keylime.tests import utils

ALLOWLIST = ('%s  boot_aggregate\n%s  /usr/bin/bash\n'
             % ('0' * 64, 'a' * 64)).encode()
DIGEST = hashlib.sha256(ALLOWLIST).hexdigest()
EXCLUDELIST = b'/proc/.*\n'
XDIGEST = hashlib.sha256(EXCLUDELIST).hexdigest()


class SwiftListsTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.swift = self.useFixture(fake_swift.FakeSwift())
        self.dir = self.useFixture(fixtures.TempDir()).path
        session = fake_swift.session()
        self.conn = swift_connection.SwiftConnection(
            swift_connection.Settings('', 5, 0, 0),
            lambda: (session, fake_swift.ACCOUNT_URL), 'test settings')
        self.cache = list_cache.ListCache(os.path.join(self.dir, 'cache'),
                                          1024 * 1024)

    def write(self, name, data):
        return utils.write_file(self.dir, name, data)

    def fetch(self):
        workdir = os.path.join(self.dir, 'work')
        os.mkdir(workdir)
        try:
            source = swift.SwiftListSource('c', self.conn, self.cache)
            fetched = source.fetch(workdir)
            with open(fetched.allowlist, 'rb') as f:
                allowlist = f.read()
            excludelist = None
            if fetched.excludelist:
                with open(fetched.excludelist, 'rb') as f:
                    excludelist = f.read()
            return fetched, allowlist, excludelist
        finally:
            for name in os.listdir(workdir):
                os.unlink(os.path.join(workdir, name))
            os.rmdir(workdir)

    def gets(self):
        return [r['path'] for r in self.swift.requests
                if r['method'] == 'GET']

    def test_published_lists_are_what_the_conductor_accepts(self):
        changes = swift.publish(self.conn, 'c',
                                self.write('allowlist', ALLOWLIST),
                                self.write('excludelist', EXCLUDELIST))
        self.assertEqual(
            [('uploaded', 'allowlist', len(ALLOWLIST), DIGEST),
             ('uploaded', 'allowlist_checksum', 76, DIGEST),
             ('uploaded', 'excludelist', len(EXCLUDELIST), XDIGEST),
             ('uploaded', 'excludelist_checksum', 78, XDIGEST)],
            [tuple(c) for c in changes])
        source = swift.SwiftListSource('c', self.conn, self.cache)
        with prepare.prepared_lists(source, parent=self.dir) as lists:
            with open(lists.allowlist, 'rb') as f:
                self.assertEqual(ALLOWLIST, f.read())
            self.assertIsNotNone(lists.excludelist)

    def test_publish_without_excludelist_deletes_it_and_its_checksum(self):
        self.swift.put('c', 'excludelist', b'/x/.*\n')
        self.swift.put('c', 'excludelist_checksum', b'f' * 64)
        changes = swift.publish(self.conn, 'c',
                                self.write('allowlist', ALLOWLIST))
        self.assertEqual([('deleted', 'excludelist'),
                          ('deleted', 'excludelist_checksum')],
                         [(c.action, c.name) for c in changes[2:]])
        self.assertEqual(['allowlist', 'allowlist_checksum'],
                         sorted(self.swift.containers['c']))

    def test_publish_refuses_an_excludelist_that_hides_everything(self):
        error = self.assertRaises(exception.ListError, swift.publish,
                                  self.conn, 'c',
                                  self.write('allowlist', ALLOWLIST),
                                  self.write('excludelist', b'.*\n'))
        self.assertIn("Line 1 of the excludelist", str(error))
        self.assertEqual([], self.swift.requests)

    def test_publish_checks_before_uploading(self):
        self.assertRaises(exception.ListError, swift.publish, self.conn,
                          'c', self.write('allowlist', b'\n'))
        self.assertRaises(exception.ListError, swift.publish, self.conn,
                          'c', self.write('allowlist', ALLOWLIST),
                          self.write('excludelist', b'/bad/(\n'))
        self.assertRaises(exception.ListError, swift.publish, self.conn,
                          'c', os.path.join(self.dir, 'missing'))
        self.assertEqual([], self.swift.requests)

    def test_publish_retries_a_passing_failure(self):
        self.conn.settings = self.conn.settings._replace(retries=1)
        self.swift.failures = [('PUT', '/c/allowlist', 503)]
        swift.publish(self.conn, 'c', self.write('allowlist', ALLOWLIST))
        # The file was sent again, whole.
        self.assertEqual(ALLOWLIST, self.swift.containers['c']['allowlist'])

    def test_second_fetch_comes_from_the_cache(self):
        self.swift.put('c', 'allowlist', ALLOWLIST)
        self.swift.put('c', 'allowlist_checksum', DIGEST.encode())
        self.swift.put('c', 'excludelist', EXCLUDELIST)
        self.swift.put('c', 'excludelist_checksum', XDIGEST.encode())
        fetched, allowlist, excludelist = self.fetch()
        self.assertEqual((ALLOWLIST, EXCLUDELIST), (allowlist, excludelist))
        self.assertEqual((DIGEST, DIGEST),
                         (fetched.allowlist_sha256, fetched.checksum))
        self.assertEqual((XDIGEST, XDIGEST),
                         (fetched.excludelist_sha256,
                          fetched.excludelist_checksum))
        self.swift.requests = []
        fetched, allowlist, excludelist = self.fetch()
        self.assertEqual((ALLOWLIST, EXCLUDELIST), (allowlist, excludelist))
        # Only the small checksum objects are downloaded again.
        self.assertEqual(['/v1/AUTH_test/c/allowlist_checksum',
                          '/v1/AUTH_test/c/excludelist_checksum'],
                         self.gets())

    def test_changed_object_is_downloaded_again(self):
        self.swift.put('c', 'allowlist', ALLOWLIST)
        self.fetch()
        changed = ALLOWLIST + b'%s  /usr/bin/ls\n' % (b'b' * 64)
        self.swift.put('c', 'allowlist', changed)
        fetched, allowlist, _x = self.fetch()
        self.assertEqual(changed, allowlist)
        self.assertEqual(hashlib.sha256(changed).hexdigest(),
                         fetched.allowlist_sha256)

    def test_missing_container_and_object_are_told_apart(self):
        error = self.assertRaises(exception.ListError, self.fetch)
        self.assertIn('container c does not exist', str(error))
        self.swift.put('c', 'other', b'')
        error = self.assertRaises(exception.ListError, self.fetch)
        self.assertIn('container c has no object allowlist', str(error))

    def test_no_checksum_and_no_excludelist(self):
        self.swift.put('c', 'allowlist', ALLOWLIST)
        fetched, _a, excludelist = self.fetch()
        self.assertIsNone(fetched.checksum)
        self.assertIsNone(fetched.excludelist)
        self.assertIsNone(fetched.excludelist_sha256)
        self.assertIsNone(fetched.excludelist_checksum)
