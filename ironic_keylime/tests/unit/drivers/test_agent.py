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

"""The conductor's side of the ramdisk's keylime extension.

Ironic's AgentClient is real; only its HTTP call to the ramdisk
(``AgentClient._command``) is replaced, since no ramdisk runs in a unit
test. The functional test ``test_ipa_extension`` runs the real
ironic-python-agent.
"""

import logging
from unittest import mock

import fixtures
from ironic.common import exception
from ironic.common import states
from ironic.conductor import task_manager
from ironic.drivers.modules import agent_client
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.tests import base
from ironic_keylime.tests.unit.drivers import base as drivers_base
from ironic_keylime.tests.unit import registrar_fixture
from ironic_keylime.tests import utils

DRIVER_INFO = utils.get_test_keylime_info(keylime_v='10.0.0.2',
                                          keylime_r='10.0.0.3',
                                          keylime_rp=8891)
IDENTITY_NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c124'
AGENT_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'
CONTROL = drivers_base.CONTROL


def _ok(result):
    return {'command_status': 'SUCCEEDED', 'command_error': None,
            'command_result': result}


# The HTTP call to the ramdisk: no ramdisk runs in a unit test.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class RamdiskTestCase(base.DbTestCase):

    def _node(self, state=states.CLEANWAIT, driver_info=None, **internal):
        internal.setdefault('agent_url', 'http://10.0.0.9:9999')
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=state,
            driver_info=driver_info or dict(DRIVER_INFO),
            driver_internal_info=internal)

    def _update(self, node):
        with task_manager.acquire(self.context, node.uuid) as task:
            info = driver_info.parse_driver_info(task.node)
            result = agent.update_agent_info(task, info)
            identity = agent.identity(task.node, info)
        node.refresh()
        return result, identity

    def test_configures_and_records(self, mock_command):
        node = self._node()
        mock_command.return_value = _ok({
            'uuid': node.uuid, 'uuid_mode': 'fixed', 'address': None,
            'port': 9102, 'registrar_ip': '10.0.0.3',
            'registrar_port': 8890, 'running': True, 'restarted': True})
        result, (agent_uuid, endpoint) = self._update(node)
        # The agent registers on the registrar's plain port (8890 by
        # default), never on the tenant's TLS port keylime_rp (8891).
        mock_command.assert_called_once_with(
            mock.ANY, node=mock.ANY, method='keylime.configure_agent',
            params={'registrar_ip': '10.0.0.3', 'registrar_port': 8890,
                    'agent_uuid': node.uuid}, wait=True)
        self.assertEqual(node.uuid,
                         node.driver_internal_info['keylime_agent_uuid'])
        self.assertEqual(9102, node.driver_internal_info['keylime_agent_port'])
        self.assertNotIn('keylime_agent_address', node.driver_internal_info)
        self.assertEqual(node.uuid, agent_uuid)
        self.assertEqual(('10.0.0.9', 9102), (endpoint.host, endpoint.port))

    def test_agent_registrar_port_from_driver_info(self, mock_command):
        node = self._node(driver_info=dict(
            DRIVER_INFO, keylime_agent_registrar_port='18890'))
        mock_command.return_value = _ok({'uuid': node.uuid, 'port': 9102,
                                         'running': True})
        self._update(node)
        params = mock_command.call_args[1]['params']
        self.assertEqual(18890, params['registrar_port'])

    def test_stale_values_removed(self, mock_command):
        node = self._node(keylime_agent_address='10.9.9.9',
                          keylime_agent_port=1)
        mock_command.return_value = _ok({'uuid': node.uuid,
                                         'address': '10.0.0.7',
                                         'port': None})
        _result, (agent_uuid, endpoint) = self._update(node)
        self.assertEqual(node.uuid, agent_uuid)
        self.assertEqual(('10.0.0.7', 9002), (endpoint.host, endpoint.port))
        self.assertNotIn('keylime_agent_port', node.driver_internal_info)

    def test_driver_info_uuid_pushed_and_wins(self, mock_command):
        info = dict(DRIVER_INFO, keylime_agent_uuid=AGENT_UUID,
                    keylime_agent_address='10.0.0.50')
        node = self._node(driver_info=info)
        mock_command.return_value = _ok({'uuid': AGENT_UUID,
                                         'address': '10.0.0.50',
                                         'port': 9002})
        _result, (agent_uuid, endpoint) = self._update(node)
        params = mock_command.call_args[1]['params']
        self.assertEqual(AGENT_UUID, params['agent_uuid'])
        self.assertEqual('10.0.0.50', params['contact_ip'])
        self.assertEqual(('10.0.0.50', 9002), (endpoint.host, endpoint.port))

    def test_all_overrides_skip_the_ramdisk(self, mock_command):
        info = dict(DRIVER_INFO, keylime_agent_uuid=AGENT_UUID,
                    keylime_agent_address='10.0.0.50',
                    keylime_agent_port=9555)
        node = self._node(driver_info=info)
        result, (agent_uuid, endpoint) = self._update(node)
        self.assertIsNone(result)
        mock_command.assert_not_called()
        self.assertEqual((AGENT_UUID, '10.0.0.50', 9555),
                         (agent_uuid, endpoint.host, endpoint.port))

    def test_no_ramdisk(self, mock_command):
        for state, internal in [(states.CLEANWAIT, {'agent_url': None}),
                                (states.ACTIVE, {}),
                                (states.MANAGEABLE, {})]:
            node = self._node(state=state, **internal)
            with task_manager.acquire(self.context, node.uuid) as task:
                self.assertIsNone(agent.update_agent_info(
                    task, driver_info.parse_driver_info(task.node)))
        mock_command.assert_not_called()

    def test_ramdisk_states(self, mock_command):
        mock_command.side_effect = lambda client, node, method, params, wait: (
            _ok({'uuid': params['agent_uuid'], 'port': 9002}))
        for state in (states.DEPLOYING, states.DEPLOYWAIT, states.CLEANING,
                      states.SERVICING, states.SERVICEWAIT):
            self._update(self._node(state=state))
        self.assertEqual(5, mock_command.call_count)

    def test_extension_missing(self, mock_command):
        # What Ironic's client raises for IPA's 404 on an unknown
        # extension and 400 on an unknown command (seen in the functional
        # test with a real ironic-python-agent).
        for status, error in [
                (404, 'Not found: Extension with id keylime not found.'),
                (400, 'Invalid command: Unknown command: configure_agent')]:
            mock_command.side_effect = exception.AgentAPIError(
                node='n', status=status, error=error)
            node = self._node()
            with task_manager.acquire(self.context, node.uuid) as task:
                e = self.assertRaises(
                    kl_ironic_exception.AttestationFailure,
                    agent.update_agent_info, task,
                    driver_info.parse_driver_info(task.node))
            self.assertIn('ironic-keylime-agent element', str(e))
            self.assertIn(error, str(e))

    def test_refused(self, mock_command):
        mock_command.side_effect = exception.AgentAPIError(
            node='n', status=400, error='Invalid command parameters: '
            'keylime.configure_agent: registrar_port must be a port')
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('refused keylime.configure_agent', str(e))
        self.assertNotIn('element', str(e))

    def test_command_failed(self, mock_command):
        mock_command.return_value = {
            'command_status': 'FAILED', 'command_result': None,
            'command_error': {'type': 'CommandExecutionError',
                              'details': 'the Keylime agent does not '
                                         'listen'}}
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('failed in the ramdisk: the Keylime agent does not '
                      'listen', str(e))

    def test_unreachable(self, mock_command):
        mock_command.side_effect = exception.AgentConnectionFailed(
            reason='connection refused')
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('connection refused', str(e))

    def test_reported_uuid_of_another_agent_refused(self, mock_command):
        # A tampered ramdisk names a healthy node's agent: the verifier
        # would attest the healthy TPM for this node.
        mock_command.return_value = _ok({'uuid': AGENT_UUID, 'port': 9002})
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('reports the UUID %s, but the conductor asked for %s'
                      % (AGENT_UUID, node.uuid), str(e))
        node.refresh()
        self.assertNotIn('keylime_agent_uuid', node.driver_internal_info)

    def test_reported_uuid_compared_case_insensitively(self, mock_command):
        node = self._node()
        mock_command.return_value = _ok({'uuid': node.uuid.upper(),
                                         'port': 9002})
        _result, (agent_uuid, _endpoint) = self._update(node)
        self.assertEqual(node.uuid, agent_uuid)
        self.assertEqual(node.uuid,
                         node.driver_internal_info['keylime_agent_uuid'])

    def test_no_uuid_reported_refused(self, mock_command):
        mock_command.return_value = _ok({'uuid': None,
                                         'uuid_mode': 'hash_ek',
                                         'port': 9002})
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('reports the UUID none (uuid mode "hash_ek")', str(e))

    def test_image_mode_accepts_the_reported_uuid(self, mock_command):
        self.config(agent_uuid_mode='image', group='keylime')
        mock_command.return_value = _ok({'uuid': AGENT_UUID, 'port': 9002})
        _result, (agent_uuid, _endpoint) = self._update(self._node())
        self.assertEqual(AGENT_UUID, agent_uuid)

    def test_uuid_unknown(self, mock_command):
        self.config(agent_uuid_mode='image', group='keylime')
        mock_command.return_value = _ok({'uuid': None,
                                         'uuid_mode': 'hash_ek',
                                         'port': 9002})
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('uuid mode "hash_ek"', str(e))

    def _refused(self, node, mock_command, reported):
        mock_command.return_value = _ok(reported)
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        node.refresh()
        for key in driver_info.AGENT_KEYS:
            self.assertNotIn(key, node.driver_internal_info)
        self.assertNotRegex(str(e), CONTROL)
        return str(e)

    def test_malformed_reports_refused_before_recording(self, mock_command):
        # What a tampered ramdisk could report; nothing of it is recorded,
        # and the message shows it without control characters.
        self.config(agent_uuid_mode='image', group='keylime')
        node = self._node()
        good = {'uuid': AGENT_UUID, 'address': '10.0.0.7', 'port': 9002}
        for change, shown in [
                ({'uuid': 'not-a-uuid\n\x1b[31mFORGED'},
                 'an agent UUID that is not a UUID: '
                 'not-a-uuid\\n\\x1b[31mFORGED'),
                ({'uuid': ' %s' % AGENT_UUID}, 'is not a UUID'),
                ({'uuid': 42}, 'is not a UUID: 42'),
                ({'address': '10.0.0.7\nFORGED'},
                 'not an IP address it can be reached at: 10.0.0.7\\n'),
                ({'address': 'evil.example'}, 'not an IP address'),
                ({'address': '0.0.0.0'}, 'not an IP address'),
                ({'address': '224.0.0.1'}, 'not an IP address'),
                ({'port': 70000}, 'not from 1 to 65535: 70000'),
                ({'port': True}, 'not from 1 to 65535: True'),
                ({'port': '9002\r'}, 'not from 1 to 65535: 9002\\r')]:
            message = self._refused(node, mock_command,
                                    dict(good, **change))
            self.assertIn(shown, message)
            self.assertIn('nothing was recorded', message)
        message = self._refused(node, mock_command, ['uuid', AGENT_UUID])
        self.assertIn('not a JSON object', message)

    def test_reported_uuid_shown_safely_in_node_mode(self, mock_command):
        node = self._node()
        message = self._refused(node, mock_command, {
            'uuid': '\x1b]0;FORGED\x07' + 'x' * 1000, 'port': 9002})
        self.assertIn('\\x1b]0;FORGED\\x07', message)
        self.assertLess(len(message), 1000)

    def test_ramdisk_error_shown_safely(self, mock_command):
        node = self._node()
        mock_command.return_value = {
            'command_status': 'FAILED', 'command_result': None,
            'command_error': 'no agent\n2026-12-06 INFO FORGED LINE\x1b[2J'}
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  agent.update_agent_info, task,
                                  driver_info.parse_driver_info(task.node))
        self.assertIn('no agent\\n2026-12-06 INFO FORGED LINE', str(e))
        self.assertNotRegex(str(e), CONTROL)

    def test_logged_values_are_validated_or_shown_safely(self, mock_command):
        # The database setup (alembic's fileConfig) disabled the loggers
        # that existed before it: enable this module's for the test.
        self.useFixture(fixtures.MockPatchObject(
            logging.getLogger(agent.__name__), 'disabled', False))
        logger = self.useFixture(fixtures.FakeLogger(
            name='ironic_keylime', level=logging.INFO))
        node = self._node()
        mock_command.return_value = _ok({
            'uuid': node.uuid.upper(), 'address': '10.0.0.7', 'port': '9102',
            'registrar_ip': '10.0.0.3\nFORGED LINE', 'registrar_port': 8890})
        self._update(node)
        self.assertIn('Keylime agent %s listens on 10.0.0.7 port 9102, '
                      'registrar 10.0.0.3\\nFORGED LINE:8890' % node.uuid,
                      logger.output)
        self.assertNotIn('\nFORGED', logger.output)
        self.assertEqual(9102, node.driver_internal_info['keylime_agent_port'])

    def test_get_agent_info(self, mock_command):
        mock_command.return_value = _ok({'uuid': AGENT_UUID})
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual({'uuid': AGENT_UUID},
                             agent.call(task, 'keylime.get_agent_info', {}))
        mock_command.assert_called_once_with(
            mock.ANY, node=mock.ANY, method='keylime.get_agent_info',
            params={}, wait=True)

    def test_start_attestation_asks_the_ramdisk_first(self, mock_command):
        # The one call in KeylimeAttestation.start_attestation: a ramdisk
        # without the extension stops the attestation before any
        # keylime_tenant runs.
        mock_command.side_effect = exception.AgentAPIError(
            node='n', status=404,
            error='Not found: Extension with id keylime not found.')
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(
                kl_ironic_exception.AttestationFailure,
                attestation.KeylimeAttestation().start_attestation, task)
        self.assertIn('ironic-keylime-agent element', str(e))
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)


