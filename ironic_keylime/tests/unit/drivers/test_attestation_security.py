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

"""The keylime interface read as an attacker would.

Each test names a way a tampered node, its lessee or a stale record could
get a PASS or avoid the check, and asserts that it ends in a refusal or a
failure instead. Nodes, tasks, the state machine and the periodic task's
node iteration are Ironic's own; keylime_tenant replays real outputs.
"""

import base64
import json
import os
import time
from unittest import mock

from ironic.common import exception
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.keylime_client import ek as kl_ek
from ironic_keylime.keylime_client import verifier as kl_verifier
from ironic_keylime.tests import base as base_fixtures
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit.drivers import rest_enrollment
from ironic_keylime.tests.unit import registrar_fixture
from ironic_keylime.tests.unit import tenant_fixture

AGENT_UUID = base.AGENT_UUID
SERVICE_STEP = {'step': 'attest', 'interface': 'attestation',
                'priority': 0, 'argsinfo': None}


def _uuid_of(call):
    return call['argv'][call['argv'].index('-u') + 1]


class AgentOfAnotherNodeTestCase(base.KeylimeTestCase):
    """A node is never attested under another node's identity."""

    def test_uuid_of_another_node_refused(self):
        other = self.create_node()
        node = self.create_node(driver_info=self.driver_info(
            keylime_agent_uuid=other.uuid.upper()))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('is the UUID of node %s' % other.uuid, str(error))
        self.assertEqual([], self.fake.calls())

    def test_agent_of_another_attestation_refused(self):
        other = self.create_node()
        self.attest(other)
        before = len(self.fake.calls())
        node = self.create_node()  # the same keylime_agent_uuid
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('is being attested for node %s' % other.uuid,
                      str(error))
        # Above all, the other node's agent was not deleted.
        self.assertEqual(before, len(self.fake.calls()))
        other.refresh()
        self.assertIn(kl_record.STATE_KEY, other.driver_internal_info)


class EarlierRecordTestCase(base.KeylimeTestCase):
    """One attempt, one record."""

    def earlier_record(self, agent_uuid='0ld0'):
        return {kl_record.STATE_KEY: {
            'agent_uuid': agent_uuid, 'verifier': ['127.0.0.2', 8881],
            'registrar': ['127.0.0.2', 8891],
            'started_at': '2026-01-01T00:00:00'}}

    def test_earlier_agent_removed_before_a_new_attempt(self):
        node = self.create_node(driver_internal_info=self.earlier_record())
        self.attest(node)
        deletes = self.fake.calls('delete')
        self.assertEqual('0ld0', _uuid_of(deletes[0]))
        self.assertIn('127.0.0.2', deletes[0]['argv'])
        node.refresh()
        record = node.driver_internal_info[kl_record.STATE_KEY]
        self.assertEqual(AGENT_UUID, record['agent_uuid'])
        self.assertTrue(uuidutils.is_uuid_like(record['attempt']))
        self.assertEqual('deploy', record['operation'])

    def test_earlier_agent_not_removable_fails_the_new_attempt(self):
        self.fake.set_commands(tenant_fixture.plan(delete=[
            {'stdout': 'x - keylime.tenant - ERROR - boom\n', 'rc': 1}]))
        node = self.create_node(driver_internal_info=self.earlier_record())
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('0ld0 could not be removed', str(error))
        self.assertEqual([], self.fake.calls('add'))
        node.refresh()
        self.assertEqual(
            '0ld0', node.driver_internal_info[kl_record.STATE_KEY][
                'agent_uuid'])

    def test_each_attempt_has_its_own_id(self):
        node = self.create_node()
        self.attest(node)
        node.refresh()
        first = node.driver_internal_info[kl_record.STATE_KEY]['attempt']
        node.provision_state = states.DEPLOYING
        node.save()
        self.attest(node)
        node.refresh()
        self.assertNotEqual(
            first, node.driver_internal_info[kl_record.STATE_KEY]['attempt'])


# notify_conductor_resume_* sends an RPC to a conductor service, which
# does not run in unit tests; the real-Ironic functional tests cover it.
@mock.patch.object(manager_utils, 'notify_conductor_resume_service',
                   autospec=True)
@mock.patch.object(manager_utils, 'notify_conductor_resume_clean',
                   autospec=True)
