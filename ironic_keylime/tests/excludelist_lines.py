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

"""Excludelist lines the rule must accept and refuse (test data).

Used by the unit tests of the rule and of ``ironic-keylime-lists upload``
and by the functional tests that send the accepted lines to a real
verifier and the refused ones to a real Swift.
"""

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