class AgentIdentityTestCase(base.DbTestCase):

    def identity(self, overrides=None, internal=None):
        info = dict({'keylime_v': '192.0.2.10', 'keylime_r': '192.0.2.10',
                     'keylime_container': 'c'}, **(overrides or {}))
        info = utils.get_test_keylime_info(**info)
        node = obj_utils.get_test_node(self.context, uuid=IDENTITY_NODE_UUID,
                                       driver_info=info,
                                       driver_internal_info=internal or {})
        return agent.identity(node, driver_info.parse_driver_info(node))

    def test_defaults_from_agent_url(self):
        uuid, endpoint = self.identity(
            internal={'agent_url': 'http://198.51.100.5:9999'})
        self.assertEqual(IDENTITY_NODE_UUID, uuid)
        self.assertEqual(('198.51.100.5', 9002), endpoint)

    def test_ipv6_agent_url(self):
        _uuid, endpoint = self.identity(
            internal={'agent_url': 'https://[2001:db8::5]:9999'})
        self.assertEqual('2001:db8::5', endpoint.host)

    def test_port_from_config(self):
        self.config(agent_port=9102, group='keylime')
        _uuid, endpoint = self.identity(
            internal={'agent_url': 'http://198.51.100.5:9999'})
        self.assertEqual(9102, endpoint.port)

    def test_recorded_uuid_of_another_agent_refused(self):
        error = self.assertRaises(
            kl_ironic_exception.AttestationFailure, self.identity,
            internal={'agent_url': 'http://198.51.100.5:9999',
                      'keylime_agent_uuid': AGENT_UUID})
        self.assertIn('reports the UUID %s' % AGENT_UUID, str(error))

    def test_driver_info_uuid_in_node_mode(self):
        uuid, _endpoint = self.identity(
            overrides={'keylime_agent_uuid': AGENT_UUID.upper()},
            internal={'agent_url': 'http://198.51.100.5:9999',
                      'keylime_agent_uuid': AGENT_UUID})
        self.assertEqual(AGENT_UUID, uuid)

    def test_ramdisk_report_wins_over_defaults(self):
        self.config(agent_uuid_mode='image', group='keylime')
        uuid, endpoint = self.identity(internal={
            'agent_url': 'http://198.51.100.5:9999',
            'keylime_agent_uuid': 'reported', 'keylime_agent_address':
            '198.51.100.6', 'keylime_agent_port': 9003})
        self.assertEqual(('reported', '198.51.100.6', 9003),
                         (uuid, endpoint.host, endpoint.port))

    def test_driver_info_wins_over_ramdisk(self):
        self.config(agent_uuid_mode='image', group='keylime')
        uuid, endpoint = self.identity(
            overrides={'keylime_agent_uuid': 'mine',
                       'keylime_agent_address': '198.51.100.9',
                       'keylime_agent_port': 9004},
            internal={'keylime_agent_uuid': 'reported',
                      'keylime_agent_address': '198.51.100.6',
                      'keylime_agent_port': 9003})
        self.assertEqual(('mine', '198.51.100.9', 9004),
                         (uuid, endpoint.host, endpoint.port))

    def test_no_address(self):
        error = self.assertRaises(exception.MissingParameterValue,
                                  self.identity)
        self.assertIn('driver_info/keylime_agent_address', str(error))


