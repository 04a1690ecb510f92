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

"""keylime.read_boot_state of the ramdisk's extension.

``tpm2_pcrread`` is a stand-in script that prints the real output of
Debian 12's tpm2-tools 5.4 read from a swtpm
(``tests/fixtures/tpm2-tools-5.4``) and records its arguments: a unit test
has no TPM. The functional tests read a real swtpm.
"""

import base64
import hashlib
import os

from ironic_python_agent import errors

from ironic_keylime.ipa import boot_state
from ironic_keylime.ipa import extension
from ironic_keylime.tests import base

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures',
                        'tpm2-tools-5.4')
PCR0 = '7f85193790de75e46b70bfec3614098f47332a6993dabac6e38ad35f47df5da4'
ZERO = '0' * 64
AGGREGATE = '78461dda1817945f4835bd277dcbd30c7bf77c6b0fad895b8139ea0a93ae86f7'


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class ReadBootStateTestCase(base.DbTestCase):

    block_execute = False  # runs the stand-in tpm2_pcrread

    def setUp(self):
        super().setUp()
        self.args = os.path.join(self.tempdir, 'args')
        self.output = os.path.join(self.tempdir, 'output')
        self.log = os.path.join(self.tempdir, 'binary_bios_measurements')
        self._pcrread(_fixture('pcrread-sha256-0-7.txt'))
        self.ima_log = os.path.join(self.tempdir,
                                    'ascii_runtime_measurements')
        self.cmdline = os.path.join(self.tempdir, 'cmdline')
        self.config(event_log_path=self.log, tpm_tcti='',
                    ima_log_path=self.ima_log,
                    kernel_cmdline_path=self.cmdline, group='keylime_agent')
        self.ext = extension.KeylimeExtension()

    def _pcrread(self, output, rc=0, stderr=''):
        with open(self.output, 'w') as f:
            f.write(output)
        # A script file: oslo.config would expand "$@" in an option.
        script = os.path.join(self.tempdir, 'tpm2_pcrread')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\nfor a in "$@"; do echo "$a" >> "%s"; done\n'
                    'cat "%s"\necho \'%s\' >&2\nexit %d\n' %
                    (self.args, self.output, stderr, rc))
        os.chmod(script, 0o700)
        self.config(pcrread_command=[script], group='keylime_agent')

    def _argv(self):
        with open(self.args) as f:
            return f.read().split('\n')[:-1]

    def _run(self, **params):
        result = self.ext.execute('read_boot_state', **params)
        self.assertEqual('SUCCEEDED', result.command_status)
        return result.command_result

    def test_reads_the_sha256_bank(self):
        result = self._run(pcrs=[7, 0, 1, 2, 3, 4, 5, 6, 0])
        self.assertEqual(['sha256:0,1,2,3,4,5,6,7'], self._argv())
        self.assertEqual('sha256', result['bank'])
        expected = {str(p): ZERO for p in range(8)}
        expected['0'] = PCR0
        self.assertEqual(expected, result['pcrs'])
        self.assertIsNone(result['event_log'])
        self.assertIn('no UEFI event log at %s' % self.log,
                      result['event_log_note'])

    def test_tcti_is_passed(self):
        self.config(tpm_tcti='swtpm:host=127.0.0.1,port=2321',
                    group='keylime_agent')
        self._run(pcrs=list(range(8)))
        self.assertEqual(['--tcti', 'swtpm:host=127.0.0.1,port=2321',
                          'sha256:0,1,2,3,4,5,6,7'], self._argv())

    def test_event_log_returned(self):
        data = os.urandom(300)
        with open(self.log, 'wb') as f:
            f.write(data)
        result = self._run(pcrs=list(range(8)))
        self.assertEqual(data, base64.b64decode(result['event_log']))
        self.assertEqual(300, result['event_log_size'])
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         result['event_log_sha256'])
        self.assertIsNone(result['event_log_note'])

    def test_event_log_too_large_not_returned(self):
        self.config(event_log_max_bytes=100, group='keylime_agent')
        with open(self.log, 'wb') as f:
            f.write(b'x' * 101)
        result = self._run(pcrs=list(range(8)))
        self.assertIsNone(result['event_log'])
        self.assertIn('larger than 100 bytes', result['event_log_note'])

    def test_kernel_cmdline_returned(self):
        with open(self.cmdline, 'w') as f:
            f.write('console=ttyS0 ipa-global-request-id=req-1 '
                    'initrd=initrd\n')
        result = self._run(pcrs=list(range(8)))
        self.assertEqual('console=ttyS0 ipa-global-request-id=req-1 '
                         'initrd=initrd', result['kernel_cmdline'])
        self.assertIsNone(result['kernel_cmdline_note'])

    def test_kernel_cmdline_missing_or_too_long(self):
        result = self._run(pcrs=list(range(8)))
        self.assertIsNone(result['kernel_cmdline'])
        self.assertIn('cannot be read', result['kernel_cmdline_note'])
        with open(self.cmdline, 'w') as f:
            f.write('x' * 4097 + '\n')
        result = self._run(pcrs=list(range(8)))
        self.assertIsNone(result['kernel_cmdline'])
        self.assertIn('longer than 4096 bytes', result['kernel_cmdline_note'])

    def _ima_log(self, first_line):
        with open(self.ima_log, 'w') as f:
            f.write(first_line + '\n10 %s ima-ng sha256:%s /init\n'
                    % ('1' * 40, '2' * 64))

    def test_boot_aggregate_returned(self):
        self._ima_log('10 %s ima-ng sha256:%s boot_aggregate'
                      % ('e' * 40, AGGREGATE.upper()))
        result = self._run(pcrs=list(range(8)))
        self.assertEqual(AGGREGATE, result['boot_aggregate'])
        self.assertEqual('sha256', result['boot_aggregate_algorithm'])
        self.assertIsNone(result['boot_aggregate_note'])

    def test_sha1_ima_template(self):
        self._ima_log('10 %s ima %s boot_aggregate' % ('e' * 40, 'ab' * 20))
        result = self._run(pcrs=list(range(8)))
        self.assertEqual('ab' * 20, result['boot_aggregate'])
        self.assertEqual('sha1', result['boot_aggregate_algorithm'])

    def test_boot_aggregate_not_returned(self):
        cases = [
            ('10 %s ima-ng sha256:%s boot_aggregate' % ('e' * 40, ZERO),
             'all zeros'),
            ('10 %s ima-ng sha256:%s /init' % ('e' * 40, AGGREGATE),
             'is not a boot_aggregate'),
            ('10 %s ima-ng sha256:%s boot_aggregate' % ('e' * 40, 'ab'),
             'has 2 hex digits, not the 64 of sha256'),
        ]
        for line, note in cases:
            self._ima_log(line)
            result = self._run(pcrs=list(range(8)))
            self.assertIsNone(result['boot_aggregate'], line)
            self.assertIn(note, result['boot_aggregate_note'])
        os.unlink(self.ima_log)
        result = self._run(pcrs=list(range(8)))
        self.assertIn('cannot be read', result['boot_aggregate_note'])

    def test_bad_pcrs_refused_before_any_command(self):
        cases = [None, [], '0-7', ['0'], [True], [24], [-1], [0.5],
                 ['0;reboot'], [0, '$(reboot)']]
        for pcrs in cases:
            e = self.assertRaises(errors.InvalidCommandParamsError,
                                  self.ext.execute, 'read_boot_state',
                                  pcrs=pcrs)
            self.assertIn('keylime.read_boot_state', str(e))
        e = self.assertRaises(errors.InvalidCommandParamsError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0], bank='sha1')
        self.assertIn('unknown parameters bank', str(e))
        self.assertFalse(os.path.exists(self.args))

    def test_missing_pcr_fails(self):
        # PCR 8 is not in the output (as for a PCR the TPM does not have).
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=list(range(9)))
        self.assertIn('did not report PCR(s) 8 of the sha256 bank', str(e))

    def test_bank_not_allocated_fails(self):
        self._pcrread(_fixture('pcrread-sha256-0-7.txt').replace(
            'sha256:', 'sha1:'))
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0])
        self.assertIn('did not report PCR(s) 0 of the sha256 bank', str(e))

    def test_short_digest_fails(self):
        self._pcrread('  sha256:\n    0 : 0x%s\n' % ('AB' * 20))
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0])
        self.assertIn('40 hex digits for PCR 0', str(e))

    def test_pcr_twice_fails(self):
        self._pcrread('  sha256:\n    0 : 0x%s\n    0 : 0x%s\n'
                      % (ZERO, PCR0))
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0])
        self.assertIn('PCR 0 of the sha256 bank twice', str(e))

    def test_pcrread_failure(self):
        self._pcrread('', rc=1,
                      stderr='ERROR: Could not load tcti, got: "device"')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0])
        self.assertIn('exited with 1', str(e))
        self.assertIn('Could not load tcti', str(e))

    def test_missing_pcrread(self):
        self.config(pcrread_command=['/nonexistent/tpm2_pcrread'],
                    group='keylime_agent')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'read_boot_state',
                              pcrs=[0])
        self.assertIn('the PCRs could not be read', str(e))


class ParseTestCase(base.DbTestCase):

    def test_parse_real_output(self):
        pcrs = boot_state.parse_pcrread(
            _fixture('pcrread-sha256-0-7.txt'), list(range(8)))
        self.assertEqual(PCR0, pcrs['0'])
        self.assertEqual(8, len(pcrs))

    def test_other_banks_ignored(self):
        output = ('  sha1:\n    0 : 0x%s\n  sha256:\n    0 : 0x%s\n'
                  % ('11' * 20, PCR0.upper()))
        self.assertEqual({'0': PCR0},
                         boot_state.parse_pcrread(output, [0]))

    def test_pcr_not_asked_for_fails(self):
        self.assertRaises(boot_state.BootStateError,
                          boot_state.parse_pcrread,
                          _fixture('pcrread-sha256-0-7.txt'), [0])
