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

"""The excludelist rule, on real files."""

import os
import re

import fixtures
from oslotest import base

from ironic_keylime.lists import exception
from ironic_keylime.lists import excludes
from ironic_keylime.tests import excludelist_lines

ACCEPTED = excludelist_lines.ACCEPTED
BYPASS = excludelist_lines.BYPASS
REFUSED = excludelist_lines.REFUSED


class ExcludelistRuleTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def write(self, content):
        path = os.path.join(self.dir, 'excludelist')
        with open(path, 'w') as f:
            f.write(content)
        return path

    def test_lines_in_use_pass(self):
        path = self.write('# a comment\n\n' + '\n'.join(ACCEPTED) + '\n')
        self.assertEqual(list(ACCEPTED), excludes.read_excludes(path))

    def test_each_refused_shape_is_named(self):
        for line, reason in REFUSED:
            path = self.write('/proc/.*\n%s\n' % line)
            error = self.assertRaises(exception.ListError,
                                      excludes.read_excludes, path,
                                      'container c')
            self.assertIn('Line 2 of the excludelist from container c, %r, '
                          'is refused' % line[:200], str(error))
            self.assertIn(reason, str(error), line)

    def test_exponential_line_refused_before_any_match(self):
        # (.*)*x$ takes Python's re 2^n steps on a name of n characters
        # without an x: the old probe check hung on it (seconds per
        # probe, doubling with each character). It is refused by its
        # shape, before any name is matched against it.
        self.assertRaisesRegex(excludes.LineRefused,
                               'itself repeats', excludes.check_line,
                               '(.*)*x$')

    def test_lookahead_bypass_refused(self):
        # This line excludes every path but the ones the old probe list
        # named: it passed the probe check and hid everything else.
        self.assertTrue(re.match(BYPASS, '/usr/bin/python3.11'))
        self.assertRaisesRegex(excludes.LineRefused, 'lookahead',
                               excludes.check_line, BYPASS)

    def test_accepted_lines_match_only_their_directory(self):
        # What the rule promises: a line matches nothing outside the
        # directory check_line returns, as Keylime matches (re.match).
        names = ['/usr/bin/bash', '/init', 'boot_aggregate', '/tmpx/a',
                 '/var/lib/x', '/home/a/.cache/b', '/tmp/a', '/var/log/a',
                 '/usr/lib/systemd/system/x.service', '/var/tmp/a']
        for line in ACCEPTED:
            directory = excludes.check_line(line)
            for name in names:
                if re.match(line, name):
                    self.assertTrue(name.startswith(directory),
                                    (line, name))

    def test_lines_that_do_not_join_as_keylime_joins_them(self):
        # Keylime compiles "(l1)|(l2)": a group name may appear once.
        path = self.write('/tmp/(?P<d>a).*\n/var/log/(?P<d>b).*\n')
        error = self.assertRaises(exception.ListError,
                                  excludes.read_excludes, path)
        self.assertIn('not joined as Keylime joins them', str(error))

    def test_protected_directories(self):
        self.assertEqual(
            ('/', '/bin/', '/lib/systemd/', '/sbin/', '/usr/bin/',
             '/usr/lib/systemd/', '/usr/local/bin/', '/usr/sbin/'),
            excludes.PROTECTED_DIRECTORIES)
