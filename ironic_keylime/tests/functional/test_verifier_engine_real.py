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

"""The verifier's ironic-keylime engine in Keylime's own Python.

Keylime 7.14.3's verifier parses a quote's UEFI event log with its own
parser (tpm2-tools' ``tpm2_eventlog``) and hands the result to the engine
(``ironic_keylime.verifier_engine.policy``). Here the engine runs in the
harness's Keylime virtualenv, is registered by Keylime's policy registry
as the verifier registers it, and judges real event logs parsed by
Keylime's parser: the OVMF + GRUB boot of our ramdisk
(fixtures/uefi-event-log-ovmf-grub) and an OVMF ``-kernel`` boot
(fixtures/uefi-event-log-ovmf), against golden events the conductor's own
reader took from the same logs. On the ``-kernel`` boot the kernel's EFI
stub measured the command line into PCR 9 as a digest only: the engine
believes a command line given with the policy only where it hashes to it.
"""

import hashlib
import json
import os
import subprocess

import fixtures
import testtools

from ironic_keylime.boot_events import compare
from ironic_keylime.boot_events import load_options
from ironic_keylime.boot_events import tcg
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.tests import base as test_base
from ironic_keylime.tests.unit import mb_policy_fixture

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                   '..'))
GRUB_LOG = os.path.join(test_base.FIXTURES, 'uefi-event-log-ovmf-grub',
                        'binary_bios_measurements')
KERNEL_LOG = os.path.join(test_base.FIXTURES, 'uefi-event-log-ovmf',
                          'binary_bios_measurements')
#: Runs in Keylime's Python: parse the log as the verifier does, judge it
#: with the engine as the verifier does (through Keylime's registry).
JUDGE = '''
import base64, json, sys
from keylime.mba.elparsing import tpm2_tools_elparser
from keylime.mba.elchecking import policies
import inspect
from keylime.tpm import tpm_main
import ironic_keylime.verifier_engine.policy
from ironic_keylime.verifier_engine import boot_aggregates
log = open(sys.argv[1], 'rb').read()
refstate = json.load(open(sys.argv[2]))
# As Keylime's quote check (Tpm.check_pcrs) parses it for an agent whose
# measured-boot policy this is.
with boot_aggregates.checking(json.dumps(refstate)):
    _, aggregates, data, failure = tpm2_tools_elparser.bootlog_parse(
        base64.b64encode(log).decode(), 'sha256')
try:
    reason = policies.get_policy('ironic-keylime').evaluate(refstate, data)
except Exception as e:
    reason = 'raised: %s' % e
check = tpm_main.Tpm.check_pcrs
print(json.dumps({'reason': reason,
                  'aggregates': aggregates.get('sha256'),
                  'check_wrapped': (
                      check is not boot_aggregates._ORIGINAL_CHECK
                      and 'mb_policy' in inspect.signature(
                          boot_aggregates._ORIGINAL_CHECK).parameters)}))
'''


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


