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

"""Verified lists in a private directory that never outlives its use."""

import hashlib
import os
import stat

import fixtures
from oslotest import base

from ironic_keylime.lists import exception
from ironic_keylime.lists import local
from ironic_keylime.lists import prepare
from ironic_keylime.tests import utils

SHA1_ZEROS = '0' * 40
CONTENT = ('%s  boot_aggregate\n%s  /usr/bin/bash\n'
           % (SHA1_ZEROS, 'a' * 64)).encode()
DIGEST = hashlib.sha256(CONTENT).hexdigest()


class ListFilesTestCase(base.BaseTestCase):
    """An allowed directory with an allowlist and its checksum."""

    def setUp(self):
        super().setUp()
        self.allowed = self.useFixture(fixtures.TempDir()).path
        self.parent = self.useFixture(fixtures.TempDir()).path
        self.allowlist = self.write('allowlist', CONTENT)
        self.checksum = self.write('sum', DIGEST.encode())

    def write(self, name, content):
        return utils.write_file(self.allowed, name, content)


class PreparedListsTestCase(ListFilesTestCase):

    def source(self, checksum=True):
        return local.LocalListSource(
            self.allowlist, self.checksum if checksum else None, None,
            [self.allowed])

    def prepared(self, **kwargs):
        return prepare.prepared_lists(self.source(kwargs.pop('checksum',
                                                             True)),
                                      parent=self.parent, **kwargs)

    def test_private_and_removed_after_use(self):
        with self.prepared() as lists:
            self.assertEqual(self.parent, os.path.dirname(lists.workdir))
            self.assertTrue(os.path.basename(lists.workdir).startswith(
                prepare.WORKDIR_PREFIX))
            self.assertEqual(0o700, stat.S_IMODE(
                os.stat(lists.workdir).st_mode))
            self.assertEqual(0o600, stat.S_IMODE(
                os.stat(lists.allowlist).st_mode))
            self.assertIsNone(lists.excludelist)
        self.assertEqual([], os.listdir(self.parent))

    def test_removed_when_the_user_fails(self):
        def use():
            with self.prepared():
                raise RuntimeError('tenant failed')
        self.assertRaises(RuntimeError, use)
        self.assertEqual([], os.listdir(self.parent))

    def test_checksum_mismatch(self):
        self.write('sum', b'f' * 64)

        def use():
            with self.prepared():
                self.fail('lists with a wrong checksum were handed out')
        error = self.assertRaises(exception.ChecksumMismatch, use)
        self.assertIn(DIGEST, str(error))
        self.assertEqual([], os.listdir(self.parent))

    def test_checksum_required(self):
        def use():
            with self.prepared(checksum=False):
                pass
        error = self.assertRaises(exception.ListError, use)
        self.assertIn('[keylime]require_allowlist_checksum', str(error))

    def test_checksum_optional(self):
        with self.prepared(checksum=False, require_checksum=False) as lists:
            self.assertTrue(os.path.exists(lists.allowlist))

    def test_empty_allowlist(self):
        self.allowlist = self.write('allowlist', b'# nothing\n')
        self.checksum = self.write(
            'sum', hashlib.sha256(b'# nothing\n').hexdigest().encode())

        def use():
            with self.prepared():
                pass
        error = self.assertRaises(exception.ListError, use)
        self.assertIn('has no entries', str(error))

    def test_boot_aggregate_fixed_after_checksum(self):
        # The checksum is of the original list; the fix comes after.
        with self.prepared(ima_hash_algorithm='sha256') as lists:
            with open(lists.allowlist) as f:
                first = f.readline()
        self.assertEqual('%s  boot_aggregate\n' % ('0' * 64), first)
        with open(self.allowlist, 'rb') as f:
            self.assertEqual(CONTENT, f.read())

    def test_boot_aggregate_fix_off(self):
        with self.prepared(fix_boot_aggregate=False) as lists:
            with open(lists.allowlist, 'rb') as f:
                self.assertEqual(CONTENT, f.read())

    def test_runtime_policy_built_when_the_tenant_takes_one(self):
        with self.prepared(use_runtime_policy=lambda: True) as lists:
            self.assertEqual(os.path.join(lists.workdir,
                                          prepare.RUNTIME_POLICY),
                             lists.runtime_policy)
            with open(lists.runtime_policy, 'rb') as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                                 lists.runtime_policy_sha256)
        with self.prepared(use_runtime_policy=lambda: False) as lists:
            self.assertIsNone(lists.runtime_policy)
            self.assertEqual(['allowlist'], os.listdir(lists.workdir))


EXCLUDES = b'/tmp/.*\n'
XDIGEST = hashlib.sha256(EXCLUDES).hexdigest()