@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class StaleVerdictTestCase(base.KeylimeTestCase):

    def test_verdict_of_a_replaced_attempt_dropped(self, *resumes):
        node = self.create_node()
        self.attest(node)
        node.refresh()
        old = dict(node.driver_internal_info[kl_record.STATE_KEY])
        old['attempt'] = uuidutils.generate_uuid()
        status = mock.Mock(verdict='PASS', state='Get Quote',
                           last_event_id=None)
        with task_manager.acquire(self.context, node.uuid,
                                  shared=True) as task:
            self.iface._finish(task, old, status=status)
        for resume in resumes:
            resume.assert_not_called()
        node.refresh()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_record_of_an_earlier_operation_not_acted_on(self, *resumes):
        # The node waits in cleaning's attest step with a record of the
        # deployment before: that verdict is not the cleaning's.
        node = self.create_node('clean')
        self.attest(node)
        node.refresh()
        record = node.driver_internal_info[kl_record.STATE_KEY]
        record['operation'] = 'deploy'
        node.set_driver_internal_info(kl_record.STATE_KEY, record)
        node.save()
        node = self.check(node)
        for resume in resumes:
            resume.assert_not_called()
        self.assertEqual([], self.fake.calls('status'))
        self.assertEqual(states.CLEANFAIL, node.provision_state)
        self.assertIn('no attestation of this step is in progress',
                      node.last_error)
        self.assertNothingLeft(node)

    def test_record_while_another_step_waits_removed(self, *resumes):
        node = self.create_node('clean')
        self.attest(node)
        node.refresh()
        node.clean_step = {'step': 'erase_devices', 'interface': 'deploy',
                           'priority': 10, 'argsinfo': None}
        node.save()
        node = self.check(node)
        for resume in resumes:
            resume.assert_not_called()
        self.assertEqual(states.CLEANWAIT, node.provision_state)
        self.assertIsNone(node.last_error)
        self.assertEqual('delete', self.fake.calls()[-1]['command'])
        self.assertNothingLeft(node)

    def test_attest_step_without_record_fails(self, *resumes):
        # E.g. the step was run by a conductor without ironic-keylime.
        node = self.create_node('clean', provision_state=states.CLEANWAIT)
        node = self.check(node)
        self.assertEqual(states.CLEANFAIL, node.provision_state)
        self.assertIn('no attestation of this step is in progress',
                      node.last_error)
        self.assertEqual([], self.fake.calls())


@mock.patch.object(manager_utils, 'notify_conductor_resume_service',
                   autospec=True)
class ServicingPolicyTestCase(base.KeylimeTestCase):

    def service_node(self):
        node = self.create_node(provision_state=states.SERVICING,
                                service_step=SERVICE_STEP)
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.SERVICEWAIT, self.iface.attest(task))
            task.process_event('wait')
        return node

    def test_service_has_its_own_failure_policy(self, resume):
        self.config(fail_deploy_on_attestation_failure=False,
                    group='keylime')
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.check(self.service_node())
        resume.assert_not_called()
        self.assertEqual(states.SERVICEFAIL, node.provision_state)
        self.assertIn('Invalid Quote', node.last_error)

    def test_service_failure_policy_off_goes_on(self, resume):
        self.config(fail_service_on_attestation_failure=False,
                    group='keylime')
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        self.check(self.service_node())
        self.assertEqual(1, resume.call_count)


class SpecContractTestCase(base.KeylimeTestCase):
    """validate_security_status raises on FAIL (the approved spec)."""

    def test_fail_raises_with_state_and_event(self):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node()
        self.attest(node)
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailedVerdict,
                self.iface.validate_security_status, task)
        self.assertIn('Invalid Quote', str(error))
        self.assertIn('ima.validation.ima-ng.not_in_allowlist', str(error))
        self.assertEqual('FAIL', error.status.verdict)
        self.assertIsInstance(error, kl_ironic_exception.AttestationFailure)

    def test_pass_returns(self):
        node = self.create_node()
        self.attest(node)
        with task_manager.acquire(self.context, node.uuid) as task:
            status = self.iface.validate_security_status(task)
        self.assertEqual('PASS', status.verdict)


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class PeriodicIsolationTestCase(base.KeylimeTestCase):

    def test_one_bad_node_does_not_stop_the_pass(self, resume):
        broken = self.create_node(
            driver_info=self.driver_info(
                attestation_interface='keylime',
                keylime_agent_uuid=uuidutils.generate_uuid()))
        self.attest(broken)
        broken.refresh()
        record = broken.driver_internal_info[kl_record.STATE_KEY]
        record['verifier'] = 'not an endpoint'
        broken.set_driver_internal_info(kl_record.STATE_KEY, record)
        broken.save()
        healthy = self.create_node(driver_info=self.driver_info(
            attestation_interface='keylime'))
        self.attest(healthy)
        self.iface._check_attestations(base.Manager(), self.context)
        broken.refresh()
        healthy.refresh()
        self.assertEqual(states.DEPLOYFAIL, broken.provision_state)
        self.assertIn('unexpected error while reading the verdict',
                      broken.last_error)
        self.assertEqual(1, resume.call_count)
        self.assertNotIn(kl_record.STATE_KEY,
                         healthy.driver_internal_info)