class EngineTestBase(testtools.TestCase):
    """Runs the engine in the harness's Keylime Python."""

    def setUp(self):
        super().setUp()
        tool = os.environ.get('KEYLIME_HARNESS_POLICY_TOOL')
        if not tool:
            self.fail('KEYLIME_HARNESS_POLICY_TOOL is not set: run the '
                      'functional tests with tools/functional.sh')
        self.python = os.path.join(os.path.dirname(tool), 'python')
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def judge(self, log_path, state):
        path = os.path.join(self.tmp, 'refstate.json')
        with open(path, 'w') as f:
            json.dump(state, f)
        env = dict(os.environ, PYTHONPATH=TOP)
        proc = subprocess.run([self.python, '-c', JUDGE, log_path, path],
                              capture_output=True, text=True, env=env,
                              timeout=120)
        self.assertEqual(0, proc.returncode, proc.stderr[-2000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def golden(self, log_path):
        return golden_events.from_log(_read(log_path))


class VerifierEngineTest(EngineTestBase):

    def test_the_golden_boot_passes(self):
        for log in (GRUB_LOG, KERNEL_LOG):
            result = self.judge(log, golden_events.refstate(
                self.golden(log)))
            self.assertEqual('', result['reason'], log)

    def _other_boot(self, events, request_id):
        """The golden events of a boot with another request id."""
        other = []
        for event in events:
            text = event['text']
            if text and 'ipa-global-request-id=' in text and (
                    event['pcr'] == 8):
                prefix, rest = text.split(': ', 1)
                old = [t for t in rest.split()
                       if t.startswith('ipa-global-request-id=')][0]
                rest = rest.replace(
                    old, 'ipa-global-request-id=%s' % request_id)
                event = compare.normalize(
                    8, 'EV_IPL', hashlib.sha256(
                        rest.encode()).hexdigest(),
                    prefix + ': ' + rest)
            other.append(event)
        return other

    def test_another_request_id_passes_only_as_a_per_boot_value(self):
        golden = self._other_boot(
            self.golden(GRUB_LOG), 'req-00000000-1111-4222-8333-444444444444')
        state = golden_events.refstate(golden)
        self.assertEqual('', self.judge(GRUB_LOG, state)['reason'])
        # Without the per-boot parameters the same boot is refused.
        state['per_boot_parameters'] = {}
        reason = self.judge(GRUB_LOG, state)['reason']
        self.assertIn('ironic-keylime: the kernel command line changed',
                      reason)

    def test_added_parameter_named(self):
        golden = self.golden(GRUB_LOG)
        for i, event in enumerate(golden):
            text = event['text'] or ''
            if event['pcr'] == 8 and text.startswith('kernel_cmdline: '):
                rest = text[len('kernel_cmdline: '):].replace(
                    ' ima_hash=sha256', '')
                golden[i] = compare.normalize(
                    8, 'EV_IPL', hashlib.sha256(
                        rest.encode()).hexdigest(),
                    'kernel_cmdline: ' + rest)
        # The golden menuentry and linuxefi commands still hold it: the
        # first difference met is the kernel command line's.
        reason = self.judge(GRUB_LOG, golden_events.refstate(golden))[
            'reason']
        self.assertIn("the kernel command line changed: added "
                      "'ima_hash=sha256'", reason)

    def test_changed_kernel_named(self):
        golden = self.golden(GRUB_LOG)
        index = [e['text'] for e in golden].index('/vmlinuz')
        golden[index] = dict(golden[index], sha256='ab' * 32)
        reason = self.judge(GRUB_LOG, golden_events.refstate(golden))[
            'reason']
        self.assertIn("the kernel or initrd changed: EV_IPL '/vmlinuz' "
                      "(PCR 9)", reason)

    def test_changed_firmware_named(self):
        golden = self.golden(GRUB_LOG)
        golden[0] = dict(golden[0], sha256='cd' * 32)
        reason = self.judge(GRUB_LOG, golden_events.refstate(golden))[
            'reason']
        self.assertIn('the firmware changed (PCR 0)', reason)

    def test_ten_pcr_aggregate_without_pcr_8_events(self):
        # The EFI stub's boot has no event in PCR 8: the aggregate IMA
        # computes over PCRs 0-9 (PCR 8 still zero) must be one the
        # verifier accepts, as it is for GRUB's boot.
        for log in (KERNEL_LOG, GRUB_LOG):
            pcrs = {p: b'\0' * 32 for p in range(10)}
            for event in tcg.parse(_read(log)):
                if event.pcr in pcrs and event.type != 'EV_NO_ACTION':
                    pcrs[event.pcr] = hashlib.sha256(
                        pcrs[event.pcr] + bytes.fromhex(event.sha256)).digest()
            ima = hashlib.sha256(b''.join(pcrs[p] for p in range(10)))
            result = self.judge(log, golden_events.refstate(
                self.golden(log)))
            self.assertIn(ima.hexdigest(), result['aggregates'], log)
            self.assertTrue(result['check_wrapped'])
            if log == KERNEL_LOG:
                # An agent without the golden boot policy (a PCR policy
                # and an enrolled aggregate): its log is not checked
                # against the quote, and gives no such aggregate.
                other = self.judge(log, {'some_other_policy': 1})
                self.assertNotIn(ima.hexdigest(), other['aggregates'])

    def test_another_engines_policy_refused(self):
        with open(os.path.join(test_base.FIXTURES, 'uefi-event-log-ovmf',
                               'mb_policy-without-secureboot.json')) as f:
            example = json.load(f)
        reason = self.judge(KERNEL_LOG, example)['reason']
        self.assertIn('raised: the measured-boot policy is not an '
                      'ironic-keylime golden boot policy', reason)


class EfiStubCommandLineTest(EngineTestBase):
    """The EFI stub's command line, on the real OVMF ``-kernel`` log."""

    #: The command line that boot's stub measured.
    MEASURED = mb_policy_fixture.EVENT_LOG_CMDLINE

    def golden_of(self, line):
        """Golden events of this boot, as if enrolled with ``line``."""
        golden = golden_events.golden_from_log(_read(KERNEL_LOG),
                                               self.MEASURED)
        for i, event in enumerate(golden):
            if event['text'] == self.MEASURED:
                golden[i] = dict(event, text=line,
                                 sha256=load_options.digest(line))
        return golden

    def test_enrolled_command_line_passes(self):
        golden = golden_events.golden_from_log(_read(KERNEL_LOG),
                                               self.MEASURED)
        self.assertIn(self.MEASURED, [e['text'] for e in golden])
        result = self.judge(KERNEL_LOG, golden_events.refstate(golden))
        self.assertEqual('', result['reason'])

    def test_other_request_id_passes_with_the_reported_line(self):
        # Enrolled on a boot with a request id; this boot has none (the
        # per-boot parameter only differs), and its ramdisk reports the
        # line the stub measured: PASS.
        golden = self.golden_of('console=ttyS0 panic=-1 '
                                'ipa-global-request-id=req-00000000-1111-'
                                '4222-8333-444444444444 initrd=initrd')
        state = golden_events.refstate(golden, [self.MEASURED])
        self.assertEqual('', self.judge(KERNEL_LOG, state)['reason'])
        # Without the reported line the digest is not the golden one.
        reason = self.judge(KERNEL_LOG, golden_events.refstate(golden))[
            'reason']
        self.assertIn('ironic-keylime: the kernel command line changed '
                      '(PCR 9)', reason)

    def test_reported_line_the_stub_did_not_measure_fails(self):
        # A ramdisk that claims the golden line with another request id,
        # while the stub measured something else: refused.
        golden_line = ('console=ttyS0 panic=-1 ipa-global-request-id=req-'
                       '00000000-1111-4222-8333-444444444444 initrd=initrd')
        claimed = golden_line.replace('req-0', 'req-9')
        state = golden_events.refstate(self.golden_of(golden_line),
                                       [claimed])
        reason = self.judge(KERNEL_LOG, state)['reason']
        self.assertIn('neither the golden command line nor the one the '
                      'node reported', reason)

    def test_added_parameter_named(self):
        state = golden_events.refstate(
            self.golden_of('console=ttyS0 initrd=initrd'), [self.MEASURED])
        reason = self.judge(KERNEL_LOG, state)['reason']
        self.assertIn("ironic-keylime: the kernel command line changed: "
                      "added 'panic=-1'", reason)
