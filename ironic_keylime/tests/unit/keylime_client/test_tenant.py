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

"""Running keylime_tenant: real processes replaying real outputs."""

import json
import os
import subprocess
import time
from unittest import mock

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import status
from ironic_keylime.keylime_client import tenant
from ironic_keylime.lists import prepare
from ironic_keylime.tests.unit import tenant_fixture

UUID = 'a1b2c3d4-0000-4000-8000-000000000001'
AGENT = tenant.Endpoint('127.0.0.1', 9002)
VERIFIER = tenant.Endpoint('127.0.0.1', 8881)
REGISTRAR = tenant.Endpoint('127.0.0.1', 8891)
OLD_HELP = ('usage: keylime_tenant [-h] [-c COMMAND] [-t AGENT_IP] '
            '[-v VERIFIER_IP] [-u AGENT_UUID] [-f FILE] '
            '[--allowlist ALLOWLIST] [--exclude IMA_EXCLUDE]\n')


class TenantTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.fake = self.useFixture(
            tenant_fixture.FakeTenant(tenant_fixture.plan()))
        self.tenant = tenant.Tenant(self.fake.path, config='/etc/t.conf',
                                    cert_dir='/etc/cv_ca', timeout=20)
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.allowlist = os.path.join(self.workdir, 'allowlist')
        self.excludelist = os.path.join(self.workdir, 'excludelist')
        with open(self.allowlist, 'w') as f:
            f.write('%s  /usr/bin/bash\n' % ('a' * 64))
        with open(self.excludelist, 'w') as f:
            f.write('/tmp/.*\n')
        # What ironic_keylime.lists.prepare hands over: the client only
        # turns these files into arguments.
        self.policy = os.path.join(self.workdir, 'runtime_policy.json')
        fd = os.open(self.policy, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('{}')
        self.policy_sha256 = 'c' * 64
        self.lists = prepare.PreparedLists(self.allowlist, self.excludelist,
                                           None, None, self.workdir)

    def add(self, policy_format=tenant.POLICY_AUTO):
        runtime_policy = self.tenant.uses_runtime_policy(policy_format)
        lists = prepare.PreparedLists(
            self.allowlist, self.excludelist,
            self.policy if runtime_policy else None,
            self.policy_sha256 if runtime_policy else None, self.workdir)
        return self.tenant.add(UUID, AGENT, VERIFIER, REGISTRAR, lists)

    def test_add_runtime_policy(self):
        self.add()
        call = self.fake.calls('add')[0]
        argv = call['argv']
        self.assertEqual(['-c', 'add', '-t', '127.0.0.1', '-tp', '9002',
                          '-u', UUID, '-v', '127.0.0.1', '-vp', '8881',
                          '-r', '127.0.0.1', '-rp', '8891',
                          '--runtime-policy'], argv[:17])
        policy = argv[17]
        self.assertEqual(os.path.join(self.workdir, 'runtime_policy.json'),
                         policy)
        self.assertEqual('--runtime-policy-checksum', argv[18])
        self.assertEqual(0o600, call['files'][policy]['mode'])
        self.assertEqual({'KEYLIME_TENANT_CONFIG': '/etc/t.conf',
                          'KEYLIME_TENANT_TLS_DIR': '/etc/cv_ca',
                          'KEYLIME_TENANT_TRUSTED_SERVER_CA':
                          "['/etc/cv_ca/cacert.crt']"},
                         call['env'])

    def test_default_environment(self):
        self.tenant = tenant.Tenant(self.fake.path)
        self.tenant.delete(UUID, VERIFIER)
        self.assertEqual({'KEYLIME_TENANT_CONFIG': None,
                          'KEYLIME_TENANT_TLS_DIR': None,
                          'KEYLIME_TENANT_TRUSTED_SERVER_CA': None},
                         self.fake.calls('delete')[0]['env'])

    def test_conductor_keylime_variables_do_not_reach_the_tenant(self):
        # What an operator's shell, a systemd unit or another service on
        # the conductor may have set: each would change where the tenant
        # connects, which certificates it trusts, or how it checks.
        for name, value in (('KEYLIME_TENANT_VERIFIER_IP', '192.0.2.66'),
                            ('KEYLIME_TENANT_REQUIRE_EK_CERT', 'False'),
                            ('KEYLIME_TENANT_TLS_DIR', '/tmp/evil'),
                            ('KEYLIME_DIR', '/tmp/evil'),
                            ('KEYLIME_TEST', 'on'),
                            ('keylime_tenant_verifier_port', '1')):
            self.useFixture(fixtures.EnvironmentVariable(name, value))
        self.tenant.status(UUID, VERIFIER, REGISTRAR)
        call = self.fake.calls('status')[0]
        self.assertEqual({'KEYLIME_TENANT_CONFIG': '/etc/t.conf',
                          'KEYLIME_TENANT_TLS_DIR': '/etc/cv_ca',
                          'KEYLIME_TENANT_TRUSTED_SERVER_CA':
                          "['/etc/cv_ca/cacert.crt']"},
                         call['keylime_env'])

    def test_default_environment_has_no_keylime_variable(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'KEYLIME_TENANT_VERIFIER_IP', '192.0.2.66'))
        self.useFixture(fixtures.EnvironmentVariable('IK_UNRELATED', 'kept'))
        self.tenant = tenant.Tenant(self.fake.path)
        self.tenant.delete(UUID, VERIFIER)
        self.assertEqual({}, self.fake.calls('delete')[0]['keylime_env'])
        self.assertEqual('kept', self.tenant.environment()['IK_UNRELATED'])

    def test_tenant_leads_a_new_session(self):
        self.tenant.delete(UUID, VERIFIER)
        session = self.fake.calls('delete')[0]['session']
        self.assertEqual(session['pid'], session['sid'])
        self.assertEqual(session['pid'], session['pgid'])
        self.assertNotEqual(os.getsid(0), session['sid'])

    def test_new_session_without_preexec_fn(self):
        # A spy, not a stand-in: the real Popen runs. A preexec_fn (not
        # safe with threads) and start_new_session give the same session,
        # so only the call tells them apart.
        real_popen = subprocess.Popen
        calls = []

        def spy(*args, **kwargs):
            calls.append(kwargs)
            return real_popen(*args, **kwargs)

        with mock.patch.object(subprocess, 'Popen', autospec=True,
                               side_effect=spy):
            self.tenant.delete(UUID, VERIFIER)
        self.assertTrue(calls)
        for kwargs in calls:
            self.assertIs(True, kwargs.get('start_new_session'))
            self.assertIsNone(kwargs.get('preexec_fn'))
            self.assertNotIn('shell', kwargs)

    def test_add_legacy_lists(self):
        self.add(tenant.POLICY_LEGACY)
        argv = self.fake.calls('add')[0]['argv']
        self.assertEqual(['--allowlist', self.allowlist,
                          '--exclude', self.excludelist], argv[-4:])

    def test_add_sends_the_tpm_policy(self):
        policy = '{"0":["%s"]}' % ('a' * 64)
        self.tenant.add(UUID, AGENT, VERIFIER, REGISTRAR, self.lists,
                        tpm_policy=policy)
        argv = self.fake.calls('add')[0]['argv']
        self.assertEqual(policy, argv[argv.index('--tpm_policy') + 1])

    def test_add_sends_the_mb_policy_on_7x(self):
        self.tenant.add(UUID, AGENT, VERIFIER, REGISTRAR, self.lists,
                        mb_policy='/private/mb_policy.json')
        argv = self.fake.calls('add')[0]['argv']
        self.assertEqual('/private/mb_policy.json',
                         argv[argv.index('--mb-policy') + 1])

    def test_add_without_mb_policy_sends_none(self):
        self.add()
        self.assertNotIn('--mb-policy', self.fake.calls('add')[0]['argv'])

    def test_mb_policy_refused_by_a_6x_tenant(self):
        # 6.x has --tpm_policy but no --mb-policy (only --mb_refstate).
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': OLD_HELP + ' -vp --uuid --tpm_policy '
                           '--mb_refstate --runtime-policy\n'}]}))
        error = self.assertRaises(
            exception.KeylimeError, self.tenant.add, UUID, AGENT, VERIFIER,
            REGISTRAR, self.lists, mb_policy='/private/mb_policy.json')
        self.assertIn('no --mb-policy option', str(error))
        self.assertIn('only its PCR policy applies', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_add_without_tpm_policy_sends_none(self):
        self.add()
        self.assertNotIn('--tpm_policy', self.fake.calls('add')[0]['argv'])

    def test_tpm_policy_refused_by_a_tenant_without_the_option(self):
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': OLD_HELP + ' -vp --uuid\n'}]}))
        error = self.assertRaises(
            exception.KeylimeError, self.tenant.add, UUID, AGENT, VERIFIER,
            REGISTRAR, self.lists, tpm_policy='{"0": ["%s"]}' % ('a' * 64))
        self.assertIn('no --tpm_policy option', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_add_auto_on_old_tenant_uses_legacy_lists(self):
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': OLD_HELP + ' -vp --uuid\n'}]}))
        self.add()
        self.assertIn('--allowlist', self.fake.calls('add')[0]['argv'])

    def test_add_retries_with_payload_for_old_tenants(self):
        self.fake.set_commands(tenant_fixture.plan(add=[
            {'stdout': 'keylime.tenant - ERROR - You must specify one of '
                       '-k, -f, or --cert to specify the key/contents',
             'rc': 1},
            {'fixture': 'tenant-add'}]))
        self.add(tenant.POLICY_LEGACY)
        first, second = self.fake.calls('add')
        self.assertNotIn('-f', first['argv'])
        payload = second['argv'][second['argv'].index('-f') + 1]
        self.assertEqual(0o600, second['files'][payload]['mode'])
        self.assertIn('no secret', second['files'][payload]['head'])
        # The tenant is remembered: next time the payload comes at once.
        self.add(tenant.POLICY_LEGACY)
        self.assertIn('-f', self.fake.calls('add')[2]['argv'])
        self.assertEqual(3, len(self.fake.calls('add')))

    def test_add_without_success_message_fails(self):
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'stdout': 'keylime.tenant - INFO - TLS is enabled.\n'}]))
        error = self.assertRaises(exception.TenantCommandFailed, self.add)
        self.assertIn('keylime_tenant -c add failed (exit code 0)',
                      str(error))

    def test_add_nonzero_exit_fails(self):
        self.fake.set_commands(tenant_fixture.plan(add=[
            {'stdout': 'x - keylime.tenant - ERROR - Agent 1 is in an '
                       'unknown state\n', 'rc': 1}]))
        error = self.assertRaises(exception.TenantCommandFailed, self.add)
        self.assertIn('unknown state', str(error))

    def test_add_unregistered_agent(self):
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'fixture': 'tenant-status-unknown'}]))
        error = self.assertRaises(exception.AgentNotFound, self.add)
        self.assertIn('not registered with the registrar', str(error))

    def test_status_pass(self):
        result = self.tenant.status(UUID, VERIFIER, REGISTRAR)
        self.assertEqual(status.PASS, result.verdict)
        argv = self.fake.calls('status')[0]['argv']
        self.assertEqual(['-c', 'status', '-u', UUID, '-v', '127.0.0.1',
                          '-vp', '8881', '-r', '127.0.0.1', '-rp', '8891'],
                         argv)

    def test_status_passes_the_start_of_the_attempt(self):
        # A verifier that reports no count: only a quote received after
        # the start is evidence.
        record = {'operational_state': 'Get Quote',
                  'last_successful_attestation': 1795913100}
        out = ('keylime.tenant - INFO - Agent Info from Verifier '
               '(127.0.0.1:8881):\n%s\n' % json.dumps({UUID: record}))
        self.fake.set_commands(tenant_fixture.plan(status=[{'stdout': out}]))
        self.assertEqual(status.PASS, self.tenant.status(
            UUID, VERIFIER, REGISTRAR, since=1795913000).verdict)
        self.assertEqual(status.PENDING, self.tenant.status(
            UUID, VERIFIER, REGISTRAR, since=1795913100).verdict)
        self.assertEqual(status.PENDING, self.tenant.status(
            UUID, VERIFIER, REGISTRAR).verdict)

    def test_status_invalid_quote_exit_0_is_fail(self):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        result = self.tenant.status(UUID, VERIFIER, REGISTRAR)
        self.assertEqual(status.FAIL, result.verdict)

    def test_status_unknown_agent(self):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-unknown'}]))
        self.assertRaises(exception.AgentNotFound, self.tenant.status,
                          UUID, VERIFIER, REGISTRAR)

    def test_status_garbage(self):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'stdout': '\x00\x01garbage\n'}]))
        self.assertRaises(exception.UnparsableOutput, self.tenant.status,
                          UUID, VERIFIER, REGISTRAR)

    def test_status_crash_is_a_failure_not_a_verdict(self):
        self.fake.set_commands(tenant_fixture.plan(status=[
            {'stdout': 'Traceback (most recent call last):\n'
                       'KeyError: boom\n', 'rc': 1}]))
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.tenant.status, UUID, VERIFIER,
                                  REGISTRAR)
        self.assertIn('KeyError: boom', str(error))

    def test_delete_unknown_agent_is_fine(self):
        self.tenant.delete(UUID, VERIFIER)
        self.assertEqual(['-c', 'delete', '-u', UUID, '-v', '127.0.0.1',
                          '-vp', '8881'],
                         self.fake.calls('delete')[0]['argv'])

    def test_delete_real_output(self):
        self.fake.set_commands(tenant_fixture.plan(
            delete=[{'fixture': 'tenant-delete'}]))
        self.tenant.delete(UUID, VERIFIER)

    def test_delete_unreachable_verifier(self):
        self.fake.set_commands(tenant_fixture.plan(delete=[{
            'stdout': "x - keylime.tenant - ERROR - HTTPSConnectionPool("
                      "host='127.0.0.1', port=8881): Max retries exceeded "
                      "(Connection refused)\n", 'rc': 1}]))
        error = self.assertRaises(exception.ServiceUnreachable,
                                  self.tenant.delete, UUID, VERIFIER)
        self.assertIn('Keylime verifier at 127.0.0.1:8881', str(error))

    def test_hung_tenant_is_killed_with_its_children(self):
        pid_file = self.fake.child_pid_file()
        self.fake.set_commands(tenant_fixture.plan(status=[
            {'hang': 60, 'child_pid_file': pid_file}]))
        self.tenant.timeout = 2
        start = time.monotonic()
        error = self.assertRaises(exception.TenantTimeout,
                                  self.tenant.status, UUID, VERIFIER,
                                  REGISTRAR)
        self.assertLess(time.monotonic() - start, 30)
        self.assertIn('within the command timeout (2 s)', str(error))
        with open(pid_file) as f:
            child = int(f.read())
        # The child of the tenant went with it (it may linger as a zombie
        # of init for a moment).
        for _ in range(50):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            self.fail('the child of the hung tenant still runs')

    def _gone(self, pid):
        # Killed processes may linger as zombies of init for a moment.
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    def test_endless_output_is_cut_and_the_group_killed(self):
        # Keylime 7.14's tenant prints the agent's answer: a tampered
        # agent can make it hundreds of MB. The tenant is killed with its
        # process group as soon as it printed more than the bound.
        pid_file = self.fake.child_pid_file()
        self.fake.set_commands(tenant_fixture.plan(status=[
            {'flood': 50 * 1024 * 1024, 'child_pid_file': pid_file}]))
        self.tenant.max_output = 256 * 1024
        self.tenant.timeout = 50
        start = time.monotonic()
        error = self.assertRaises(exception.OutputTooLarge,
                                  self.tenant.status, UUID, VERIFIER,
                                  REGISTRAR)
        self.assertLess(time.monotonic() - start, 30)
        self.assertIn('keylime_tenant -c status printed more than 262144 '
                      'bytes (the output bound) and was killed', str(error))
        tenant_pid = self.fake.calls('status')[0]['session']['pid']
        with open(pid_file) as f:
            child = int(f.read())
        self.assertTrue(self._gone(tenant_pid), 'the tenant still runs')
        self.assertTrue(self._gone(child), 'its child still runs')
        # Its process group is gone as a whole.
        self.assertRaises(ProcessLookupError, os.killpg, tenant_pid, 0)

    def test_output_bound_named_by_the_caller(self):
        self.fake.set_commands(tenant_fixture.plan(status=[
            {'stdout': 'x' * 70000, 'rc': 0}]))
        bounded = tenant.Tenant(
            self.fake.path, timeout=30, max_output=65536,
            setting_names={'max_output': '[keylime]max_tenant_output_size'})
        error = self.assertRaises(exception.OutputTooLarge, bounded.status,
                                  UUID, VERIFIER, REGISTRAR)
        self.assertIn('([keylime]max_tenant_output_size)', str(error))

    def test_missing_executable(self):
        missing = tenant.Tenant('/nonexistent/keylime_tenant')
        error = self.assertRaises(exception.TenantNotFound, missing.delete,
                                  UUID, VERIFIER)
        self.assertIn('/nonexistent/keylime_tenant', str(error))

    def test_not_a_tenant(self):
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': 'usage: ls [OPTION]... [FILE]...\n'}]}))
        self.assertRaises(exception.TenantCommandFailed,
                          self.tenant.delete, UUID, VERIFIER)

    def test_capabilities_of_7_14(self):
        caps = self.tenant.capabilities()
        self.assertTrue(caps.service_ports)
        self.assertTrue(caps.runtime_policy)
        self.assertTrue(caps.tpm_policy)
        self.tenant.capabilities()
        self.assertEqual(1, len(self.fake.calls('--help')))

    def test_tenant_before_6_2_cannot_take_ports(self):
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': OLD_HELP + ' --uuid\n'}]}))
        error = self.assertRaises(
            exception.KeylimeError, self.tenant.delete, UUID,
            tenant.Endpoint('127.0.0.1', 18881))
        self.assertIn('before Keylime 6.2', str(error))
        self.tenant.delete(UUID, VERIFIER)
        self.assertEqual(['-c', 'delete', '-u', UUID, '-v', '127.0.0.1'],
                         self.fake.calls('delete')[0]['argv'])


class SettingNamesTestCase(base.BaseTestCase):
    """The client names the caller's settings only as it is told."""

    def test_caller_names_its_settings(self):
        tenant_client = tenant.Tenant(
            path='/nonexistent/keylime_tenant',
            setting_names={'path': '[keylime]tenant_path'})
        error = self.assertRaises(exception.TenantNotFound,
                                  tenant_client.run, ['--help'])
        self.assertIn('set [keylime]tenant_path.', str(error))

    def test_plain_words_by_default(self):
        error = self.assertRaises(
            exception.TenantNotFound,
            tenant.Tenant(path='/nonexistent/keylime_tenant').run, ['--help'])
        self.assertIn('set the path of keylime_tenant.', str(error))
