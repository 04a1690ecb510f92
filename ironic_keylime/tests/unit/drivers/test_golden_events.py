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

"""Golden boot events: enrolled from the ramdisk's UEFI event log, sent.

Nodes, tasks, the node history and the clean step are Ironic's own;
keylime_tenant replays real outputs (:mod:`..fake_tenant`); the event log
is the real one of an OVMF boot (tests/fixtures/uefi-event-log-ovmf). The
ramdisk cannot run in a unit test: its HTTP call (``AgentClient._command``)
is replaced where the enroll step asks it for the boot state.
"""

import json
import os
from unittest import mock

from ironic.common import exception
from ironic.conductor import task_manager
from ironic.drivers.modules import agent_client

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.keylime_client import engine_probe
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import mb_policy_fixture as fixture
from ironic_keylime.tests.unit import registrar_fixture

KEY = 'keylime_golden_boot_events'


def _log():
    with open(fixture.EVENT_LOG, 'rb') as f:
        return f.read()


# The HTTP call to the ramdisk: no ramdisk runs in a unit test.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class EnrollTestCase(base.EnrollStepMixin, base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        self.config(golden_boot_events=True, group='keylime')

    def refused(self, node, message):
        self.refused_enrollment(node, message)
        self.assertNotIn(KEY, node.driver_info)
        self.assertNotIn('keylime_tpm_policy', node.driver_info)

    def test_events_recorded(self, mock_command):
        mock_command.return_value = base.ok(base.log_reading(
            _log(), kernel_cmdline=fixture.EVENT_LOG_CMDLINE))
        node = self.enroll(self.create_node())
        events = json.loads(node.driver_info[KEY])
        # The real log's 25 events (all of PCRs 0-9), the Spec ID event
        # left out.
        self.assertEqual(25, len(events))
        self.assertEqual({'pcr': 4, 'type': 'EV_EFI_ACTION',
                          'sha256': events[13]['sha256'],
                          'text': 'Calling EFI Application from Boot '
                                  'Option'}, events[13])
        # The EFI stub's command line, a digest in the log: the ramdisk's
        # text hashes to it, and is recorded as the golden command line.
        stub = [e for e in events if e['type'] == 'EV_EVENT_TAG']
        self.assertEqual(fixture.EVENT_LOG_CMDLINE, stub[0]['text'])
        self.assertIsNone(stub[1]['text'])
        event = self.history(node)[-1][1]
        self.assertIn('UEFI events of PCRs 0-9 recorded as the golden boot',
                      event)
        self.assertIn('ironic-keylime engine', event)

    def test_stub_command_line_not_reported_refused(self, mock_command):
        mock_command.return_value = base.ok(base.log_reading(_log()))
        self.refused(self.create_node(), 'measured the command line into '
                                         'PCR 9 as a digest only, and the '
                                         'ramdisk reports none')

    def test_stub_command_line_not_hashing_refused(self, mock_command):
        # A ramdisk that reports another command line than the one the
        # stub measured: nothing is recorded.
        mock_command.return_value = base.ok(base.log_reading(
            _log(), kernel_cmdline='console=ttyS0 initrd=initrd'))
        self.refused(self.create_node(), 'reports one that does not hash '
                                         'to it')

    def test_no_event_log_refused(self, mock_command):
        mock_command.return_value = base.ok(base.reading())
        self.refused(self.create_node(), 'the ramdisk returned no UEFI '
                                         'event log')

    def test_unreadable_event_log_refused(self, mock_command):
        mock_command.return_value = base.ok(base.log_reading(_log()[:-7]))
        self.refused(self.create_node(), 'UEFI event log cannot be read')

    def test_option_off_records_none(self, mock_command):
        self.config(golden_boot_events=False, group='keylime')
        mock_command.return_value = base.ok(base.log_reading(_log()))
        node = self.create_node(driver_info=self.driver_info(
            **{KEY: '[]'}))
        node = self.enroll(node)
        self.assertNotIn(KEY, node.driver_info)


