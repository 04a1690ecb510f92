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

"""The list cache on real files; the Swift side is in the functional
tests (ironic_keylime/tests/functional/test_swift_lists.py)."""

import os
import stat
import time

import fixtures
from oslotest import base as test_base

from ironic_keylime.lists import cache


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class CacheTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.directory = os.path.join(self.root, 'cache')
        self.cache = cache.ListCache(self.directory, 1000)

    def store(self, key, data, target=None):
        writer = (target or self.cache).writer(key)
        for i in range(0, len(data), 7):
            writer.write(data[i:i + 7])
        return writer.commit()

    def read(self, key):
        entry = self.cache.open(key)
        if entry is None:
            return None
        with entry:
            return entry.read()

    def test_keys_separate_their_parts(self):
        self.assertNotEqual(cache.make_key('ab', 'c'),
                            cache.make_key('a', 'bc'))
        self.assertEqual(cache.make_key('u', 'c', 'o', 'etag1'),
                         cache.make_key('u', 'c', 'o', 'etag1'))
        self.assertNotEqual(cache.make_key('u', 'c', 'o', 'etag1'),
                            cache.make_key('u', 'c', 'o', 'etag2'))

    def test_store_and_read_privately(self):
        key = cache.make_key('x')
        self.assertIsNone(self.read(key))
        self.assertTrue(self.store(key, b'0123456789' * 10))
        self.assertEqual(b'0123456789' * 10, self.read(key))
        self.assertEqual(0o700, mode(self.directory))
        self.assertEqual(0o600, mode(os.path.join(self.directory, key)))
        self.assertEqual([key], os.listdir(self.directory))

    def test_directory_made_private(self):
        os.mkdir(self.directory, 0o755)
        self.store(cache.make_key('x'), b'data')
        self.assertEqual(0o700, mode(self.directory))

    def test_entry_invisible_until_commit(self):
        key = cache.make_key('x')
        writer = self.cache.writer(key)
        writer.write(b'part')
        self.assertIsNone(self.read(key))
        writer.abort()
        self.assertEqual([], os.listdir(self.directory))

    def test_too_large_is_not_stored(self):
        key = cache.make_key('x')
        self.assertFalse(self.cache.fits(1001))
        self.assertTrue(self.cache.fits(1000))
        self.assertFalse(self.store(key, b'x' * 1001))
        self.assertIsNone(self.read(key))
        self.assertEqual([], os.listdir(self.directory))

    def test_least_recently_used_evicted(self):
        keys = [cache.make_key(str(i)) for i in range(3)]
        self.store(keys[0], b'a' * 400)
        self.store(keys[1], b'b' * 400)
        past = time.time() - 100
        os.utime(os.path.join(self.directory, keys[0]), (past, past))
        os.utime(os.path.join(self.directory, keys[1]), (past - 10,
                                                         past - 10))
        # keys[1] was used longer ago than keys[0]: it goes first.
        self.store(keys[2], b'c' * 400)
        self.assertEqual(sorted([keys[0], keys[2]]),
                         sorted(os.listdir(self.directory)))

    def test_reading_marks_as_used(self):
        keys = [cache.make_key(str(i)) for i in range(3)]
        self.store(keys[0], b'a' * 400)
        self.store(keys[1], b'b' * 400)
        past = time.time() - 100
        for key in keys[:2]:
            os.utime(os.path.join(self.directory, key), (past, past))
        self.read(keys[0])
        self.store(keys[2], b'c' * 400)
        self.assertEqual(sorted([keys[0], keys[2]]),
                         sorted(os.listdir(self.directory)))

    def test_disabled(self):
        disabled = cache.ListCache(self.directory, 0)
        self.assertFalse(disabled.enabled)
        self.assertIsNone(disabled.writer(cache.make_key('x')))
        self.assertIsNone(disabled.open(cache.make_key('x')))
        self.assertFalse(os.path.exists(self.directory))
        self.assertFalse(cache.ListCache(None, 100).enabled)

    def test_entry_readable_by_others_is_dropped(self):
        key = cache.make_key('x')
        self.store(key, b'data')
        os.chmod(os.path.join(self.directory, key), 0o644)
        self.assertIsNone(self.read(key))
        self.assertEqual([], os.listdir(self.directory))

    def test_symlink_entry_is_not_followed(self):
        target = os.path.join(self.root, 'elsewhere')
        with open(target, 'wb') as f:
            f.write(b'not from swift')
        os.chmod(target, 0o600)
        self.store(cache.make_key('y'), b'data')
        key = cache.make_key('x')
        os.symlink(target, os.path.join(self.directory, key))
        self.assertIsNone(self.read(key))

    def test_unusable_directory_is_skipped(self):
        with open(self.directory, 'wb') as f:
            f.write(b'a file, not a directory')
        self.assertIsNone(self.cache.writer(cache.make_key('x')))
        self.assertIsNone(self.read(cache.make_key('x')))

    def test_directory_of_another_user_is_not_used(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to give the directory away')
        os.mkdir(self.directory, 0o700)
        key = cache.make_key('x')
        with open(os.path.join(self.directory, key), 'wb') as f:
            f.write(b'planted')
        os.chmod(os.path.join(self.directory, key), 0o600)
        os.chown(self.directory, 65534, 65534)
        self.assertIsNone(self.cache.writer(key))
        self.assertIsNone(self.read(key))

    def test_old_temporary_files_removed(self):
        self.store(cache.make_key('x'), b'data')
        leftover = os.path.join(self.directory, '.tmp-crashed')
        with open(leftover, 'wb') as f:
            f.write(b'partial')
        old = time.time() - 7200
        os.utime(leftover, (old, old))
        self.store(cache.make_key('y'), b'data')
        self.assertFalse(os.path.exists(leftover))

    def test_bad_key_refused(self):
        self.assertRaises(ValueError, self.cache.open, '../etc/passwd')
