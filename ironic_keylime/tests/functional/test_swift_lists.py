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

"""Lists from a real Swift (tools/swift/harness.sh), read as the conductor
reads them: a keystoneauth1 session from Ironic's ``[swift]`` group with
a real login (``v1password``, Swift's tempauth) and python-swiftclient.

Every error is produced by the real Swift: missing containers and objects,
a wrong password, a user without access, a stopped object server, a
stopped or paused proxy. With the Keylime harness too
(``KEYLIME_HARNESS_*``), a node is attested from a container by the real
Keylime.
"""

import hashlib
import logging
import os
import stat
import subprocess
import sys
import time

import fixtures
from ironic.common import states
from ironic.conductor import task_manager
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.lists import exception
from ironic_keylime.lists import prepare
from ironic_keylime.lists import swift
from ironic_keylime.tests import base
from ironic_keylime.tests import excludelist_lines
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import swift_env
from ironic_keylime.tests import utils

ALLOWLIST = ('%s  boot_aggregate\n%s  /usr/bin/bash\n%s  /usr/bin/ls\n'
             % ('0' * 40, 'a' * 64, 'b' * 64)).encode()
EXCLUDELIST = b'^/tmp/.*\n'


def checksum_of(data, name='allowlist'):
    return b'%s  %s\n' % (hashlib.sha256(data).hexdigest().encode(),
                          name.encode())


class SwiftTestCase(base.DbTestCase):
    """The conductor's [swift] settings point at the harness Swift."""

    # The error tests run tools/swift/harness.sh.
    block_execute = False

    def setUp(self):
        super().setUp()
        if not swift_env.available():
            # Fail, not skip: a missing harness must not pass unnoticed.
            self.fail('no harness Swift (run tools/functional.sh, or '
                      'tools/swift/harness.sh start and source swift.env)')
        swift_env.configure(self)
        self.cache_dir = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'cache')
        self.config(list_cache_dir=self.cache_dir, list_cache_size=64,
                    swift_retries=1, swift_retry_delay=0.2,
                    swift_timeout=2, group='keylime')
        self.admin = swift_env.admin_connection()
        # Where each list came from is only said in the debug log. The
        # logging set-up of Ironic's tests disables loggers created before
        # it (disable_existing_loggers): enable this one for the test.
        logger = logging.getLogger(swift.__name__)
        self.addCleanup(setattr, logger, 'disabled', logger.disabled)
        logger.disabled = False
        self.log = self.useFixture(fixtures.FakeLogger(
            name=swift.__name__, level=logging.DEBUG, format='%(message)s'))
        self.log_start = 0
        self.container = 'lists-' + uuidutils.generate_uuid()[:8]
        self.addCleanup(self._delete_container, self.container)

    def _delete_container(self, container):
        try:
            _h, objects = self.admin.get_container(container)
        except Exception:
            return
        for obj in objects:
            self.admin.delete_object(container, obj['name'])
        self.admin.delete_container(container)

    def upload(self, allowlist=ALLOWLIST, checksum=True,
               excludelist=EXCLUDELIST):
        self.admin.put_container(self.container)
        if allowlist is not None:
            self.admin.put_object(self.container, 'allowlist', allowlist)
        if checksum is True:
            checksum = checksum_of(allowlist)
        if checksum:
            self.admin.put_object(self.container, 'allowlist_checksum',
                                  checksum)
        if excludelist is not None:
            self.admin.put_object(self.container, 'excludelist',
                                  excludelist)
            self.admin.put_object(
                self.container, 'excludelist_checksum',
                checksum_of(excludelist, 'excludelist'))

    def source(self):
        """The conductor's source for the container."""
        return swift.source_from_conf(self.container, CONF)

    def origins(self):
        """Where the last read got each list: 'swift' or 'cache'."""
        found = {}
        for line in self.log.output[self.log_start:].splitlines():
            for name in ('allowlist', 'excludelist'):
                what = 'object %s of container %s' % (name, self.container)
                if line == '%s served from the list cache' % what:
                    found[name] = 'cache'
                elif line.startswith('Downloaded %s:' % what):
                    found[name] = 'swift'
        return found

    def read(self, source=None, require_checksum=True,
             require_excludelist_checksum=True):
        """Fetch as the interface does; return contents and modes."""
        source = source or self.source()
        self.log_start = len(self.log.output)
        with prepare.prepared_lists(
                source, require_checksum=require_checksum,
                require_excludelist_checksum=require_excludelist_checksum,
                fix_boot_aggregate=False, parent=self.tempdir) as lists:
            result = {'workdir_mode': stat.S_IMODE(
                os.stat(lists.workdir).st_mode)}
            for name in ('allowlist', 'excludelist'):
                path = getattr(lists, name)
                if path:
                    with open(path, 'rb') as f:
                        result[name] = f.read()
                    result[name + '_mode'] = stat.S_IMODE(
                        os.stat(path).st_mode)
        self.assertEqual([], self.leftovers())
        return result

    def assertListError(self, fragments, source=None, cls=None, **kwargs):
        error = self.assertRaises(cls or exception.ListError, self.read,
                                  source, **kwargs)
        for fragment in fragments:
            self.assertIn(fragment, str(error))
        self.assertEqual([], self.leftovers())
        return error


