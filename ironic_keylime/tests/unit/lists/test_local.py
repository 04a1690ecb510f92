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

"""Lists from conductor files, confined to the allowed directories."""

import hashlib
import os

import fixtures
from oslotest import base

from ironic_keylime.lists import exception
from ironic_keylime.lists import local

CONTENT = b'%s  /usr/bin/bash\n' % (b'a' * 64)
DIGEST = hashlib.sha256(CONTENT).hexdigest()


class ConfineTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.allowed = self.useFixture(fixtures.TempDir()).path
        self.other = self.useFixture(fixtures.TempDir()).path
        self.inside = os.path.join(self.allowed, 'allowlist')
        open(self.inside, 'w').close()

    def test_inside(self):
        self.assertEqual(os.path.realpath(self.inside),
                         local.confine(self.inside, [self.allowed], 'k'))

    def test_outside(self):
        error = self.assertRaises(exception.ListError, local.confine,
                                  '/etc/passwd', [self.allowed], 'key_x')
        self.assertIn('driver_info/key_x', str(error))
        self.assertIn('not inside any of the directories', str(error))

    def test_dot_dot_escape(self):
        path = os.path.join(self.allowed, '..', 'x')
        self.assertRaises(exception.ListError, local.confine, path,
                          [self.allowed], 'k')

    def test_symlink_escape(self):
        link = os.path.join(self.allowed, 'link')
        os.symlink(os.path.join(self.other, 'secret'), link)
        self.assertRaises(exception.ListError, local.confine, link,
                          [self.allowed], 'k')

    def test_symlink_inside_is_followed(self):
        link = os.path.join(self.other, 'link')
        os.symlink(self.inside, link)
        self.assertEqual(os.path.realpath(self.inside),
                         local.confine(link, [self.other, self.allowed],
                                       'k'))

    def test_prefix_is_not_a_parent(self):
        sibling = self.allowed + '-evil'
        self.assertRaises(exception.ListError, local.confine,
                          os.path.join(sibling, 'a'), [self.allowed], 'k')

    def test_relative(self):
        error = self.assertRaises(exception.ListError, local.confine,
                                  'allowlist', [self.allowed], 'k')
        self.assertIn('must be an absolute path', str(error))

    def test_no_allowed_directories(self):
        error = self.assertRaises(exception.ListError, local.confine,
                                  self.inside, [], 'keylime_allowlist')
        self.assertIn('[keylime]allowed_list_directories', str(error))


class LocalListSourceTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.allowed = self.useFixture(fixtures.TempDir()).path
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.paths = {}
        for name, content in (('allowlist', CONTENT),
                              ('checksum', DIGEST.encode() + b'  allowlist'),
                              ('excludelist', b'/tmp/.*\n')):
            self.paths[name] = os.path.join(self.allowed, name)
            with open(self.paths[name], 'wb') as f:
                f.write(content)

    def source(self, **overrides):
        paths = dict(self.paths, **overrides)
        return local.LocalListSource(paths['allowlist'], paths['checksum'],
                                     paths['excludelist'], [self.allowed])

    def test_fetch(self):
        fetched = self.source().fetch(self.workdir)
        self.assertEqual(DIGEST, fetched.allowlist_sha256)
        self.assertEqual(DIGEST, fetched.checksum)
        with open(fetched.allowlist, 'rb') as f:
            self.assertEqual(CONTENT, f.read())
        self.assertEqual(os.path.join(self.workdir, 'excludelist'),
                         fetched.excludelist)

    def test_fetch_without_optional_lists(self):
        fetched = self.source(checksum=None, excludelist=None).fetch(
            self.workdir)
        self.assertIsNone(fetched.checksum)
        self.assertIsNone(fetched.excludelist)
        self.assertEqual(['allowlist'], os.listdir(self.workdir))

    def test_missing_file_names_the_field(self):
        os.unlink(self.paths['excludelist'])
        error = self.assertRaises(exception.ListError,
                                  self.source().fetch, self.workdir)
        self.assertIn('driver_info/keylime_excludelist', str(error))
        self.assertIn('No such file', str(error))

    def test_validate_names_the_field(self):
        error = self.assertRaises(exception.ListError,
                                  self.source(checksum='/etc/hostname')
                                  .validate)
        self.assertIn('driver_info/keylime_allowlist_checksum', str(error))