class ExcludelistTestCase(ListFilesTestCase):
    """The excludelist is verified like the allowlist, and checked."""

    def setUp(self):
        super().setUp()
        self.excludelist = self.write('excludelist', EXCLUDES)
        self.xsum = self.write('xsum', XDIGEST.encode())

    def source(self, checksum=True, xsum=True):
        return local.LocalListSource(
            self.allowlist, self.checksum if checksum else None,
            self.excludelist, [self.allowed],
            excludelist_checksum=self.xsum if xsum else None)

    def prepared(self, **kwargs):
        source = self.source(kwargs.pop('checksum', True),
                             kwargs.pop('xsum', True))
        return prepare.prepared_lists(source, parent=self.parent, **kwargs)

    def use(self, **kwargs):
        with self.prepared(**kwargs) as lists:
            return lists.excludelist is not None

    def assertRefused(self, fragments, cls=exception.ListError, **kwargs):
        error = self.assertRaises(cls, self.use, **kwargs)
        for fragment in fragments:
            self.assertIn(fragment, str(error))
        self.assertEqual([], os.listdir(self.parent))
        return error

    def test_verified_excludelist(self):
        self.assertTrue(self.use())

    def test_excludelist_checksum_required(self):
        self.assertRefused(['excludelist from conductor file',
                            'has no checksum',
                            '[keylime]require_excludelist_checksum',
                            'excludelist_checksum'], xsum=False)
        self.assertTrue(self.use(xsum=False,
                                 require_excludelist_checksum=False))

    def test_excludelist_checksum_mismatch(self):
        self.write('excludelist', b'/tmp/.*\n/opt/.*\n')
        self.assertRefused(['The excludelist', 'does not match its checksum',
                            XDIGEST], cls=exception.ChecksumMismatch)

    def test_excludelist_hiding_everything_refused(self):
        # Even with a matching checksum: whoever owns the lists may write
        # both.
        self.write('excludelist', b'.*\n')
        self.write('xsum', hashlib.sha256(b'.*\n').hexdigest().encode())
        self.assertRefused(["Line 1 of the excludelist", "'.*'",
                            "does not start with the literal directory"])

    def test_excludelist_that_hangs_or_talks_around_refused(self):
        # A container's excludelist with a matching checksum: the first
        # line hung the old probe check (exponential backtracking), the
        # second passed it while excluding every other path.
        for line, reason in ((b'(.*)*x$', 'itself repeats'),
                             (b'/(?!(init|sbin/init|usr/bin/bash)$)',
                              'lookahead')):
            self.write('excludelist', line + b'\n')
            self.write('xsum', hashlib.sha256(line + b'\n').hexdigest()
                       .encode())
            self.assertRefused(['Line 1 of the excludelist', reason])

    def test_invalid_excludelist_refused_on_the_legacy_path_too(self):
        self.write('excludelist', b'/bad/(\n')
        self.write('xsum', hashlib.sha256(b'/bad/(\n').hexdigest().encode())
        self.assertRefused(['not a valid regular expression'],
                           use_runtime_policy=lambda: False)

    def test_pins_win_over_checksum_files(self):
        # Wrong checksum files, right pins: the pins decide.
        self.write('sum', b'f' * 64)
        self.write('xsum', b'f' * 64)
        self.assertTrue(self.use(allowlist_sha256=DIGEST,
                                 excludelist_sha256=XDIGEST))
        # No checksum files at all: the pins are enough.
        self.assertTrue(self.use(checksum=False, xsum=False,
                                 allowlist_sha256=DIGEST,
                                 excludelist_sha256=XDIGEST))

    def test_pin_mismatch_fails_whatever_the_checksum_says(self):
        self.assertRefused(['The allowlist', 'does not match '
                            'driver_info/keylime_allowlist_sha256'],
                           cls=exception.ChecksumMismatch,
                           allowlist_sha256='e' * 64,
                           excludelist_sha256=XDIGEST)
        self.assertRefused(['The excludelist', 'does not match '
                            'driver_info/keylime_excludelist_sha256'],
                           cls=exception.ChecksumMismatch,
                           allowlist_sha256=DIGEST,
                           excludelist_sha256='e' * 64)

    def test_pinned_allowlist_needs_a_pinned_excludelist(self):
        self.assertRefused(['excludelist', 'is not pinned',
                            'driver_info/keylime_excludelist_sha256'],
                           allowlist_sha256=DIGEST)

    def test_pinned_excludelist_must_exist(self):
        self.excludelist = None
        self.assertRefused(['driver_info/keylime_excludelist_sha256 pins',
                            'has none'], xsum=False,
                           excludelist_sha256=XDIGEST)