class FetchTestCase(SwiftTestCase):

    def test_lists_arrive_private_and_whole(self):
        self.upload()
        source = self.source()
        result = self.read(source)
        self.assertEqual(ALLOWLIST, result['allowlist'])
        self.assertEqual(EXCLUDELIST, result['excludelist'])
        self.assertEqual(0o600, result['allowlist_mode'])
        self.assertEqual(0o600, result['excludelist_mode'])
        self.assertEqual(0o700, result['workdir_mode'])
        self.assertEqual({'allowlist': 'swift', 'excludelist': 'swift'},
                         self.origins())

    def test_no_excludelist_is_no_excludelist(self):
        self.upload(excludelist=None)
        result = self.read()
        self.assertEqual(ALLOWLIST, result['allowlist'])
        self.assertNotIn('excludelist', result)

    def test_large_allowlist_streams(self):
        line = b'%s  /usr/lib/file-%%07d\n' % (b'c' * 64)
        data = b''.join(line % i for i in range(40000))  # about 3.4 MiB
        self.upload(allowlist=data)
        self.assertEqual(data, self.read()['allowlist'])

    def test_large_object_allowlist(self):
        # A dynamic large object (segments + manifest), as "swift upload
        # --segment-size" makes for big lists: its ETag is not the MD5 of
        # the content, yet it is read, cached and served from the cache.
        self.upload(allowlist=None, checksum=checksum_of(ALLOWLIST))
        segments = self.container + '_segments'
        self.addCleanup(self._delete_container, segments)
        self.admin.put_container(segments)
        for i in range(0, len(ALLOWLIST), 50):
            self.admin.put_object(segments, 'allowlist/%04d' % i,
                                  ALLOWLIST[i:i + 50])
        self.admin.put_object(
            self.container, 'allowlist', b'',
            headers={'X-Object-Manifest': '%s/allowlist/' % segments})
        for origin in ('swift', 'cache'):
            source = self.source()
            self.assertEqual(ALLOWLIST, self.read(source)['allowlist'])
            self.assertEqual(origin, self.origins()['allowlist'])

    def test_checksum_not_required(self):
        self.upload(checksum=None)
        self.assertListError(['has no checksum', self.container])
        result = self.read(require_checksum=False)
        self.assertEqual(ALLOWLIST, result['allowlist'])

    def test_account_option(self):
        # The lists live in another account: the admin user of the
        # harness may read AUTH_test only, so naming another account
        # makes Swift refuse; naming AUTH_test explicitly works.
        self.upload()
        self.config(swift_account='AUTH_test', group='keylime')
        self.assertEqual(ALLOWLIST, self.read()['allowlist'])
        self.config(swift_account='AUTH_other', group='keylime')
        self.assertListError(['cannot read', '403', 'AUTH_other'])


