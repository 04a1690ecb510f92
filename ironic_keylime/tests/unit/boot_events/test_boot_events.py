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

"""The event log reader and the golden boot comparison.

On the real UEFI event log of an OVMF boot (tests/fixtures/
uefi-event-log-ovmf/README.rst), and on GRUB's events as GRUB 2.06 logs
them (a command's digest is the SHA-256 of the text after ``grub_cmd: ``,
tests/fixtures/uefi-event-log-ovmf-grub/README.rst).
"""

import copy
import hashlib
import struct

from oslotest import base

from ironic_keylime.boot_events import cmdline
from ironic_keylime.boot_events import compare
from ironic_keylime.boot_events import load_options
from ironic_keylime.boot_events import tcg
from ironic_keylime.tests.unit import mb_policy_fixture as fixture

REQUEST_ID = 'ipa-global-request-id'
PARAMETERS = {REQUEST_ID: r'req-[0-9a-f-]{36}',
              'ipa-agent-token': r'[A-Za-z0-9_-]{16,128}'}
LINE = ('/vmlinuz selinux=0 troubleshoot=0 text console=ttyS0 '
        'ima_template=ima-ng ima_hash=sha256 ipa-global-request-id=%s '
        'boot_server=10.0.2.2')
ID_1 = 'req-42ebd6aa-0000-4000-8000-000000000001'
ID_2 = 'req-9e7ffb70-0000-4000-8000-000000000002'


def _read_log():
    with open(fixture.EVENT_LOG, 'rb') as f:
        return f.read()


def _grub_event(pcr, prefix, text):
    """A GRUB 2.06 event: the digest is of the text after the prefix."""
    return compare.normalize(pcr, 'EV_IPL',
                             hashlib.sha256(text.encode()).hexdigest(),
                             (prefix + text + '\0').encode())


def _grub_boot(request_id, extra='', config_digest='11' * 32):
    """The PCR 8 and 9 events of a GRUB boot of the given command line."""
    line = LINE % request_id + extra
    events = [compare.normalize(p.pcr, p.type, p.sha256, p.data)
              for p in tcg.parse(_read_log()) if p.pcr != 9]
    events += [
        compare.normalize(9, 'EV_IPL', config_digest,
                          b'/EFI/ironic/grub.cfg\0'),
        _grub_event(8, 'grub_cmd: ', 'set default=deploy'),
        _grub_event(8, 'grub_cmd: ', 'linuxefi ' + line),
        _grub_event(8, 'kernel_cmdline: ', line),
        compare.normalize(9, 'EV_IPL', '22' * 32, b'/vmlinuz\0'),
    ]
    return events


class TcgTestCase(base.BaseTestCase):

    def test_reads_the_real_log(self):
        events = tcg.parse(_read_log())
        self.assertEqual(25, len(events))
        self.assertEqual((0, 'EV_S_CRTM_VERSION'),
                         (events[0].pcr, events[0].type))
        self.assertEqual(64, len(events[0].sha256))
        self.assertEqual(b'Calling EFI Application from Boot Option',
                         events[13].data)

    def test_cut_short(self):
        log = _read_log()
        e = self.assertRaises(tcg.EventLogError, tcg.parse, log[:-5])
        self.assertIn('ends inside an event\'s data', str(e))

    def test_not_crypto_agile(self):
        log = bytearray(_read_log())
        log[32:48] = b'Spec ID Event02\0'
        e = self.assertRaises(tcg.EventLogError, tcg.parse, bytes(log))
        self.assertIn('crypto-agile', str(e))

    def test_huge_event_refused(self):
        log = _read_log()
        # A last event claiming 2 MiB of data.
        extra = struct.pack('<IIIH', 9, 0xd, 1, 0xb) + b'\0' * 32
        extra += struct.pack('<I', 2 * 1024 * 1024)
        e = self.assertRaises(tcg.EventLogError, tcg.parse, log + extra)
        self.assertIn('more than', str(e))


class CmdlineTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.params = cmdline.compile_parameters(PARAMETERS)

    def test_per_boot_values_set_aside(self):
        self.assertEqual(cmdline.stable_tokens(LINE % ID_1, self.params),
                         cmdline.stable_tokens(LINE % ID_2, self.params))

    def test_a_value_of_the_wrong_shape_stays(self):
        tokens = cmdline.stable_tokens(
            LINE % 'req-x"init=/bin/sh"', self.params)
        self.assertIn('ipa-global-request-id=req-x"init=/bin/sh"', tokens)

    def test_describe(self):
        self.assertEqual("added 'init=/bin/sh'; removed 'ima_hash=sha256'",
                         cmdline.describe_change(
                             ['a', 'ima_hash=sha256'], ['a', 'init=/bin/sh']))
        self.assertEqual('the same parameters in another order',
                         cmdline.describe_change(['a', 'b'], ['b', 'a']))

    def test_bad_pattern(self):
        self.assertRaises(ValueError, cmdline.compile_parameters,
                          {'x': '('})


