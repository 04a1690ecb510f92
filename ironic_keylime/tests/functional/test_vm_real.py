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

"""The whole chain on a virtual machine (issue 14).

The deploy ramdisk built from our elements (tools/vm/build-ramdisk.sh)
boots in qemu with its own swtpm, as the ramdisk of a node of a real
Ironic (ironic-attest); ironic-python-agent looks the node up and
heartbeats over qemu's user networking; automated cleaning runs the
``attest`` step, which configures the ramdisk's Keylime agent through our
IPA extension and has the harness's real verifier attest the VM's TPM
quotes and the kernel's real IMA log against the lists the element wrote
at build time.

Power: fake-hardware's ``fake`` power interface, the VM started and
stopped by the test, and Ironic's fast track (the running ramdisk is used
by cleaning without a reboot). A Redfish emulator (sushy-tools) would need
libvirt, which the test machines do not run; the Ironic side of the flow
(lookup, heartbeat, clean steps in the ramdisk, agent commands) is the real
one.

Figures are printed (build time and size, boot to first heartbeat,
provide to available with and without attestation).

It runs with the rest of the functional suite (the README's test
command; tools/functional.sh builds the ramdisk in the background while
the other tests run) and on its own from ``tools/vm/e2e.sh``.
"""

import json
import os
import time

from ironic_keylime.tests.functional import vm_base

CLEAN_TIMEOUT = vm_base.CLEAN_TIMEOUT
#: The tamper: one extra executable, run at boot, in no allowlist.
TAMPER = '/usr/local/bin/ironic-keylime-tamper'
_figure = vm_base.figure


class VMChainTest(vm_base.VMTestCase):
    """Our ramdisk in a VM with a TPM (SeaBIOS), through a real Ironic."""

    def test_attested_boot_then_changed_firmware_setting(self):
        """One node, two boots: PASS, then a changed firmware setting FAILs.

        The boots are shared (each costs minutes under TCG): the first
        boot is enrolled, attested (PASS) and cleaned once more without
        attestation (what attestation adds); the second boot has a
        changed firmware setting and fails its cleaning.
        """
        node = self._node()
        seconds = self._boot(node)
        _figure('boot to first heartbeat seconds (TCG)', round(seconds))
        # SeaBIOS measures into the vTPM: the kernel's boot_aggregate is
        # not the all-zero line the element's build-time allowlist carries;
        # the enrolled golden boot state supplies it (and the PCR policy).
        node = self._enroll(node)
        self.assertIn('keylime_boot_aggregate', node.driver_info)
        policy = json.loads(node.driver_info['keylime_tpm_policy'])
        self.assertNotEqual(['0' * 64], policy['0'],
                            'SeaBIOS measured nothing into PCR 0')
        start = time.monotonic()
        node = self.ironic.provision(node.id, 'provide', 'available',
                                     timeout=CLEAN_TIMEOUT)
        _figure('provide to available with attestation seconds',
                round(time.monotonic() - start))
        events = self.ironic.attestation_events(node.id)
        verdicts = [e for e in events
                    if 'Keylime attestation' in e['event']]
        self.assertEqual(1, len(verdicts), events)
        self.assertEqual('INFO', verdicts[0]['severity'], verdicts)
        self.assertIn('Keylime attestation PASS', verdicts[0]['event'])
        # The first PASS recorded the node's EK (trust on first use): the
        # next boot's agent, with a new attestation key, registers again.
        node = self.ironic.conn.baremetal.get_node(node.id)
        self.assertIn('keylime_ek_sha256', node.driver_info)

        # The same VM, the same cleaning, without attestation: what
        # attestation adds.
        interface = node.driver_info['attestation_interface']
        self.ironic.conn.baremetal.patch_node(node.id, [
            {'op': 'remove', 'path': '/driver_info/attestation_interface'}])
        self.ironic.provision(node.id, 'manage', 'manageable')
        start = time.monotonic()
        self.ironic.provision(node.id, 'provide', 'available',
                              timeout=CLEAN_TIMEOUT)
        _figure('provide to available without attestation seconds',
                round(time.monotonic() - start))
        self.assertEqual(len(events),
                         len(self.ironic.attestation_events(node.id)))
        self.ironic.conn.baremetal.patch_node(node.id, [
            {'op': 'add', 'path': '/driver_info/attestation_interface',
             'value': interface}])

        # A firmware setting changes (the SMBIOS serial number, which
        # SeaBIOS measures into PCR 1); the node reboots with its TPM.
        self.ironic.provision(node.id, 'manage', 'manageable')
        self._boot(node, smbios_serial='changed-by-the-lessee')
        node = self.ironic.provision(node.id, 'provide', 'clean failed',
                                     timeout=CLEAN_TIMEOUT)
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        self.assertIn('Invalid Quote', error)
        # Both checks saw it: PCR 1 differs from the golden boot state,
        # and so does the kernel's boot_aggregate (computed over PCRs 0-9)
        # from the enrolled one. Keylime names the first failure it met
        # (the IMA log is checked before the PCRs); its log names both.
        with open(os.path.join(os.environ['KEYLIME_HARNESS_LOG_DIR'],
                               'verifier.log'), errors='replace') as f:
            log = f.read()
        self.assertTrue(any(
            'PCR #1: ' in line and 'from agent %s' % node.id in line
            for line in log.splitlines()), 'no PCR 1 failure of the node')
        self.assertIn('Hashes for file boot_aggregate don\'t match', log)

    def test_tampered_ramdisk_fails_cleaning(self):
        node = self._node()
        tamper = os.path.join(self.workdir, 'tamper-' + node.id)
        with open(tamper, 'w') as f:
            f.write('#!/bin/sh\n# ironic-keylime VM tamper test\nexit 0\n')
        os.chmod(tamper, 0o755)
        self._boot(node, tamper=tamper)
        # The firmware and boot chain are the trusted ones (enrolled); the
        # ramdisk runs one executable its allowlist does not know.
        self._enroll(node)
        node = self.ironic.provision(node.id, 'provide', 'clean failed',
                                     timeout=CLEAN_TIMEOUT)
        error = self.ironic.error_message(node)
        self.assertIn('Invalid Quote', error)
        self.assertIn('not_in_allowlist', error)
        # Keylime's API gives the event, not the file: its verifier's log
        # names the file.
        with open(os.path.join(os.environ['KEYLIME_HARNESS_LOG_DIR'],
                               'verifier.log'), errors='replace') as f:
            self.assertIn(TAMPER, f.read())