class CacheTestCase(SwiftTestCase):

    def entries(self):
        return sorted(os.listdir(self.cache_dir))

    def test_second_node_does_not_download(self):
        self.upload()
        first = self.source()
        self.read(first)
        self.assertEqual({'allowlist': 'swift', 'excludelist': 'swift'},
                         self.origins())
        self.assertEqual(0o700, stat.S_IMODE(os.stat(self.cache_dir).st_mode))
        self.assertEqual(2, len(self.entries()))
        for name in self.entries():
            st = os.stat(os.path.join(self.cache_dir, name))
            self.assertEqual(0o600, stat.S_IMODE(st.st_mode))
        second = self.source()
        result = self.read(second)
        self.assertEqual({'allowlist': 'cache', 'excludelist': 'cache'},
                         self.origins())
        self.assertEqual(ALLOWLIST, result['allowlist'])
        self.assertEqual(EXCLUDELIST, result['excludelist'])

    def test_changed_object_is_downloaded_again(self):
        self.upload()
        self.read()
        new = ALLOWLIST + b'%s  /usr/bin/new\n' % (b'd' * 64)
        self.upload(allowlist=new)
        source = self.source()
        self.assertEqual(new, self.read(source)['allowlist'])
        self.assertEqual('swift', self.origins()['allowlist'])
        self.assertEqual('cache', self.origins()['excludelist'])

    def test_changed_checksum_is_checked_against_cached_list(self):
        # The checksum is always read from Swift: a cached allowlist that
        # no longer matches it fails the node.
        self.upload()
        self.read()
        self.admin.put_object(self.container, 'allowlist_checksum',
                              checksum_of(b'something else'))
        source = self.source()
        self.assertListError(['does not match its checksum'], source,
                             cls=exception.ChecksumMismatch)
        self.assertEqual('cache', self.origins()['allowlist'])

    def test_damaged_entry_is_not_served(self):
        self.upload()
        self.read()
        for name in self.entries():
            with open(os.path.join(self.cache_dir, name), 'r+b') as f:
                f.write(b'X')
        source = self.source()
        result = self.read(source)
        self.assertEqual(ALLOWLIST, result['allowlist'])
        self.assertEqual(EXCLUDELIST, result['excludelist'])
        self.assertEqual({'allowlist': 'swift', 'excludelist': 'swift'},
                         self.origins())

    def test_cache_is_bounded(self):
        self.config(list_cache_size=1, group='keylime')
        line = b'%s  /usr/lib/file-%%07d\n' % (b'e' * 64)
        big = b''.join(line % i for i in range(9000))  # 0.8 MiB
        self.upload(allowlist=big)
        self.read()
        other = big.replace(b'eeee', b'ffff', 1)
        self.upload(allowlist=other)
        self.read()
        total = sum(os.path.getsize(os.path.join(self.cache_dir, name))
                    for name in self.entries())
        self.assertLessEqual(total, 1024 * 1024)
        # The newest allowlist is the one kept.
        source = self.source()
        self.read(source)
        self.assertEqual('cache', self.origins()['allowlist'])

    def test_disabled_cache(self):
        self.config(list_cache_size=0, group='keylime')
        self.upload()
        self.read()
        source = self.source()
        self.read(source)
        self.assertEqual({'allowlist': 'swift', 'excludelist': 'swift'},
                         self.origins())
        self.assertFalse(os.path.exists(self.cache_dir))