def _status_without_count(successful_at):
    """A real 7.14.3 status output, as a verifier without a count shows it.

    The verifier's record loses ``attestation_count`` and
    ``last_received_quote``; ``last_successful_attestation`` is set.
    """
    path = os.path.join(base_fixtures.FIXTURES, 'tenant-7.14.3',
                        'tenant-status-ok-1.stdout')
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines):
        if (line.startswith('{"%s"' % AGENT_UUID)
                and 'operational_state' in line):
            record = json.loads(line)
            fields = record[AGENT_UUID]
            fields.pop('attestation_count', None)
            fields.pop('last_received_quote', None)
            fields['last_successful_attestation'] = successful_at
            lines[number] = json.dumps(record)
    return '\n'.join(lines) + '\n'


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class QuoteOfThisAttemptTestCase(base.KeylimeTestCase):
    """PASS needs a quote verified after the attempt started."""

    def test_quote_verified_before_the_attempt_is_no_pass(self, resume):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'stdout': _status_without_count(1000)}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        resume.assert_not_called()
        self.assertEqual(states.DEPLOYWAIT, node.provision_state)
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def test_quote_verified_during_the_attempt_passes(self, resume):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'stdout': _status_without_count(time.time() + 60)}]))
        node = self.create_node()
        self.attest(node)
        self.check(node)
        self.assertEqual(1, resume.call_count)


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class TPMBindingFlowTestCase(base.KeylimeTestCase):
    """The attest step binds the node to its TPM's endorsement key.

    The registrar is a TLS server replaying a real 7.14.3 registrar's
    answers (:mod:`ironic_keylime.tests.unit.registrar_fixture`).
    """

    def setUp(self):
        super().setUp()
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())
        self.registrar.routes['/v2.6/agents/%s' % AGENT_UUID] = (
            200, registrar_fixture.recorded('agent.json'))
        self.config(ek_binding='trust_on_first_use',
                    tenant_cert_dir=self.registrar.cert_dir,
                    group='keylime')

    def create_node(self, operation='deploy', **kwargs):
        kwargs.setdefault('driver_info', self.driver_info(
            keylime_rp=self.registrar.port))
        return super().create_node(operation, **kwargs)

    def test_first_pass_records_the_tpm(self, resume):
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(1, resume.call_count)
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         node.driver_info['keylime_ek_sha256'])
        self.assertTrue(any(registrar_fixture.AGENT_EK_SHA256 in event
                            for _severity, event in self.history(node)))

    def test_a_fail_records_nothing(self, resume):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertNotIn('keylime_ek_sha256', node.driver_info)

    def test_changed_tpm_refused_before_add(self, resume):
        node = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port, keylime_ek_sha256='ab' * 32))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('the TPM of this node changed', str(error))
        self.assertIn(registrar_fixture.AGENT_EK_SHA256, str(error))
        self.assertIn('ab' * 32, str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_recorded_tpm_passes(self, resume):
        node = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port,
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256.upper()))
        self.attest(node)
        self.check(node)
        self.assertEqual(1, resume.call_count)

    def _swap_record_after_first_read(self):
        """The registrar's record of the agent changes after one read.

        What a tampered ramdisk gets by having its record deleted and the
        UUID registered again with a TPM it controls, between the
        conductor's check and keylime_tenant's own read.
        """
        body = json.loads(registrar_fixture.recorded('agent.json'))
        raw = bytearray(base64.b64decode(body['results']['ek_tpm']))
        raw[-1] ^= 0x01
        body['results']['ek_tpm'] = base64.b64encode(bytes(raw)).decode()
        swapped = kl_ek.fingerprint(body['results']['ek_tpm'])
        self.registrar.in_turn['/v2.6/agents/%s' % AGENT_UUID] = [
            (200, registrar_fixture.recorded('agent.json')),
            (200, json.dumps(body).encode())]
        return swapped

    def _attest_fails(self, node):
        with task_manager.acquire(self.context, node.uuid) as task:
            return self.assertRaises(kl_ironic_exception.AttestationFailure,
                                     self.iface.attest, task)

    def test_record_swapped_after_the_check_refused(self, resume):
        swapped = self._swap_record_after_first_read()
        node = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port,
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256))
        error = self._attest_fails(node)
        self.assertIn('changed after the conductor checked it', str(error))
        self.assertIn(swapped, str(error))
        self.assertIn(registrar_fixture.AGENT_EK_SHA256, str(error))
        # The conductor read the record, then the tenant did.
        self.assertEqual(2, len([p for p in self.registrar.requests
                                 if '/agents/' in p]))
        self.assertEqual(1, len(self.fake.calls('add')))

    def test_record_swapped_on_first_use_refused(self, resume):
        # No pin yet: the tenant's read must show the EK the conductor
        # saw and would record after a PASS.
        swapped = self._swap_record_after_first_read()
        node = self.create_node()
        error = self._attest_fails(node)
        self.assertIn(swapped, str(error))
        node.refresh()
        self.assertNotIn('keylime_ek_sha256', node.driver_info)

    def test_tenant_that_skips_the_ek_check_refused(self, resume):
        # A keylime_tenant that ignores KEYLIME_TENANT_EK_CHECK_SCRIPT
        # adds the agent with whatever its read found: not a PASS.
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'fixture': 'tenant-add', 'skip_ek_check': True}]))
        node = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port,
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256))
        error = self._attest_fails(node)
        self.assertIn('without running ironic-keylime-ek-check', str(error))

    def test_tenant_given_the_ek_check(self, resume):
        node = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port,
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256))
        self.attest(node)
        env = self.fake.calls('add')[0]['keylime_env']
        self.assertEqual(keylime_api.ek_check_script(),
                         env['KEYLIME_TENANT_EK_CHECK_SCRIPT'])
        self.assertTrue(os.path.isabs(env['KEYLIME_TENANT_EK_CHECK_SCRIPT']))

    def test_missing_ek_check_script_fails_before_add(self, resume):
        self.config(ek_check_script='/nonexistent/ironic-keylime-ek-check',
                    group='keylime')
        node = self.create_node()
        error = self._attest_fails(node)
        self.assertIn('[keylime]ek_check_script', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_image_mode_needs_the_binding(self, resume):
        self.config(agent_uuid_mode='image', ek_binding='off',
                    group='keylime')
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.attest, task)
        self.assertIn('[keylime]ek_binding', str(error))
        self.assertEqual([], self.fake.calls())

    def test_image_mode_tpm_of_another_node_refused(self, resume):
        self.config(agent_uuid_mode='image', group='keylime')
        other = self.create_node(driver_info=self.driver_info(
            keylime_rp=self.registrar.port,
            keylime_agent_uuid=uuidutils.generate_uuid(),
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('bound to node %s' % other.uuid, str(error))
        self.assertEqual([], self.fake.calls('add'))


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class RestVerifierFlowTestCase(base.KeylimeTestCase):
    """[keylime]verifier_api = rest: verdicts and removal over HTTPS.

    The verifier is a real HTTPS server on 127.0.0.1 replaying a real
    7.14.3 verifier's answers; keylime_tenant (which still adds the agent)
    replays real outputs.
    """

    def setUp(self):
        super().setUp()
        self.registrar, (self.server,) = rest_enrollment.start(self)
        self.addCleanup(kl_verifier.clear_clients)
        rest_enrollment.register(self.registrar, self.server, AGENT_UUID)
        agent_path = '/v2.6/agents/%s' % AGENT_UUID
        self.server.routes[('GET', agent_path)] = 'agent-pass'
        self.server.routes[('DELETE', agent_path)] = 'delete-unknown'

    def create_node(self, operation='deploy', **kwargs):
        kwargs.setdefault('driver_info', self.driver_info(
            keylime_vp=self.server.port, keylime_rp=self.registrar.port))
        return super().create_node(operation, **kwargs)

    def rest_calls(self):
        return [(r['method'], r['path']) for r in self.server.requests
                if '/agents/' in r['path']]

    def test_pass_read_and_agent_removed_over_rest(self, resume):
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertEqual(1, resume.call_count)
        # No keylime_tenant process at all: not even its --help.
        self.assertEqual([], self.fake.calls())
        path = '/v2.6/agents/%s' % AGENT_UUID
        self.assertEqual([('DELETE', path), ('POST', path), ('GET', path),
                          ('DELETE', path)], self.rest_calls())
        self.assertNothingLeft(node)

    def _posted(self):
        posts = [r for r in self.server.requests if r['method'] == 'POST']
        self.assertEqual(1, len(posts))
        return json.loads(posts[0]['body'])

    def test_enrollment_body_is_the_tenants(self, resume):
        self.attest(self.create_node())
        body = self._posted()
        agent = json.loads(registrar_fixture.recorded('agent.json'))
        # The attestation key and certificate of the registrar read.
        self.assertEqual(agent['results']['aik_tpm'], body['ak_tpm'])
        self.assertEqual(agent['results']['mtls_cert'], body['mtls_cert'])
        self.assertEqual(['127.0.0.1', 9002],
                         [body['cloudagent_ip'], body['cloudagent_port']])
        policy = json.loads(base64.b64decode(body['runtime_policy']))
        self.assertIn('digests', policy)
        # The IMA PCR is in the mask, as the tenant sets it.
        self.assertEqual({'mask': hex(1 << 10)},
                         json.loads(body['tpm_policy']))
        self.assertIsNone(body['mb_policy'])
        self.assertEqual('{}', body['metadata'])

    def test_swapped_registrar_record_is_not_enrolled(self, resume):
        # The EK pin is checked on the read whose AK is sent: a record
        # of another TPM fails before anything reaches the verifier.
        self.config(ek_binding='required', group='keylime')
        node = self.create_node(driver_info=self.driver_info(
            keylime_vp=self.server.port, keylime_rp=self.registrar.port,
            keylime_ek_sha256='ab' * 32))
        self.assertRaises(kl_ironic_exception.AttestationFailure,
                          self.attest, node)
        self.assertEqual([], [r for r in self.server.requests
                              if r['method'] == 'POST'])
        self.assertEqual(1, len([p for p in self.registrar.requests
                                 if '/agents/' in p]))

    def test_attestation_key_of_the_checked_read(self, resume):
        # The registrar's record changes after the first read (another
        # AK registered under the UUID): the verifier gets the AK of the
        # read whose EK was checked, never a later one.
        self.config(ek_binding='trust_on_first_use', group='keylime')
        path = '/v2.6/agents/%s' % AGENT_UUID
        checked = registrar_fixture.recorded('agent.json')
        swapped = json.loads(checked)
        swapped['results']['aik_tpm'] = 'c3dhcHBlZA=='
        self.registrar.in_turn[path] = [
            (200, checked), (200, json.dumps(swapped).encode())]
        self.attest(self.create_node())
        self.assertEqual(json.loads(checked)['results']['aik_tpm'],
                         self._posted()['ak_tpm'])

    def test_verifier_too_old_for_rest_enrollment(self, resume):
        self.server.routes[('GET', '/version')] = (200, {
            'code': 200, 'status': 'Success',
            'results': {'current_version': '2.1',
                        'supported_versions': ['2.0', '2.1']}})
        self.server.routes[('DELETE', '/v2.1/agents/%s' % AGENT_UUID)] = (
            'delete-unknown')
        node = self.create_node()
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self.attest, node)
        self.assertIn('enrollment over REST needs 2.6', str(error))
        self.assertIn('[keylime]verifier_api', str(error))
        self.assertEqual([], self.fake.calls())

    def test_legacy_lists_are_refused_over_rest(self, resume):
        self.config(policy_format='legacy', group='keylime')
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self.attest, self.create_node())
        self.assertIn('[keylime]policy_format is "legacy"', str(error))
        self.assertEqual([], self.fake.calls())

    def test_fail_over_rest_fails_the_deployment(self, resume):
        self.server.routes[('GET', '/v2.6/agents/%s' % AGENT_UUID)] = (
            'agent-fail')
        node = self.check(self._attested())
        resume.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('Invalid Quote', node.last_error)

    def test_verifier_down_is_an_error(self, resume):
        node = self._attested()
        self.server.stop()
        node = self.check(node)
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('did not answer', node.last_error)
        # The agent may still be on the verifier: kept for the retries.
        self.assertIn(kl_record.STATE_KEY, node.driver_internal_info)

    def _attested(self):
        node = self.create_node()
        self.attest(node)
        return node
