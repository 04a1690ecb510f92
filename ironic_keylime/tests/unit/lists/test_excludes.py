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

#: Lines the project's own element, harness, tests and docs use: they
#: must keep passing.
ACCEPTED = (
    '/proc/.*', '/sys/.*', '/dev/.*',            # the element's defaults
    '/tmp/.*', '/var/log/.*',                    # the harness's
    '^/tmp/.*',                                  # test_swift_lists
    '/opt/app/cache/.*',                         # the admin guide
    r'/home/[^/]+/\.cache/.*',
    '/var/lib/docker/overlay2/[0-9a-f]{64}/.*',
    '/var/(log|tmp)/.*',
    r'\/srv\/scratch\/.*',
    '/usr/lib/systemd/system/.*',
    '/var/log/syslog$',
)

#: Excludes every path but the ones the old probe check tried: it passed
#: that check.
BYPASS = ('/(?!(init|sbin/init|usr/sbin/init|usr/lib/systemd/systemd|'
          'lib/systemd/systemd|usr/bin/bash|bin/bash|usr/bin/sh|bin/sh|'
          'usr/bin/python3|usr/bin/ironic-python-agent|'
          'usr/local/bin/ironic-python-agent|usr/bin/keylime_agent)$)')

#: Refused lines, and a piece of the reason given for each.
REFUSED = (
    # Exponential backtracking in Python's re: nested repeats, repeated
    # alternations.
    ('(.*)*x$', 'repeats something that itself repeats'),
    ('/tmp/(a+)+$', 'repeats something that itself repeats'),
    ('/tmp/(a|ab)*c', 'repeats an alternation'),
    # Polynomial: every variable repeat multiplies the worst case.
    ('/tmp/.*.*.*x$', '3 repeats of variable length'),
    ('/tmp/' + '(ab|cd)' * 7, '128 combinations'),
    # Everything but the names it mentions.
    (BYPASS, 'lookahead'),
    ('/tmp/(?<=x)', 'lookahead or lookbehind'),
    ('(/tmp/)x\\1', 'back-reference'),
    ('(/tmp/)?(?(1)a|b)', 'back-reference or a conditional'),
    # Flags change every line of the joined expression.
    ('(?i)/tmp/.*', 'sets flags'),
    ('/tmp/(?s:.*)', 'sets flags'),
    # Python 3.11 only.
    ('/tmp/(?>a)', 'atomic group'),
    ('/tmp/a*+', 'possessive repeat'),
    # Not anchored to a literal directory.
    ('.*', 'does not start with the literal directory'),
    ('^', 'does not start with the literal directory'),
    ('/', 'does not start with the literal directory'),
    ('boot_aggregate', 'does not start with the literal directory'),
    ('/tmp.*', 'does not start with the literal directory'),
    ('/init$', 'does not start with the literal directory'),
    ('(/tmp/).*', 'does not start with the literal directory'),
    ('/tmp/x|.*', 'does not start with the literal directory'),
    # Where the executables every node runs live, and their parents.
    ('/usr/.*', 'excludes from /usr/, which is or holds /usr/bin/'),
    ('/usr/bin', 'excludes from /usr/, which is or holds /usr/bin/'),
    ('/usr/bin/python3.11', 'excludes from /usr/bin/'),
    ('/usr/lib/.*', 'holds /usr/lib/systemd/'),
    ('^/sbin/.*', 'excludes from /sbin/'),
    ('/usr/local/bin/ironic-python-agent', 'excludes from /usr/local/bin/'),
    # Not an expression, or too long.
    ('/tmp/(', 'not a valid regular expression'),
    ('/tmp/' + 'x' * 1100, 'longer than 1024 characters'),
)


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