# The HTTP call to the ramdisk: no ramdisk runs in a unit test. The
# registrar is a TLS server replaying a real 7.14.3 registrar's answers.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class ReRegistrationTestCase(base.DbTestCase):
    """A new ramdisk boot: the agent registers with a new AK."""

    def setUp(self):
        super().setUp()
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())
        self.config(ek_binding='trust_on_first_use',
                    tenant_cert_dir=self.registrar.cert_dir,
                    group='keylime')
        self.path = '/v2.6/agents/%s' % registrar_fixture.AGENT_UUID

    def _node(self, **info):
        driver_info_ = dict(DRIVER_INFO, keylime_r='127.0.0.1',
                            keylime_rp=self.registrar.port,
                            keylime_agent_uuid=registrar_fixture.AGENT_UUID)
        driver_info_.update(info)
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=states.CLEANWAIT,
            driver_info=driver_info_,
            driver_internal_info={'agent_url': 'http://10.0.0.9:9999'})

    def _configure(self, node, mock_command):
        mock_command.return_value = _ok({
            'uuid': registrar_fixture.AGENT_UUID, 'port': 9102,
            'running': True, 'restarted': True})
        with task_manager.acquire(self.context, node.uuid) as task:
            agent.update_agent_info(task,
                                    driver_info.parse_driver_info(task.node))
        return mock_command.call_args[1]['params'] if (
            mock_command.called) else None

    def test_pinned_node_registers_again(self, mock_command):
        # Keylime 7.14's registrar refuses the new AK of a known UUID
        # ("re-registration with different TPM identity is forbidden"):
        # with the node's EK pinned, the record is deleted and the agent
        # restarted, so that it registers anew (its EK is then checked
        # against the pin).
        node = self._node(
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256)
        params = self._configure(node, mock_command)
        self.assertEqual([self.path], self.registrar.deletes)
        self.assertIs(True, params['restart'])

    def test_unpinned_node_keeps_the_registrar_record(self, mock_command):
        # Without a pin, the registrar's record is the only binding of
        # the UUID to a TPM: it stays.
        params = self._configure(self._node(), mock_command)
        self.assertEqual([], self.registrar.deletes)
        self.assertNotIn('restart', params)

    def test_binding_off_keeps_the_registrar_record(self, mock_command):
        self.config(ek_binding='off', group='keylime')
        node = self._node(
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256)
        params = self._configure(node, mock_command)
        self.assertEqual([], self.registrar.deletes)
        self.assertNotIn('restart', params)

    def test_delete_failure_fails_before_the_ramdisk(self, mock_command):
        self.registrar.delete_answer = (500, b'{"code": 500}')
        node = self._node(
            keylime_ek_sha256=registrar_fixture.AGENT_EK_SHA256)
        e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                              self._configure, node, mock_command)
        self.assertIn('could not be deleted', str(e))
        self.assertIn('HTTP 500', str(e))
        mock_command.assert_not_called()