class ErrorTestCase(SwiftTestCase):

    def test_missing_container(self):
        self.assertListError(['container %s does not exist' % self.container,
                              'keylime_container'])

    def test_missing_allowlist(self):
        self.upload(allowlist=None, checksum=checksum_of(ALLOWLIST))
        self.assertListError(['container %s has no object allowlist'
                              % self.container])

    def test_checksum_mismatch(self):
        self.upload(checksum=checksum_of(b'another list'))
        self.assertListError(['does not match its checksum'],
                             cls=exception.ChecksumMismatch)

    def test_checksum_not_a_digest(self):
        self.upload(checksum=b'not a digest\n')
        self.assertListError(['not a SHA-256 hex digest',
                              'allowlist_checksum'])

    def test_empty_allowlist(self):
        self.upload(allowlist=b'')
        self.assertListError(['has no entries'])

    def test_excludelist_checksum_mismatch(self):
        self.upload()
        self.admin.put_object(self.container, 'excludelist_checksum',
                              checksum_of(b'/other/.*\n', 'excludelist'))
        self.assertListError(['The excludelist', 'does not match its '
                              'checksum'], cls=exception.ChecksumMismatch)

    def test_excludelist_checksum_required(self):
        self.upload()
        self.admin.delete_object(self.container, 'excludelist_checksum')
        self.assertListError(['has no checksum',
                              '[keylime]require_excludelist_checksum'])
        result = self.read(require_excludelist_checksum=False)
        self.assertEqual(EXCLUDELIST, result['excludelist'])

    def test_excludelist_hiding_everything(self):
        self.upload(excludelist=b'.*\n')
        self.assertListError(["Line 1 of the excludelist", "'.*'"])

    def test_wrong_password(self):
        self.upload()
        swift_env.configure(self, password='not-the-password')
        error = self.assertListError(['refused the credentials', '401',
                                      'auth_type=v1password',
                                      'username=test:tester',
                                      swift_env.env('AUTH_URL')])
        self.assertNotIn('not-the-password', str(error))

    def test_user_without_access(self):
        self.upload()
        swift_env.configure(self, username=swift_env.env('READER_USER'),
                            password=swift_env.env('READER_KEY'))
        error = self.assertListError(['cannot read', self.container, '403',
                                      'username=test:reader'])
        self.assertNotIn(swift_env.env('READER_KEY'), str(error))

    def test_object_server_down(self):
        self.upload()
        swift_env.harness('stop-service', 'object')
        self.addCleanup(swift_env.harness, 'start-service', 'object')
        start = time.monotonic()
        self.assertListError(['did not serve', '503', '2 attempt(s)'])
        self.assertLess(time.monotonic() - start, 15)

    def test_proxy_down(self):
        # Connection refused: requests' ConnectionError, not a Swift
        # ClientException; bounded retries, then a failure.
        self.upload()
        swift_env.harness('stop-service', 'proxy')
        self.addCleanup(swift_env.harness, 'start-service', 'proxy')
        start = time.monotonic()
        self.assertListError(['did not serve', '2 attempt(s)',
                              'Is Swift up'])
        self.assertLess(time.monotonic() - start, 10)

    def test_proxy_does_not_answer(self):
        # A paused proxy accepts connections and never answers: each
        # attempt ends at [keylime]swift_timeout.
        self.upload()
        swift_env.harness('pause-service', 'proxy')
        self.addCleanup(swift_env.harness, 'resume-service', 'proxy')
        start = time.monotonic()
        self.assertListError(['did not serve', '2 attempt(s)'])
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 4)
        self.assertLess(elapsed, 15)

    def test_object_server_back(self):
        # After an outage, the next node reads the lists again.
        self.upload()
        swift_env.harness('stop-service', 'object')
        # Idempotent: also restarts it when an assertion fails first.
        self.addCleanup(swift_env.harness, 'start-service', 'object')
        self.assertListError(['did not serve'])
        swift_env.harness('start-service', 'object')
        self.assertEqual(ALLOWLIST, self.read()['allowlist'])


