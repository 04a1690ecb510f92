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


"""The golden boot state: its validation, its enrollment, every attest.

Nodes, tasks, the node history and the clean step are Ironic's own;
keylime_tenant replays real outputs (:mod:`..fake_tenant`). The ramdisk
cannot run in a unit test: its HTTP call (``AgentClient._command``) is
replaced where the enroll step asks it for the PCRs (the functional tests
run the real ironic-python-agent on a swtpm).
"""

import base64
import hashlib
import json
from unittest import mock

from ironic.common import exception
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as manager_utils
from ironic.drivers.modules import agent_client

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import boot_state
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import tenant_fixture

PCR0 = '7f85193790de75e46b70bfec3614098f47332a6993dabac6e38ad35f47df5da4'
ZERO = '0' * 64
#: The boot_aggregate of the ramdisk booted by SeaBIOS in qemu with a
#: swtpm (tools/vm, seen in the verifier's log).
AGGREGATE = '78461dda1817945f4835bd277dcbd30c7bf77c6b0fad895b8139ea0a93ae86f7'


class ParsePolicyTestCase(base.KeylimeTestCase):

    def test_normalised(self):
        policy = boot_state.parse_policy(json.dumps(
            {'0': [PCR0.upper(), PCR0, ZERO], '7': ZERO}))
        self.assertEqual({'0': [PCR0, ZERO], '7': [ZERO]}, policy)
        self.assertEqual({'1': [ZERO]}, boot_state.parse_policy({1: [ZERO]}))

    def test_refused(self):
        cases = [
            ('{"0": [', 'not valid JSON'),
            ('[]', 'non-empty JSON object'),
            ('{}', 'non-empty JSON object'),
            ({'24': [ZERO]}, 'PCR 24 does not exist'),
            ({'-1': [ZERO]}, 'PCR numbers are the keys'),
            ({'mask': '0x1'}, 'PCR numbers are the keys'),
            ({True: [ZERO]}, 'PCR numbers are the keys'),
            ({'10': [ZERO]}, 'PCR 10 is IMA'),
            ({'16': [ZERO]}, 'PCR 16 is Keylime\'s data binding PCR'),
            ({'0': [ZERO], 0: [ZERO]}, 'PCR 0 is given twice'),
            ({'0': []}, 'PCR 0 needs a non-empty list'),
            ({'0': {'a': ZERO}}, 'PCR 0 needs a non-empty list'),
            ({'0': ['ab' * 20]}, 'sha256 digests: 64 hex digits'),
            ({'0': ['0x' + ZERO[2:]]}, 'sha256 digests: 64 hex digits'),
            ({'0': ['g' * 64]}, 'sha256 digests: 64 hex digits'),
            ({'0': [0]}, 'must be hex digests'),
        ]
        for value, message in cases:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      boot_state.parse_policy, value)
            self.assertIn(message, str(error))
            self.assertIn('driver_info/keylime_tpm_policy', str(error))
            self.assertIn('enroll_boot_state', str(error))

    def test_validate_refuses_a_bad_policy(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy='{"24": ["%s"]}' % ZERO))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn('PCR 24 does not exist', str(error))

    def test_property_documented(self):
        self.assertIn('keylime_tpm_policy', self.iface.get_properties())


class AttestWithPolicyTestCase(base.KeylimeTestCase):

    def test_policy_sent(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy={'0': [PCR0.upper()], '1': ZERO}))
        self.attest(node)
        argv = self.fake.calls('add')[0]['argv']
        sent = argv[argv.index('--tpm_policy') + 1]
        self.assertEqual({'0': [PCR0], '1': [ZERO]}, json.loads(sent))

    def test_no_policy_sends_none(self):
        self.attest(self.create_node())
        self.assertNotIn('--tpm_policy', self.fake.calls('add')[0]['argv'])

    def test_required_and_missing_refused(self):
        self.config(require_boot_state=True, group='keylime')
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.attest, task)
        self.assertIn('no golden boot state', str(error))
        self.assertIn('[keylime]require_boot_state is True', str(error))
        self.assertIn('"step": "enroll_boot_state"', str(error))
        self.assertEqual([], [c for c in self.fake.calls()
                              if c['command'] == 'add'])
        self.assertNothingLeft(node)

    def test_required_and_present_sent(self):
        self.config(require_boot_state=True, group='keylime')
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy='{"0": ["%s"]}' % PCR0))
        self.attest(node)
        self.assertIn('--tpm_policy', self.fake.calls('add')[0]['argv'])

    def test_bad_policy_fails_before_the_tenant(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy='{"0": ["%s"]}' % PCR0[:40]))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.attest, task)
        self.assertIn('64 hex digits', str(error))
        self.assertEqual([], self.fake.calls())


