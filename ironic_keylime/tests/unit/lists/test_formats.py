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

"""Checksums, boot_aggregate and runtime policies on real files."""

import hashlib
import json
import os
import stat

import fixtures
from oslotest import base

from ironic_keylime.lists import exception
from ironic_keylime.lists import formats
from ironic_keylime.lists import policy
from ironic_keylime.tests import utils

DIGEST = hashlib.sha256(b'x').hexdigest()
ALLOWLIST = ('0000000000000000000000000000000000000000  boot_aggregate\n'
             '%s  /usr/bin/bash\n'
             '%s  /usr/bin/with space\n'
             '# a comment\n'
             '\n'
             '%s  %%keyring:.ima\n' % (DIGEST, 'a' * 64, 'b' * 64))


class ListFilesTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def write(self, name, content):
        return utils.write_file(self.dir, name, content)

    def test_write_chunks_is_private_and_hashes(self):
        path = os.path.join(self.dir, 'out')
        size, digest = formats.write_chunks([b'ab', b'', b'c'], path)
        self.assertEqual(3, size)
        self.assertEqual(hashlib.sha256(b'abc').hexdigest(), digest)
        self.assertEqual(0o600, stat.S_IMODE(os.stat(path).st_mode))
        self.assertRaises(FileExistsError, formats.write_chunks, [b'x'], path)

    def test_read_chunks(self):
        path = self.write('f', 'x' * 10)
        with open(path, 'rb') as f:
            self.assertEqual([b'xxxx', b'xxxx', b'xx'],
                             list(formats.read_chunks(f, 4)))

    def test_count_entries(self):
        self.assertEqual(4, formats.count_entries(self.write('a', ALLOWLIST)))
        self.assertEqual(0, formats.count_entries(self.write('e', '#\n\n')))

    def test_fix_boot_aggregate_sha1_zeros_for_sha256(self):
        path = self.write('a', ALLOWLIST)
        self.assertTrue(formats.fix_boot_aggregate(path, 'sha256'))
        with open(path) as f:
            content = f.read()
        self.assertEqual('%s  boot_aggregate\n' % ('0' * 64),
                         content.splitlines(True)[0])
        self.assertEqual(ALLOWLIST.splitlines(True)[1:],
                         content.splitlines(True)[1:])
        self.assertEqual(['a'], os.listdir(self.dir))

    def test_fix_boot_aggregate_leaves_right_length(self):
        path = self.write('a', ALLOWLIST)
        self.assertFalse(formats.fix_boot_aggregate(path, 'sha1'))
        with open(path) as f:
            self.assertEqual(ALLOWLIST, f.read())

    def test_fix_boot_aggregate_leaves_real_digest(self):
        content = '%s  boot_aggregate\n' % ('1' * 40)
        path = self.write('a', content)
        self.assertFalse(formats.fix_boot_aggregate(path, 'sha256'))
        with open(path) as f:
            self.assertEqual(content, f.read())

    def test_build_runtime_policy(self):
        allow = self.write('a', ALLOWLIST)
        exclude = self.write('e', '# comment\n/tmp/.*\n\n/var/log/.*\n')
        out = os.path.join(self.dir, 'policy.json')
        checksum = policy.build_runtime_policy(allow, exclude, out)
        with open(out, 'rb') as f:
            data = f.read()
        self.assertEqual(hashlib.sha256(data).hexdigest(), checksum)
        self.assertEqual(0o600, stat.S_IMODE(os.stat(out).st_mode))
        runtime_policy = json.loads(data)
        self.assertEqual({'version': 1, 'generator': 3},
                         runtime_policy['meta'])
        self.assertEqual({'boot_aggregate': ['0' * 40],
                          '/usr/bin/bash': [DIGEST],
                          '/usr/bin/with space': ['a' * 64]},
                         runtime_policy['digests'])
        self.assertEqual({'.ima': ['b' * 64]}, runtime_policy['keyrings'])
        self.assertEqual(['/tmp/.*', '/var/log/.*'],
                         runtime_policy['excludes'])
        self.assertEqual(
            ['digests', 'excludes', 'ima', 'ima-buf', 'keyrings', 'meta',
             'release', 'verification-keys'], sorted(runtime_policy))

    def test_build_runtime_policy_without_excludelist(self):
        out = os.path.join(self.dir, 'policy.json')
        policy.build_runtime_policy(self.write('a', ALLOWLIST), None, out)
        with open(out) as f:
            self.assertEqual([], json.load(f)['excludes'])


class ChecksumTestCase(base.BaseTestCase):

    def test_bare(self):
        self.assertEqual(DIGEST, formats.parse_checksum(DIGEST + '\n'))

    def test_sha256sum_format(self):
        self.assertEqual(DIGEST, formats.parse_checksum(
            '\n%s  allowlist\n' % DIGEST.upper()))
        self.assertEqual(DIGEST, formats.parse_checksum(
            ('%s *allowlist\n' % DIGEST).encode()))

    def test_excludelist_checksum(self):
        self.assertEqual(DIGEST, formats.parse_checksum(
            '%s  excludelist\n' % DIGEST, 'x', formats.EXCLUDELIST))
        error = self.assertRaises(exception.ListError,
                                  formats.parse_checksum, 'nope', 'src',
                                  formats.EXCLUDELIST)
        self.assertIn('The excludelist checksum in src', str(error))
        self.assertIn('sha256sum excludelist > excludelist_checksum',
                      str(error))
        error = self.assertRaises(
            exception.ChecksumMismatch, formats.verify_checksum, DIGEST,
            'f' * 64, 'from x', formats.EXCLUDELIST,
            'driver_info/keylime_excludelist_sha256')
        self.assertIn('The excludelist from x does not match '
                      'driver_info/keylime_excludelist_sha256', str(error))

    def test_not_a_digest(self):
        for text in ('', 'abc', 'md5 %s' % DIGEST, DIGEST[:-1],
                     'z' * 64):
            error = self.assertRaises(exception.ListError,
                                      formats.parse_checksum, text, 'src')
            self.assertIn('src is not a SHA-256 hex digest', str(error))

    def test_verify(self):
        formats.verify_checksum(DIGEST, DIGEST.upper())
        error = self.assertRaises(exception.ChecksumMismatch,
                                  formats.verify_checksum, DIGEST, 'f' * 64,
                                  'file x')
        self.assertIn('file x does not match its checksum', str(error))
        self.assertIn('nothing was sent to Keylime', str(error))