class CompareTestCase(base.BaseTestCase):

    def test_same_boot(self):
        golden = _grub_boot(ID_1)
        self.assertEqual([], compare.differences(golden, golden,
                                                 PARAMETERS))

    def test_another_request_id_and_grub_cfg_pass(self):
        self.assertEqual([], compare.differences(
            _grub_boot(ID_1), _grub_boot(ID_2, config_digest='33' * 32),
            PARAMETERS))

    def test_without_the_rule_another_request_id_fails(self):
        found = compare.differences(_grub_boot(ID_1), _grub_boot(ID_2), {})
        self.assertEqual(1, len(found))
        self.assertIn('the kernel command line changed', found[0])

    def test_added_parameter_named(self):
        found = compare.differences(
            _grub_boot(ID_1), _grub_boot(ID_2, extra=' init=/bin/sh'),
            PARAMETERS)
        self.assertEqual(["the kernel command line changed: added "
                          "'init=/bin/sh'"], found)

    def test_removed_parameter_named(self):
        golden = _grub_boot(ID_1)
        current = _grub_boot(ID_2)
        for i, event in enumerate(current):
            if event['text'] and 'ima_hash=sha256' in event['text']:
                prefix = event['text'].split(': ', 1)[0] + ': '
                rest = event['text'][len(prefix):].replace(
                    ' ima_hash=sha256', '')
                current[i] = _grub_event(8, prefix, rest)
        found = compare.differences(golden, current, PARAMETERS)
        self.assertIn("removed 'ima_hash=sha256'", found[0])

    def test_text_that_is_not_what_was_measured(self):
        golden = _grub_boot(ID_1)
        current = _grub_boot(ID_2, extra=' init=/bin/sh')
        # The log shows the honest line; the digest is the tampered one's.
        honest = _grub_boot(ID_2)
        for i, event in enumerate(current):
            if event['text'] and 'init=/bin/sh' in event['text']:
                current[i] = dict(honest[i], sha256=event['sha256'])
        found = compare.differences(golden, current, PARAMETERS)
        self.assertIn('does not match its measured digest', found[0])

    def test_changed_kernel_named(self):
        current = _grub_boot(ID_2)
        current[-1] = dict(current[-1], sha256='44' * 32)
        found = compare.differences(_grub_boot(ID_1), current, PARAMETERS)
        self.assertEqual(["the kernel or initrd changed: EV_IPL '/vmlinuz' "
                          "(PCR 9)"], found)

    def test_changed_boot_loader_named(self):
        current = _grub_boot(ID_1)
        index = [e['type'] for e in current].index(
            'EV_EFI_BOOT_SERVICES_APPLICATION')
        current[index] = dict(current[index], sha256='55' * 32)
        found = compare.differences(_grub_boot(ID_1), current, PARAMETERS)
        self.assertEqual(['the boot loader or kernel changed (PCR 4): '
                          'EV_EFI_BOOT_SERVICES_APPLICATION'], found)

    def test_firmware_setting_named(self):
        golden = _grub_boot(ID_1)
        current = copy.deepcopy(golden)
        current.insert(0, compare.normalize(1, 'EV_EFI_HANDOFF_TABLES',
                                            '66' * 32, b''))
        found = compare.differences(golden, current, PARAMETERS)
        self.assertEqual(1, len(found))
        self.assertIn('a firmware setting changed (PCR 1)', found[0])

    def test_boot_entries_left_out(self):
        golden = _grub_boot(ID_1)
        current = copy.deepcopy(golden)
        # A deploy wrote a boot entry: another BootOrder, one more Boot####.
        current.insert(0, compare.normalize(1, 'EV_EFI_VARIABLE_BOOT',
                                            '77' * 32, b''))
        for event in current:
            if event['type'] == 'EV_EFI_VARIABLE_BOOT':
                event['sha256'] = '88' * 32
        self.assertEqual([], compare.differences(golden, current,
                                                 PARAMETERS))

    def test_grub_cfg_path_must_be_the_same(self):
        current = _grub_boot(ID_1)
        for i, event in enumerate(current):
            if event['text'] == '/EFI/ironic/grub.cfg':
                current[i] = dict(event, text='/EFI/other/grub.cfg')
        found = compare.differences(_grub_boot(ID_1), current, PARAMETERS)
        self.assertIn("'/EFI/other/grub.cfg'", found[0])

    def test_missing_events_named(self):
        golden = _grub_boot(ID_1)
        current = [e for e in golden if e['pcr'] != 8]
        found = compare.differences(golden, current, PARAMETERS)
        self.assertEqual(1, len(found))
        self.assertIn('PCR 8): 0 events where the golden boot has 3', found[0])


