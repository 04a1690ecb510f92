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

"""The ironic-keylime-agent element's list generator, on a real directory tree.

Keylime's own tools judge its output in the functional test
``test_ipa_extension.ImageListsAcceptedByKeylime``.
"""

import hashlib
import os
import subprocess
import sys

import fixtures
from oslotest import base as test_base

from ironic_keylime.tests import image_tree

SCRIPT = image_tree.LISTS_SCRIPT
make_tree = image_tree.make_tree


def sha(path, algo='sha256'):
    with open(path, 'rb') as f:
        return hashlib.new(algo, f.read()).hexdigest()


class ImageListsTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.root = os.path.join(tmp, 'root')
        self.out = os.path.join(tmp, 'out')
        os.makedirs(self.root)
        make_tree(self.root)
        self.extra = os.path.join(tmp, 'extra')
        with open(self.extra, 'w') as f:
            f.write('# a comment\n\n/var/lib/mine/.*\n')

    def _run(self, *args):
        return subprocess.run(
            [sys.executable, SCRIPT, '--root', self.root, '--output-dir',
             self.out] + list(args), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, check=True, universal_newlines=True)

    def _lines(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read().splitlines()

    def test_lists(self):
        proc = self._run('--extra-excludelist', self.extra)
        self.assertIn('3 files', proc.stdout)
        self.assertIn('new line in its name', proc.stderr)
        allowlist = self._lines('allowlist')
        self.assertEqual('0' * 64 + ' boot_aggregate', allowlist[0])
        self.assertEqual(
            ['%s /opt/with_space/run_me' % sha(os.path.join(
                self.root, 'opt/with space/run me')),
             '%s /usr/bin/python3' % sha(sys.executable),
             '%s /usr/bin/sh' % sha('/bin/sh')],
            allowlist[1:])
        checksum = self._lines('allowlist_checksum')
        self.assertEqual(['%s  allowlist' %
                          sha(os.path.join(self.out, 'allowlist'))],
                         checksum)
        # sha256sum itself agrees.
        subprocess.run(['sha256sum', '--check', '--status',
                        'allowlist_checksum'], cwd=self.out, check=True)
        self.assertEqual(['/proc/.*', '/sys/.*', '/dev/.*',
                          '/var/lib/mine/.*'], self._lines('excludelist'))
        self.assertEqual(['%s  excludelist' %
                          sha(os.path.join(self.out, 'excludelist'))],
                         self._lines('excludelist_checksum'))
        subprocess.run(['sha256sum', '--check', '--status',
                        'excludelist_checksum'], cwd=self.out, check=True)

    def test_boot_aggregate_length_follows_the_algorithm(self):
        for algo, size in (('sha1', 40), ('sha384', 96), ('sha512', 128)):
            self._run('--algo', algo)
            allowlist = self._lines('allowlist')
            self.assertEqual('0' * size + ' boot_aggregate', allowlist[0])
            self.assertEqual(sha(sys.executable, algo),
                             allowlist[2].split()[0])

    def test_extra_skip(self):
        self._run('--skip', 'opt')
        self.assertNotIn('run_me', '\n'.join(self._lines('allowlist')))

    def test_not_a_directory(self):
        proc = subprocess.run(
            [sys.executable, SCRIPT, '--root', self.root + '/none',
             '--output-dir', self.out], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, universal_newlines=True, check=False)
        self.assertEqual(2, proc.returncode)
        self.assertIn('is not a directory', proc.stderr)