class BootAggregateTestCase(base.KeylimeTestCase):

    def _sent_allowlist(self, node):
        self.config(policy_format='legacy', group='keylime')
        self.attest(node)
        add = self.fake.calls('add')[0]
        return add['files'][add['argv'][add['argv'].index('--allowlist')
                                        + 1]]['head']

    def test_enrolled_aggregate_replaces_the_all_zero_line(self):
        # Security: the all-zero boot_aggregate line of a ramdisk's
        # allowlist accepts a node whose kernel found no TPM; with an
        # enrolled aggregate, only the enrolled boot passes.
        node = self.create_node(driver_info=self.driver_info(
            keylime_boot_aggregate='sha256:' + AGGREGATE.upper()))
        sent = self._sent_allowlist(node)
        self.assertTrue(sent.startswith('%s  boot_aggregate\n' % AGGREGATE),
                        sent)
        self.assertNotIn('0' * 64, sent)
        self.assertEqual(1, sent.count('boot_aggregate'))
        self.assertIn('/usr/bin/bash', sent)

    def test_no_aggregate_keeps_the_list(self):
        sent = self._sent_allowlist(self.create_node())
        self.assertTrue(sent.startswith('%s  boot_aggregate' % ('0' * 64)))

    def test_bad_aggregate_refused_before_the_tenant(self):
        for bad in ('abc', '0' * 64, 'g' * 64, 12):
            node = self.create_node(driver_info=self.driver_info(
                keylime_boot_aggregate=bad))
            with task_manager.acquire(self.context, node.uuid) as task:
                error = self.assertRaises(exception.InvalidParameterValue,
                                          self.iface.validate, task)
                self.assertRaises(exception.InvalidParameterValue,
                                  self.iface.attest, task)
            self.assertIn('driver_info/keylime_boot_aggregate', str(error))
            self.assertIn('enroll_boot_state', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_property_documented(self):
        self.assertIn('keylime_boot_aggregate', self.iface.get_properties())


@mock.patch.object(manager_utils, 'notify_conductor_resume_deploy',
                   autospec=True)
class PcrFailureTestCase(base.KeylimeTestCase):

    def test_fail_names_the_pcr(self, resume_deploy):
        # The real 7.14.3 status of an agent whose PCR 0 changed after
        # it was added with a TPM policy of PCRs 0-7 (harness swtpm,
        # tpm2_pcrextend 0; the agent UUID replaced by AGENT_UUID).
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-pcr0-changed'}]))
        node = self.create_node(driver_info=self.driver_info(
            keylime_tpm_policy={str(p): [ZERO] for p in range(8)}))
        self.attest(node)
        node = self.check(node)
        resume_deploy.assert_not_called()
        self.assertEqual(states.DEPLOYFAIL, node.provision_state)
        self.assertIn('pcr_validation.invalid_pcr_0', node.last_error)
        self.assertIn('PCR 0 differs from every value the TPM policy '
                      'allows', node.last_error)
        self.assertIn('enroll the node again', node.last_error)
        severity, event = self.history(node)[-1]
        self.assertEqual('ERROR', severity)
        self.assertIn('PCR 0 differs', event)
        self.assertNothingLeft(node)

    def test_ima_failure_names_no_pcr(self, resume_deploy):
        self.fake.set_commands(tenant_fixture.plan(
            status=[{'fixture': 'tenant-status-tampered'}]))
        node = self.create_node()
        self.attest(node)
        node = self.check(node)
        self.assertIn('not_in_allowlist', node.last_error)
        self.assertNotIn('golden boot state', node.last_error)


# The HTTP call to the ramdisk: no ramdisk runs in a unit test.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class EnrollTestCase(base.EnrollStepMixin, base.KeylimeTestCase):

    def test_manual_clean_step(self, mock_command):
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            steps = {s['step']: s for s in self.iface.get_clean_steps(task)}
        self.assertEqual(0, steps['enroll_boot_state']['priority'])
        self.assertTrue(steps['enroll_boot_state']['requires_ramdisk'])

    def test_enroll_records_policy_and_history(self, mock_command):
        mock_command.return_value = base.ok(base.reading({'0': PCR0}))
        node = self.enroll(self.create_node())
        self.assertEqual('keylime.read_boot_state',
                         mock_command.call_args[1]['method'])
        self.assertEqual({'pcrs': list(range(8))},
                         mock_command.call_args[1]['params'])
        policy = json.loads(node.driver_info['keylime_tpm_policy'])
        expected = {str(p): [ZERO] for p in range(8)}
        expected['0'] = [PCR0]
        self.assertEqual(expected, policy)
        (severity, event), = self.history(node)
        self.assertEqual('INFO', severity)
        self.assertIn('Golden boot state enrolled', event)
        self.assertIn('PCR 0=%s' % PCR0, event)
        self.assertIn('PCR 7=%s' % ZERO, event)
        self.assertIn('no UEFI event log', event)
        # Every attestation sends it from now on (the agent is given by
        # driver_info: the ramdisk is not asked again).
        node.driver_internal_info = {}
        node.provision_state = states.DEPLOYING
        node.clean_step = None
        node.deploy_step = base.DEPLOY_STEP
        node.save()
        self.attest(node)
        argv = self.fake.calls('add')[0]['argv']
        self.assertEqual(expected,
                         json.loads(argv[argv.index('--tpm_policy') + 1]))

    def test_enroll_again_names_the_changed_pcr(self, mock_command):
        mock_command.return_value = base.ok(base.reading())
        node = self.enroll(self.create_node())
        mock_command.return_value = base.ok(base.reading({'0': PCR0}))
        node = self.enroll(node)
        self.assertEqual([PCR0], json.loads(
            node.driver_info['keylime_tpm_policy'])['0'])
        self.assertIn('changed: PCR 0.', self.history(node)[-1][1])

    def test_event_log_with_conductor_files(self, mock_command):
        # Conductor files: the conductors write no file; the history
        # says how to set the measured-boot policy by hand.
        log = b'\x03\x00\x00\x00'
        mock_command.return_value = base.ok(base.reading(
            event_log=base64.b64encode(log).decode(), event_log_size=4,
            event_log_sha256=hashlib.sha256(log).hexdigest(),
            event_log_note=None))
        node = self.enroll(self.create_node())
        event = self.history(node)[-1][1]
        self.assertIn('UEFI event log of 4 bytes, sha256 %s returned'
                      % hashlib.sha256(log).hexdigest(), event)
        self.assertIn('keylime-policy create measured-boot -e', event)
        self.assertIn('set driver_info/keylime_mb_policy', event)
        self.assertNotIn('keylime_mb_policy_sha256', node.driver_info)

    def test_event_log_not_matching_its_digest_refused(self, mock_command):
        mock_command.return_value = base.ok(base.reading(
            event_log='AAAA', event_log_size=3, event_log_sha256='ab' * 32,
            event_log_note=None))
        self._refused(self.create_node(), 'its UEFI event log does not '
                                          'match the size and SHA-256')

    def test_boot_aggregate_recorded_and_sent(self, mock_command):
        mock_command.return_value = base.ok(base.reading(
            boot_aggregate=AGGREGATE, boot_aggregate_algorithm='sha256',
            boot_aggregate_note=None))
        node = self.enroll(self.create_node())
        self.assertEqual(AGGREGATE,
                         node.driver_info['keylime_boot_aggregate'])
        self.assertIn('IMA boot_aggregate sha256:%s' % AGGREGATE,
                      self.history(node)[-1][1])
        # Enrolled again from a boot without one: no stale aggregate.
        mock_command.return_value = base.ok(base.reading(
            boot_aggregate=None, boot_aggregate_note='the IMA log\'s '
            'boot_aggregate is all zeros'))
        node = self.enroll(node)
        self.assertNotIn('keylime_boot_aggregate', node.driver_info)
        self.assertIn('no IMA boot_aggregate recorded (the IMA log\'s '
                      'boot_aggregate is all zeros)',
                      self.history(node)[-1][1])

    def test_bad_boot_aggregate_refused(self, mock_command):
        mock_command.return_value = base.ok(base.reading(boot_aggregate='xyz'))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.enroll_boot_state, task)
        self.assertIn('boot_aggregate that is not a hex digest', str(error))
        node.refresh()
        self.assertNotIn('keylime_tpm_policy', node.driver_info)

    def test_configured_pcrs_asked(self, mock_command):
        self.config(boot_state_pcrs=[7, 0, 4], group='keylime')
        mock_command.return_value = base.ok({'bank': 'sha256', 'pcrs': {
            '0': ZERO, '4': ZERO, '7': ZERO}})
        node = self.enroll(self.create_node())
        self.assertEqual({'pcrs': [0, 4, 7]},
                         mock_command.call_args[1]['params'])
        self.assertEqual(['0', '4', '7'], sorted(json.loads(
            node.driver_info['keylime_tpm_policy'])))

    def _refused(self, node, message):
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.enroll_boot_state, task)
        self.assertIn(message, str(error))
        node.refresh()
        self.assertNotIn('keylime_tpm_policy', node.driver_info)
        self.assertEqual([], self.history(node))
        return str(error)

    def test_bad_readings_refused(self, mock_command):
        bad = [
            (base.reading(bank='sha1'), 'not the sha256 bank'),
            ({'bank': 'sha256'}, 'no PCR values'),
            (base.reading({'8': ZERO}), 'PCRs 0, 1, 2, 3, 4, 5, 6, 7, 8 '
                                        'instead of 0, 1, 2, 3, 4, 5, 6, 7'),
            (dict(base.reading(), pcrs={'0': ZERO}), 'PCRs 0 instead of'),
            (base.reading({'3': ZERO[:40]}), '64 hex digits'),
            (base.reading({'3': None}), 'must be hex digests'),
        ]
        node = self.create_node()
        for reading, message in bad:
            mock_command.return_value = base.ok(reading)
            self._refused(node, message)

    def test_ramdisk_text_shown_safely(self, mock_command):
        # A tampered ramdisk's text reaches messages and the node history
        # without control characters, and bounded.
        node = self.create_node()
        for reading, message in [
                (base.reading({'8\x1b[2J\nFORGED': ZERO}),
                 'PCRs 8\\x1b[2J\\nFORGED, 0, 1, 2, 3, 4, 5, 6, 7 instead'),
                (base.reading(boot_aggregate=AGGREGATE,
                              boot_aggregate_algorithm='sha256\nFORGED'),
                 'the boot_aggregate algorithm sha256\\nFORGED is not one '
                 'of sha1, sha256, sha384, sha512'),
                (base.reading(boot_aggregate=AGGREGATE,
                              boot_aggregate_algorithm='sha1'),
                 'the boot_aggregate algorithm sha1 is not one of')]:
            mock_command.return_value = base.ok(reading)
            self.assertNotRegex(self._refused(node, message),
                                base.CONTROL)
        mock_command.return_value = base.ok(base.reading(
            boot_aggregate=None, boot_aggregate_note='none\n\x1b[31mFORGED',
            event_log_note='x' * 5000 + '\r\n'))
        event = self.history(self.enroll(node))[-1][1]
        self.assertIn('no IMA boot_aggregate recorded '
                      '(none\\n\\x1b[31mFORGED)', event)
        self.assertIn('no UEFI event log (%s...)' % ('x' * 200), event)
        self.assertNotRegex(event, base.CONTROL)

    def test_reserved_pcr_refused_before_the_ramdisk(self, mock_command):
        self.config(boot_state_pcrs=[0, 10], group='keylime')
        self._refused(self.create_node(), '[keylime]boot_state_pcrs must')
        mock_command.assert_not_called()

    def test_no_ramdisk_refused(self, mock_command):
        node = self.create_node(provision_state=states.MANAGEABLE,
                                clean_step=None)
        self._refused(node, 'Run it as a manual clean step')
        mock_command.assert_not_called()

    def test_ramdisk_without_the_command(self, mock_command):
        mock_command.side_effect = exception.AgentAPIError(
            node='n', status=400,
            error='Unknown command: keylime.read_boot_state')
        self._refused(self.create_node(), 'ironic-keylime-agent element')

    def test_ramdisk_fails_to_read(self, mock_command):
        mock_command.return_value = {
            'command_status': 'FAILED', 'command_result': None,
            'command_error': {'message': 'the PCRs could not be read: '
                                         'tpm2_pcrread exited with 1'}}
        self._refused(self.create_node(), 'tpm2_pcrread exited with 1')