STUB_LINE = ('console=ttyS0 ima_policy=tcb ipa-global-request-id=%s '
             'initrd=initrd')


def _stub_boot(line):
    """The events of an EFI stub boot whose command line is ``line``."""
    events = [compare.normalize(p.pcr, p.type, p.sha256, p.data)
              for p in tcg.parse(_read_log()) if p.pcr != 9]
    return events + [
        compare.normalize(9, 'EV_EVENT_TAG', load_options.digest(line),
                          b'\xed";\x8f\x1a\x00\x00\x00'
                          b'LOADED_IMAGE::LoadOptions\x00'),
        compare.normalize(9, 'EV_EVENT_TAG', '44' * 32,
                          b'\xec";\x8f\r\x00\x00\x00Linux initrd\x00'),
    ]


def _stub_golden(line):
    """The golden events of that boot, its command line recorded."""
    golden = _stub_boot(line)
    golden[-2] = dict(golden[-2], text=line)
    return golden


class LoadOptionsTestCase(base.BaseTestCase):
    """The command line the EFI stub measures as a digest only."""

    def test_digest_of_the_real_log(self):
        # The real OVMF -kernel boot's LoadOptions event.
        event = [e for e in tcg.parse(_read_log())
                 if load_options.is_load_options(e.pcr, e.type, e.data)]
        self.assertEqual(1, len(event))
        self.assertEqual(load_options.digest(fixture.EVENT_LOG_CMDLINE),
                         event[0].sha256)

    def test_other_tags_are_not_load_options(self):
        for e in tcg.parse(_read_log()):
            if e.type == 'EV_EVENT_TAG' and b'initrd' in e.data:
                self.assertFalse(load_options.is_load_options(
                    e.pcr, e.type, e.data))

    def test_same_boot(self):
        line = STUB_LINE % ID_1
        self.assertEqual([], compare.differences(
            _stub_golden(line), _stub_boot(line), PARAMETERS))

    def test_another_request_id_passes_with_its_command_line(self):
        now = STUB_LINE % ID_2
        self.assertEqual([], compare.differences(
            _stub_golden(STUB_LINE % ID_1), _stub_boot(now), PARAMETERS,
            [now]))

    def test_another_request_id_without_its_command_line_fails(self):
        found = compare.differences(
            _stub_golden(STUB_LINE % ID_1), _stub_boot(STUB_LINE % ID_2),
            PARAMETERS)
        self.assertEqual(1, len(found))
        self.assertIn('neither the golden command line nor the one the '
                      'node reported', found[0])

    def test_reported_line_that_was_not_measured_fails(self):
        # A ramdisk that reports an honest-looking line while the stub
        # measured another: the digest does not match, FAIL.
        measured = STUB_LINE % ID_2 + ' init=/bin/sh'
        found = compare.differences(
            _stub_golden(STUB_LINE % ID_1), _stub_boot(measured),
            PARAMETERS, [STUB_LINE % ID_2])
        self.assertIn('neither the golden command line nor the one the '
                      'node reported', found[0])

    def test_added_parameter_named(self):
        measured = STUB_LINE % ID_2 + ' module.sig_enforce=0'
        found = compare.differences(
            _stub_golden(STUB_LINE % ID_1), _stub_boot(measured),
            PARAMETERS, [measured])
        self.assertEqual(["the kernel command line changed: added "
                          "'module.sig_enforce=0'"], found)

    def test_without_the_rule_another_request_id_fails(self):
        now = STUB_LINE % ID_2
        found = compare.differences(
            _stub_golden(STUB_LINE % ID_1), _stub_boot(now), {}, [now])
        self.assertIn('the kernel command line changed', found[0])

    def test_golden_without_text_compares_the_digest(self):
        # Enrolled before the command line was recorded: exact digest.
        golden = _stub_boot(STUB_LINE % ID_1)
        now = STUB_LINE % ID_2
        found = compare.differences(golden, _stub_boot(now), PARAMETERS,
                                    [now])
        self.assertIn('PCR 9', found[0])