class AttestTestCase(base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        self.config(golden_boot_events=True, group='keylime')
        self.events = golden_events.from_log(_log())
        # The probe needs a quote of a real TPM with a UEFI event log and a
        # real verifier: it runs for real in the VM chain
        # (test_vm_uefi_real), on a verifier with and without the engine.
        probe = mock.patch.object(engine_probe, 'probe', autospec=True)
        self.probe = probe.start()
        self.addCleanup(probe.stop)
        # The registrar read whose AK and mTLS certificate the probe uses:
        # a real HTTPS server answering as a 7.14.3 registrar did.
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())
        self.registrar.routes['/v2.6/agents/%s' % base.AGENT_UUID] = (
            200, registrar_fixture.recorded('agent.json'))
        self.config(tenant_cert_dir=self.registrar.cert_dir,
                    group='keylime')

    def node(self, **info):
        info.setdefault(KEY, golden_events.dump(self.events))
        info.setdefault('keylime_tpm_policy', {str(p): ['0' * 64]
                                               for p in range(8)})
        info.setdefault('keylime_boot_aggregate', 'ab' * 32)
        info.setdefault('keylime_rp', self.registrar.port)
        return self.create_node(driver_info=self.driver_info(**info))

    def test_sent_as_the_measured_boot_policy(self):
        self.attest(self.node())
        call = self.fake.calls('add')[0]
        argv = call['argv']
        path = argv[argv.index('--mb-policy') + 1]
        self.assertEqual(0o600, call['files'][path]['mode'])
        self.assertTrue(call['files'][path]['head'].startswith(
            '{"golden_events":[{"pcr":0,"sha256":"%s"' %
            self.events[0]['sha256']))
        self.assertFalse(os.path.exists(path))
        # PCRs 0-9 are the engine's: the PCR policy leaves them out, and
        # the enrolled aggregate (of another boot) is not the allowlist's.
        self.assertNotIn('--tpm_policy', argv)
        allowlist = argv[argv.index('--allowlist') + 1] if (
            '--allowlist' in argv) else None
        if allowlist:
            self.assertNotIn('ab' * 32, call['files'][allowlist]['head'])

    def test_engine_checked_before_the_add(self):
        self.attest(self.node())
        (verifier, host, port, identity, canary, engine), kwargs = (
            self.probe.call_args)
        self.assertEqual('ironic-keylime', engine)
        self.assertEqual(
            [{'pcr': 0, 'type': 'EV_IRONIC_KEYLIME_CANARY',
              'sha256': '0' * 64, 'text': None}],
            json.loads(canary)['golden_events'])
        self.assertIsNotNone(identity.aik_tpm)

    def test_engine_not_running_refused(self):
        self.probe.side_effect = engine_probe.EngineNotRunning(
            'The Keylime verifier at 127.0.0.1:8881 does not judge '
            'measured-boot policies with the ironic-keylime engine: it '
            'accepted a policy that engine refuses.')
        node = self.node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailure, self.iface.attest,
                task)
        self.assertIn('it accepted a policy that engine refuses', str(error))
        self.assertIn('Nothing was sent to the verifier', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_engine_cannot_be_asked_refused(self):
        self.probe.side_effect = kl_exception.ServiceUnreachable(
            'The Keylime agent at 127.0.0.1:9002 cannot be reached.')
        node = self.node()
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailure, self.iface.attest,
                task)
        self.assertIn('measured-boot engine cannot be checked', str(error))
        self.assertEqual([], self.fake.calls('add'))

    def test_option_off_asks_nothing(self):
        self.config(golden_boot_events=False, group='keylime')
        self.attest(self.node())
        self.assertFalse(self.probe.called)

    @mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
    def test_stub_command_line_of_this_boot_sent(self, mock_command):
        # Enrolled with the ramdisk's command line as the golden one; this
        # boot's ramdisk reports another, which goes with the policy for
        # the verifier to check against the quote's digest.
        events = golden_events.golden_from_log(_log(),
                                               fixture.EVENT_LOG_CMDLINE)
        now = fixture.EVENT_LOG_CMDLINE + ' ipa-global-request-id=req-1'
        mock_command.return_value = base.ok(base.log_reading(
            _log(), kernel_cmdline=now))
        self.attest(self.node(**{KEY: golden_events.dump(events)}))
        self.assertEqual('keylime.read_boot_state',
                         mock_command.call_args[1]['method'])
        call = self.fake.calls('add')[0]
        argv = call['argv']
        tail = call['files'][argv[argv.index('--mb-policy') + 1]]['tail']
        self.assertIn('"kernel_command_lines":[%s]' % json.dumps(now), tail)

    @mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
    def test_no_stub_command_line_asks_nothing(self, mock_command):
        # Golden events without the stub's command line (GRUB's path):
        # the ramdisk is not asked, and no command line is sent.
        self.attest(self.node())
        self.assertFalse(mock_command.called)
        call = self.fake.calls('add')[0]
        argv = call['argv']
        tail = call['files'][argv[argv.index('--mb-policy') + 1]]['tail']
        self.assertNotIn('kernel_command_lines', tail)
        self.assertIn('per_boot_parameters', tail)

    def test_reported_command_line_shape(self):
        self.assertEqual('a b', golden_events.reported_command_line(
            {'kernel_cmdline': 'a b'}))
        for bad in (None, 7, 'a\nb', 'x' * 4097):
            self.assertIsNone(golden_events.reported_command_line(
                {'kernel_cmdline': bad}), bad)
        self.assertIsNone(golden_events.reported_command_line('text'))

    def test_refstate(self):
        state = golden_events.refstate(self.events)
        self.assertEqual(1, state['ironic_keylime_boot_policy'])
        self.assertEqual(self.events, state['golden_events'])
        self.assertEqual(golden_events.PER_BOOT_PARAMETERS,
                         state['per_boot_parameters'])

    def test_option_off_sends_the_pcr_policy(self):
        self.config(golden_boot_events=False, group='keylime')
        self.attest(self.node())
        argv = self.fake.calls('add')[0]['argv']
        self.assertNotIn('--mb-policy', argv)
        self.assertIn('--tpm_policy', argv)

    def test_bad_events_refused_before_the_tenant(self):
        node = self.node(**{KEY: '[{"pcr": 0}]'})
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.attest, task)
        self.assertIn('Invalid driver_info/%s' % KEY, str(error))
        self.assertEqual([], self.fake.calls('add'))