class RamdiskErrorTestCase(base.DbTestCase):
    """A ramdisk command's error reaches the node whole, but bounded."""

    def test_long_error_keeps_its_end_and_is_bounded(self):
        node = obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=states.CLEANWAIT,
            driver_internal_info={'agent_url': 'http://10.0.0.9:9999'})
        # As the extension reports a failed restart: a long command path
        # before the output that says why.
        error = ('the Keylime agent could not be (re)started: %s exited '
                 'with 1: refusing to start' % ('/very/long/path' * 12))
        failed = {'command_status': 'FAILED', 'command_result': None,
                  'command_error': {'message': error}}
        # The HTTP call to the ramdisk: no ramdisk runs in a unit test
        # (test_ipa_extension runs the real extension).
        with mock.patch.object(agent_client.AgentClient, '_command',
                               autospec=True, return_value=failed):
            with task_manager.acquire(self.context, node.uuid) as task:
                e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      agent.call, task,
                                      'keylime.configure_agent', {})
        self.assertIn('refusing to start', str(e))
        failed['command_error'] = {'message': 'x' * 5000}
        with mock.patch.object(agent_client.AgentClient, '_command',
                               autospec=True, return_value=failed):
            with task_manager.acquire(self.context, node.uuid) as task:
                e = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      agent.call, task,
                                      'keylime.configure_agent', {})
        self.assertLess(len(str(e)), 1200)
