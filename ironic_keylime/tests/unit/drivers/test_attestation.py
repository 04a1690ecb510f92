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

"""The keylime interface on real Ironic nodes, tasks and steps.

keylime_tenant is a real process replaying real outputs (see
:mod:`ironic_keylime.tests.unit.fake_tenant`); nodes, tasks, the state
machine, the error handlers and the node history are Ironic's own.
"""

import datetime
import os
from unittest import mock

import fixtures
from ironic.common import exception
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from oslo_utils import timeutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import last_attestation
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import tenant_fixture


class ValidateTestCase(base.KeylimeTestCase):

    def test_validate(self):
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.iface.validate(task)

    def test_validate_bad_driver_info(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_vp='x'))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn('driver_info/keylime_vp', str(error))

    def test_validate_confines_list_paths(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_excludelist='/etc/shadow'))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn('driver_info/keylime_excludelist', str(error))

    def test_properties(self):
        props = self.iface.get_properties()
        self.assertIn('Required', props['keylime_v'])
        self.assertIn('keylime_container', props)


class StepsTestCase(base.KeylimeTestCase):

    def steps(self, kind):
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            return getattr(self.iface, 'get_%s_steps' % kind)(task)

    def test_default_priorities(self):
        self.assertEqual([('attest', 90)], [(s['step'], s['priority'])
                                            for s in self.steps('deploy')])
        self.assertEqual([('attest', 95), ('enroll_boot_state', 0)],
                         [(s['step'], s['priority'])
                          for s in self.steps('clean')])
        service = self.steps('service')
        self.assertEqual([('attest', 0)], [(s['step'], s['priority'])
                                           for s in service])
        self.assertTrue(service[0]['requires_ramdisk'])

    def test_configured_priorities(self):
        self.config(deploy_step_priority=0, clean_step_priority=42,
                    group='keylime')
        self.assertEqual(0, self.steps('deploy')[0]['priority'])
        self.assertEqual(42, self.steps('clean')[0]['priority'])
        self.assertEqual('attestation', self.steps('clean')[0]['interface'])


class AttestStepTestCase(base.KeylimeTestCase):

    def test_attest_adds_agent_and_waits(self):
        node = self.create_node()
        self.assertEqual(states.DEPLOYWAIT, self.attest(node))
        node.refresh()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        internal = node.driver_internal_info
        self.assertTrue(internal['deployment_polling'])
        self.assertTrue(internal['skip_current_deploy_step'])
        record = internal[kl_record.STATE_KEY]
        self.assertEqual(base.AGENT_UUID, record['agent_uuid'])
        self.assertEqual(['127.0.0.1', 8881], record['verifier'])
        self.assertEqual(['127.0.0.1', 8891], record['registrar'])
        # A stale agent is removed first, then the agent is added.
        self.assertEqual(['--help', 'delete', 'add'],
                         [c['command'] for c in self.fake.calls()])
        add = self.fake.calls('add')[0]
        self.assertEqual('/etc/ironic/keylime/cv_ca',
                         add['env']['KEYLIME_TENANT_TLS_DIR'])
        policy = add['argv'][add['argv'].index('--runtime-policy') + 1]
        # The lists reached the tenant from a private directory...
        self.assertEqual(0o600, add['files'][policy]['mode'])
        self.assertEqual(0o700, add['files'][policy]['dir_mode'])
        self.assertTrue(policy.startswith(self.tempdir))
        # ... which is gone now.
        self.assertEqual([], self.leftovers())

    def test_attest_legacy_lists_with_fixed_boot_aggregate(self):
        self.config(policy_format='legacy', group='keylime')
        self.attest(self.create_node())
        add = self.fake.calls('add')[0]
        allowlist = add['argv'][add['argv'].index('--allowlist') + 1]
        self.assertTrue(add['files'][allowlist]['head'].startswith(
            '%s  boot_aggregate' % ('0' * 64)))
        self.assertIn('--exclude', add['argv'])
        self.assertEqual([], self.leftovers())

    def test_attest_clean(self):
        node = self.create_node('clean')
        self.assertEqual(states.CLEANWAIT, self.attest(node))
        node.refresh()
        self.assertTrue(node.driver_internal_info['cleaning_polling'])

    def test_checksum_mismatch_never_calls_the_tenant(self):
        self.write('allowlist', base.ALLOWLIST + b'%s  /evil\n' % (b'b' * 64))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('does not match its checksum', str(error))
        self.assertEqual([], self.fake.calls())
        self.assertNothingLeft(node)

    def test_missing_list_file(self):
        os.unlink(self.excludelist)
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('driver_info/keylime_excludelist', str(error))
        self.assertNothingLeft(node)

    def test_bad_driver_info_fails_the_step(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_v='0.0.0.0'))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.attest, task)
        self.assertIn('wildcard', str(error))
        self.assertEqual([], self.fake.calls())

    def test_add_fails_agent_deleted(self):
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'fixture': 'tenant-status-unknown'}]))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('not registered with the registrar at '
                      '127.0.0.1:8891', str(error))
        # delete (stale), add, delete (cleanup)
        self.assertEqual(['delete', 'add', 'delete'],
                         [c['command'] for c in self.fake.calls()
                          if c['command'] != '--help'])
        self.assertNothingLeft(node)

    def test_hung_tenant(self):
        self.config(command_timeout=2, group='keylime')
        self.fake.set_commands(tenant_fixture.plan(add=[
            {'hang': 60, 'child_pid_file': self.fake.child_pid_file()}]))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('[keylime]command_timeout (2 s)', str(error))
        self.assertNothingLeft(node)

    def test_failed_cleanup_is_reported(self):
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'stdout': 'nothing useful\n', 'rc': 1}],
            delete=[{'fixture': 'tenant-delete-unknown'},
                    {'stdout': 'x - keylime.tenant - ERROR - boom\n',
                     'rc': 1}]))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('could not be removed from the verifier', str(error))
        node.refresh()
        # Kept, so that the agent is removed later.
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)