class CommandTestCase(SwiftTestCase):
    """ironic-keylime-lists, run as a real process with OS_* variables."""

    def run_command(self, *args, password=None):
        script = os.path.join(os.path.dirname(sys.executable),
                              'ironic-keylime-lists')
        argv = ([script] if os.path.exists(script)
                else [sys.executable, '-m', 'ironic_keylime.cmd.lists'])
        env = dict(os.environ,
                   OS_AUTH_TYPE='v1password',
                   OS_AUTH_URL=swift_env.env('AUTH_URL'),
                   OS_USERNAME=swift_env.env('USER'),
                   OS_PASSWORD=password or swift_env.env('KEY'))
        return subprocess.run(argv + list(args), env=env, timeout=60,
                              capture_output=True, text=True)

    def write(self, name, data):
        directory = self.useFixture(fixtures.TempDir()).path
        return utils.write_file(directory, name, data)

    def test_upload_then_show(self):
        allowlist = self.write('allowlist', ALLOWLIST)
        excludelist = self.write('excludelist', EXCLUDELIST)
        done = self.run_command('upload', '--container', self.container,
                                '--allowlist', allowlist,
                                '--excludelist', excludelist)
        self.assertEqual(0, done.returncode, done.stderr)
        digest = hashlib.sha256(ALLOWLIST).hexdigest()
        self.assertIn(digest, done.stdout)
        _h, body = self.admin.get_object(self.container,
                                         'allowlist_checksum')
        self.assertEqual(checksum_of(ALLOWLIST), body)
        _h, body = self.admin.get_object(self.container,
                                         'excludelist_checksum')
        self.assertEqual(checksum_of(EXCLUDELIST, 'excludelist'), body)
        # The conductor's code accepts what was uploaded.
        self.assertEqual(ALLOWLIST, self.read()['allowlist'])
        shown = self.run_command('show', '--container', self.container)
        self.assertEqual(0, shown.returncode, shown.stderr)
        self.assertIn('%d bytes' % len(ALLOWLIST), shown.stdout)
        self.assertIn('%s: match' % digest, shown.stdout)
        self.assertIn('verdict: OK', shown.stdout)
        self.assertIn('3 entries and an excludelist', shown.stdout)

    def test_upload_without_excludelist_removes_the_old_one(self):
        self.upload()
        allowlist = self.write('allowlist', ALLOWLIST)
        done = self.run_command('upload', '--container', self.container,
                                '--allowlist', allowlist)
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn('deleted the old', done.stdout)
        shown = self.run_command('show', '--container', self.container)
        self.assertIn('excludelist         absent', shown.stdout)

    def test_show_mismatch(self):
        self.upload(checksum=checksum_of(b'other'))
        shown = self.run_command('show', '--container', self.container)
        self.assertEqual(1, shown.returncode)
        self.assertIn('MISMATCH', shown.stdout)
        self.assertIn('verdict: FAIL', shown.stdout)

    def test_show_missing_container(self):
        shown = self.run_command('show', '--container', self.container)
        self.assertEqual(1, shown.returncode)
        self.assertIn('does not exist', shown.stdout)

    def test_upload_refuses_empty_allowlist(self):
        done = self.run_command('upload', '--container', self.container,
                                '--allowlist', self.write('allowlist', b''))
        self.assertEqual(1, done.returncode)
        self.assertIn('no "<digest>  <path>" entries', done.stderr)

    def test_wrong_password(self):
        shown = self.run_command('show', '--container', self.container,
                                 password='wrong-one')
        self.assertEqual(1, shown.returncode)
        self.assertIn('401', shown.stderr)
        self.assertNotIn('wrong-one', shown.stderr + shown.stdout)


