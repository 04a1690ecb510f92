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

"""ironic-keylime-lists: arguments, printing, exit status.

Swift is the in-memory one at the HTTP edge (see
:mod:`ironic_keylime.tests.unit.lists.fake_swift`; the functional tests
run the command against a real Swift). The command authenticates with
keystoneauth1's ``admin_token`` plugin, which sends no request of its own.
"""

import hashlib
import io
import os

import fixtures
from oslotest import base as test_base

from ironic_keylime.cmd import lists as cmd
from ironic_keylime.tests import excludelist_lines
from ironic_keylime.tests.unit.lists import fake_swift
from ironic_keylime.tests import utils

ALLOWLIST = ('%s  boot_aggregate\n%s  /usr/bin/bash\n'
             % ('0' * 40, 'a' * 64)).encode()
DIGEST = hashlib.sha256(ALLOWLIST).hexdigest()
EXCLUDELIST = b'/proc/.*\n'
XDIGEST = hashlib.sha256(EXCLUDELIST).hexdigest()
AUTH = ['--os-auth-type', 'admin_token', '--os-endpoint',
        fake_swift.ACCOUNT_URL, '--os-token', fake_swift.TOKEN]


class ListsCommandTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        for name in ('OS_STORAGE_URL', 'OS_AUTH_TYPE', 'OS_AUTH_URL',
                     'OS_INTERFACE', 'OS_REGION_NAME'):
            self.useFixture(fixtures.EnvironmentVariable(name))
        self.swift = self.useFixture(fake_swift.FakeSwift())
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))

    def write(self, name, data):
        return utils.write_file(self.dir, name, data)

    def run_command(self, *args):
        out = io.StringIO()
        code = cmd.main(AUTH + list(args), out=out)
        return code, out.getvalue()

    def upload(self, *extra):
        return self.run_command(
            'upload', '--container', 'c', '--allowlist',
            self.write('allowlist', ALLOWLIST), *extra)

    def test_upload_prints_what_it_stored(self):
        code, out = self.upload('--excludelist',
                                self.write('excludelist', EXCLUDELIST))
        self.assertEqual(0, code, self.stderr.getvalue())
        self.assertEqual(
            ['uploaded c/allowlist (%d bytes)' % len(ALLOWLIST),
             'uploaded c/allowlist_checksum (sha256 %s)' % DIGEST,
             'uploaded c/excludelist (%d bytes)' % len(EXCLUDELIST),
             'uploaded c/excludelist_checksum (sha256 %s)' % XDIGEST],
            out.splitlines())
        stored = self.swift.containers['c']
        self.assertEqual(ALLOWLIST, stored['allowlist'])
        self.assertEqual(('%s  allowlist\n' % DIGEST).encode(),
                         stored['allowlist_checksum'])
        self.assertEqual(EXCLUDELIST, stored['excludelist'])
        self.assertEqual(('%s  excludelist\n' % XDIGEST).encode(),
                         stored['excludelist_checksum'])

    def test_upload_refuses_what_the_conductor_refuses(self):
        # The same function as the conductor's (excludes.read_excludes):
        # every line the rule refuses is refused here, before Swift.
        for line, reason in excludelist_lines.REFUSED:
            code, _out = self.upload('--excludelist', self.write(
                'excludelist', b'/proc/.*\n' + line.encode() + b'\n'))
            self.assertEqual(1, code, line)
            self.assertIn('Line 2 of the excludelist', self.stderr.getvalue())
            self.assertIn(reason, self.stderr.getvalue())
            self.assertNotIn('c', self.swift.containers)
            self.stderr.seek(0)
            self.stderr.truncate()
            os.unlink(os.path.join(self.dir, 'excludelist'))
            os.unlink(os.path.join(self.dir, 'allowlist'))

    def test_upload_without_excludelist_deletes_the_old_one(self):
        self.swift.put('c', 'excludelist', b'.*\n')
        self.swift.put('c', 'excludelist_checksum', b'f' * 64)
        code, out = self.upload()
        self.assertEqual(0, code, self.stderr.getvalue())
        self.assertIn('deleted the old c/excludelist\n', out)
        self.assertIn('deleted the old c/excludelist_checksum\n', out)
        self.assertEqual(['allowlist', 'allowlist_checksum'],
                         sorted(self.swift.containers['c']))

    def test_upload_refuses_an_empty_allowlist_before_swift(self):
        code, _out = self.run_command(
            'upload', '--container', 'c', '--allowlist',
            self.write('allowlist', b'# nothing\n'))
        self.assertEqual(1, code)
        self.assertIn('no "<digest>  <path>" entries', self.stderr.getvalue())
        self.assertNotIn('c', self.swift.containers)

    def test_upload_refused_by_swift(self):
        self.swift.failures = [('PUT', '/c', 403)]
        code, _out = self.upload()
        self.assertEqual(1, code)
        self.assertIn('ironic-keylime-lists cannot write container c',
                      self.stderr.getvalue())
        self.assertIn('--auth-type=admin_token', self.stderr.getvalue())
        self.assertNotIn(fake_swift.TOKEN, self.stderr.getvalue())

    def test_show_after_upload(self):
        self.upload('--excludelist', self.write('excludelist', EXCLUDELIST))
        code, out = self.run_command('show', '--container', 'c')
        self.assertEqual(0, code, self.stderr.getvalue())
        self.assertIn('sha256 %s' % DIGEST, out)
        self.assertIn('says %s: match' % DIGEST, out)
        self.assertIn('excludelist_checksum says %s: match' % XDIGEST, out)
        self.assertIn('verdict: OK, a node would get an allowlist of 2 '
                      'entries and an excludelist', out)

    def test_show_mismatch(self):
        self.swift.put('c', 'allowlist', ALLOWLIST)
        self.swift.put('c', 'allowlist_checksum', b'f' * 64)
        code, out = self.run_command('show', '--container', 'c')
        self.assertEqual(1, code)
        self.assertIn('MISMATCH', out)
        self.assertIn('verdict: FAIL', out)

    def test_show_missing_container(self):
        code, out = self.run_command('show', '--container', 'c')
        self.assertEqual(1, code)
        self.assertIn('container c does not exist', out)

    def test_show_never_uses_a_cache(self):
        self.upload()
        self.run_command('show', '--container', 'c')
        self.swift.requests = []
        self.run_command('show', '--container', 'c')
        self.assertIn('GET', [r['method'] for r in self.swift.requests])

    def test_account_option(self):
        self.run_command('--account', 'AUTH_other', 'show', '--container',
                         'c')
        self.assertTrue(all(r['path'].startswith('/v1/AUTH_other/')
                            for r in self.swift.requests))

    def test_tls_options_apply_to_the_object_requests(self):
        self.run_command('--os-cacert', '/etc/ca.pem', '--os-cert',
                         '/etc/c.pem', '--os-key', '/etc/k.pem', 'show',
                         '--container', 'c')
        self.assertNotEqual([], self.swift.requests)
        for request in self.swift.requests:
            self.assertEqual('/etc/ca.pem', request['verify'])
            self.assertEqual(('/etc/c.pem', '/etc/k.pem'), request['cert'])