class SwappedAfterCheckTestCase(base.BaseTestCase):
    """A file swapped between the check of its path and its open.

    The swap runs right after :func:`local.confine` has checked the path
    (a wrapper around it): what someone who can write to an allowed
    directory could do at that moment, made deterministic.
    """

    def setUp(self):
        super().setUp()
        self.allowed = self.useFixture(fixtures.TempDir()).path
        self.other = self.useFixture(fixtures.TempDir()).path
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.secret = os.path.join(self.other, 'allowlist')
        with open(self.secret, 'wb') as f:
            f.write(b'SECRET\n')

    def _swap_after_check(self, swap):
        checked = local.confine

        def confine(path, allowed_directories, field):
            resolved = checked(path, allowed_directories, field)
            swap(resolved)
            return resolved

        self.useFixture(fixtures.MonkeyPatch(
            'ironic_keylime.lists.local.confine', confine))

    def _source(self, path):
        return local.LocalListSource(path, None, None, [self.allowed])

    def test_file_swapped_for_a_link_refused(self):
        path = os.path.join(self.allowed, 'allowlist')
        with open(path, 'wb') as f:
            f.write(CONTENT)

        def swap(resolved):
            os.unlink(resolved)
            os.symlink(self.secret, resolved)

        self._swap_after_check(swap)
        error = self.assertRaises(exception.ListError,
                                  self._source(path).fetch, self.workdir)
        self.assertIn('driver_info/keylime_allowlist', str(error))
        self.assertIn('replaced by a symbolic link', str(error))
        self.assertEqual([], os.listdir(self.workdir))

    def test_directory_swapped_for_a_link_refused(self):
        sub = os.path.join(self.allowed, 'node')
        os.mkdir(sub)
        path = os.path.join(sub, 'allowlist')
        with open(path, 'wb') as f:
            f.write(CONTENT)

        def swap(resolved):
            os.rename(sub, sub + '.old')
            os.symlink(self.other, sub)

        self._swap_after_check(swap)
        error = self.assertRaises(exception.ListError,
                                  self._source(path).fetch, self.workdir)
        self.assertIn('what was opened, %s, is outside' % self.secret,
                      str(error))
        self.assertEqual([], os.listdir(self.workdir))

    def test_open_confined_reads_an_allowed_file(self):
        path = os.path.join(self.allowed, 'allowlist')
        with open(path, 'wb') as f:
            f.write(CONTENT)
        with local.open_confined(path, [self.allowed],
                                 'keylime_allowlist') as f:
            self.assertEqual(CONTENT, f.read())

    def test_link_inside_still_read(self):
        # A link whose target lies inside is resolved at the check, as
        # before: only a link put in place after the check is refused.
        path = os.path.join(self.allowed, 'allowlist')
        with open(path, 'wb') as f:
            f.write(CONTENT)
        link = os.path.join(self.allowed, 'current')
        os.symlink(path, link)
        with local.open_confined(link, [self.allowed],
                                 'keylime_allowlist') as f:
            self.assertEqual(CONTENT, f.read())

    def test_fifo_refused_without_blocking(self):
        # A FIFO would block the conductor's worker in open() for good.
        path = os.path.join(self.allowed, 'allowlist')
        os.mkfifo(path)
        self.useFixture(fixtures.Timeout(10, gentle=True))
        error = self.assertRaises(exception.ListError, local.open_confined,
                                  path, [self.allowed], 'keylime_allowlist')
        self.assertIn('not a regular file', str(error))