class KeylimeFromSwiftTestCase(functional_base.KeylimeHarnessMixin,
                               SwiftTestCase):
    """A node attested by the real Keylime with lists from Swift."""

    def setUp(self):
        super().setUp()
        env = os.environ
        self.config(tenant_path=env['KEYLIME_HARNESS_TENANT'],
                    tenant_config=env['KEYLIME_HARNESS_TENANT_CONFIG'],
                    tenant_cert_dir=env['KEYLIME_HARNESS_CERT_DIR'],
                    command_timeout=60, group='keylime')
        with open(env['KEYLIME_HARNESS_ALLOWLIST'], 'rb') as f:
            self.allowlist = f.read()
        with open(env['KEYLIME_HARNESS_EXCLUDELIST'], 'rb') as f:
            self.excludelist = f.read()

    def create_node(self):
        """A node in its attest deploy step, lists from the container."""
        return obj_utils.create_test_node(
            self.context, driver='fake-hardware',
            uuid=uuidutils.generate_uuid(),
            provision_state=states.DEPLOYING,
            deploy_step={'step': 'attest', 'interface': 'attestation',
                         'priority': 90, 'argsinfo': None},
            driver_info=keylime_env.driver_info(
                {'keylime_container': self.container}))

    def attest(self):
        """Attest a node from the container; return the verdict."""
        node = self.create_node()
        iface = attestation.KeylimeAttestation()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.addCleanup(self._unregister, node.uuid)
            self.assertEqual(states.DEPLOYWAIT, iface.attest(task))
            task.process_event('wait')
        self.assertEqual([], self.leftovers())
        deadline = time.monotonic() + 60
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                try:
                    status = iface.validate_security_status(task)
                except kl_ironic_exception.AttestationFailedVerdict as e:
                    # The spec's contract: a FAIL verdict raises.
                    return e.status
            if (status.verdict != kl_status.PENDING
                    or time.monotonic() > deadline):
                return status
            time.sleep(1)

    def test_node_attested_from_container(self):
        self.upload(allowlist=self.allowlist,
                    excludelist=self.excludelist)
        status = self.attest()
        self.assertEqual(kl_status.PASS, status.verdict, status)

    def test_changed_list_in_container_fails_node(self):
        # The verifier judges with what the container holds: a digest
        # changed in the container (checksum updated to match) fails.
        lines = self.allowlist.decode().splitlines(True)
        for i, line in enumerate(lines):
            digest, path = line.split(None, 1)
            if path.strip() != 'boot_aggregate':
                lines[i] = '%s  %s' % ('f' * len(digest), path)
                break
        changed = ''.join(lines).encode()
        self.assertNotEqual(self.allowlist, changed)
        self.upload(allowlist=changed, excludelist=None)
        status = self.attest()
        self.assertEqual(kl_status.FAIL, status.verdict, status)

    def test_excludelist_hiding_everything_refused_before_add(self):
        # ".*" would make the verifier ignore every measurement, the
        # lookahead every path but the ones it names, and (.*)*x$ would
        # hang whoever matches it; their checksums match, as the
        # container's owner can make them.
        for line, reason in (
                ('.*', 'does not start with the literal directory'),
                ('(.*)*x$', 'itself repeats'),
                (excludelist_lines.BYPASS, 'lookahead')):
            self.upload(allowlist=self.allowlist,
                        excludelist=line.encode() + b'\n')
            node = self.create_node()
            with task_manager.acquire(self.context, node.uuid) as task:
                error = self.assertRaises(
                    kl_ironic_exception.AttestationFailure,
                    attestation.KeylimeAttestation().attest, task)
            self.assertIn("Line 1 of the excludelist", str(error))
            self.assertIn(reason, str(error))
            self.assertEqual([], self.leftovers())
            node.refresh()
            self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        # The real verifier never got the agent.
        env = os.environ
        tenant = kl_tenant.Tenant(env['KEYLIME_HARNESS_TENANT'],
                                  env['KEYLIME_HARNESS_TENANT_CONFIG'],
                                  env['KEYLIME_HARNESS_CERT_DIR'])
        self.assertRaises(
            kl_exception.AgentNotFound, tenant.status,
            env['KEYLIME_HARNESS_AGENT_UUID'],
            kl_tenant.Endpoint(env['KEYLIME_HARNESS_VERIFIER'],
                               int(env['KEYLIME_HARNESS_VERIFIER_PORT'])),
            kl_tenant.Endpoint(env['KEYLIME_HARNESS_REGISTRAR'],
                               int(env['KEYLIME_HARNESS_REGISTRAR_PORT'])))

    def _unregister(self, node_uuid):
        with task_manager.acquire(self.context, node_uuid) as task:
            attestation.KeylimeAttestation().unregister_node(task)