# notify_conductor_resume_* sends an RPC to a conductor service, which
# does not run in unit tests; the real-Ironic functional tests cover it.
@mock.patch.object(manager_utils, 'notify_conductor_resume_clean',
                   autospec=True)
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class CheckAttestationTestCase(base.KeylimeTestCase):

    def test_pass_resumes_deploy(self, resume_deploy, resume_clean):
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(1, resume_deploy.call_count)
        resume_clean.assert_not_called()
        self.assertEqual(['--help', 'delete', 'add', 'status', 'delete'],
                         [c['command'] for c in self.fake.calls()])
        self.assertEqual(
            [('INFO', 'Keylime attestation PASS (operational state '
                      '"Get Quote").')], self.history(node))
        self.assertIsNone(node.last_error)
        self.assertNothingLeft(node)

    def test_fail_fails_deploy(self, resume_deploy, resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        resume_deploy.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Invalid Quote', node.last_error)
        self.assertIn('ima.validation.ima-ng.not_in_allowlist',
                      node.last_error)
        severity, event = self.history(node)[-1]
        self.assertEqual('ERROR', severity)
        self.assertIn('Keylime attestation FAIL', event)
        self.assertEqual('delete', self.fake.calls()[-1]['command'])
        self.assertNothingLeft(node)

    def test_fail_recorded_deploy_goes_on(self, resume_deploy,
                                          resume_clean):
        self.config(fail_deploy_on_attestation_failure=False,
                    group='keylime')
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(1, resume_deploy.call_count)
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        severity, event = self.history(node)[-1]
        self.assertEqual('ERROR', severity)
        self.assertIn('Invalid Quote', event)
        self.assertIn('fail_deploy_on_attestation_failure is False', event)
        self.assertNothingLeft(node)

    def test_fail_fails_clean(self, resume_deploy, resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node('clean')
        self.attest(node)
        node = self.check(node)
        resume_clean.assert_not_called()
        self.assertEqual(states.CLEANFAIL, node.provision_state)
        self.assertIn('Invalid Quote', node.last_error)
        self.assertNothingLeft(node)

    def test_fail_clean_policy_is_its_own(self, resume_deploy,
                                          resume_clean):
        self.config(fail_deploy_on_attestation_failure=False,
                    group='keylime')
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node('clean')
        self.attest(node)
        self.assertEqual(states.CLEANFAIL, self.check(node).provision_state)
        self.config(fail_clean_on_attestation_failure=False,
                    group='keylime')
        node = self.create_node('clean')
        self.attest(node)
        self.check(node)
        self.assertEqual(1, resume_clean.call_count)

    def test_pass_resumes_clean(self, resume_deploy, resume_clean):
        node = self.create_node('clean')
        self.attest(node)
        self.check(node)
        self.assertEqual(1, resume_clean.call_count)
        self.assertNothingLeft(node)

    def test_pending_waits(self, resume_deploy, resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-add'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.assertEqual('status', self.fake.calls()[-1]['command'])
        resume_deploy.assert_not_called()

    def test_pending_times_out(self, resume_deploy, resume_clean):
        self.config(attestation_timeout=60, group='keylime')
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-add'}]))
        node = self.create_node()
        self.attest(node)
        node.refresh()
        record = node.driver_internal_info[kl_record.STATE_KEY]
        later = (datetime.datetime.fromisoformat(record['started_at'])
                 + datetime.timedelta(seconds=61))
        self.useFixture(timeutils_fixture(later))
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('no verdict within [keylime]attestation_timeout '
                      '(60 s)', node.last_error)
        self.assertIn('"Start"', node.last_error)
        self.assertNothingLeft(node)
        # The node remembers the timeout as its own verdict.
        last = node.driver_internal_info[last_attestation.ATTESTATION_KEY]
        self.assertEqual('timeout', last['verdict'])
        self.assertIn('attestation_timeout', last['message'])

    def test_unknown_agent_fails(self, resume_deploy, resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-unknown'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('not registered with the registrar', node.last_error)
        self.assertNothingLeft(node)

    def test_garbage_fails(self, resume_deploy, resume_clean):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'stdout': 'all good, trust me\n'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('holds no verdict', node.last_error)
        resume_deploy.assert_not_called()

    def test_hung_status_fails(self, resume_deploy, resume_clean):
        node = self.create_node()
        self.attest(node)
        self.config(command_timeout=2, group='keylime')
        self.fake.set_commands(tenant_fixture.plan(status=[
            {'hang': 60, 'child_pid_file': self.fake.child_pid_file()}]))
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('command_timeout', node.last_error)
        self.assertNothingLeft(node)

    def test_pass_but_agent_not_removed_fails(self, resume_deploy,
                                              resume_clean):
        node = self.create_node()
        self.attest(node)
        self.fake.set_commands(tenant_fixture.plan(delete=[
            {'stdout': "x - keylime.tenant - ERROR - HTTPSConnectionPool("
                       "host='127.0.0.1', port=8881): Max retries exceeded "
                       "(Connection refused)\n", 'rc': 1}]))
        node = self.check(node)
        resume_deploy.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('PASS', node.last_error)
        self.assertIn('could not be removed from the verifier',
                      node.last_error)
        # Kept for the abandoned-attestation task to retry.
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_not_waiting_is_left_alone(self, resume_deploy, resume_clean):
        node = self.create_node()
        self.attest(node)
        node.provision_state = states.DEPLOYFAIL
        node.save()
        calls = len(self.fake.calls())
        self.check(node)
        self.assertEqual(calls, len(self.fake.calls()))


class AbandonedAttestationTestCase(base.KeylimeTestCase):

    def test_aborted_deploy_agent_removed(self):
        node = self.create_node()
        self.attest(node)
        node.provision_state = states.DEPLOYFAIL
        node.save()
        self.remove_abandoned(node)
        self.assertEqual('delete', self.fake.calls()[-1]['command'])
        self.assertNothingLeft(node)

    def test_retried_while_verifier_is_down(self):
        node = self.create_node()
        self.attest(node)
        node.provision_state = states.DEPLOYFAIL
        node.save()
        self.fake.set_commands(tenant_fixture.plan(delete=[
            {'stdout': 'x - keylime.tenant - ERROR - boom\n', 'rc': 1}]))
        node = self.remove_abandoned(node)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_waiting_node_untouched(self):
        node = self.create_node()
        self.attest(node)
        calls = len(self.fake.calls())
        node = self.remove_abandoned(node)
        self.assertEqual(calls, len(self.fake.calls()))
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)


class InterfaceMethodsTestCase(base.KeylimeTestCase):

    def test_unregister_without_attestation(self):
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.iface.unregister_node(task)
        self.assertEqual([], self.fake.calls())

    def test_validate_security_status_without_attestation(self):
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailure,
                self.iface.validate_security_status, task)
        self.assertIn('no attestation is in progress', str(error))


def timeutils_fixture(moment):
    """Set oslo.utils' clock to ``moment`` (naive UTC)."""
    class _Clock(fixtures.Fixture):
        def _setUp(self):
            timeutils.set_time_override(moment)
            self.addCleanup(timeutils.clear_time_override)
    return _Clock()
