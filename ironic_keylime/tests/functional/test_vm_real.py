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
import random
import shutil
import tempfile
import time
import uuid


import testtools
from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import services
from ironic_keylime.tests.functional import vm_env

#: Under TCG the ramdisk boots in minutes, not seconds.
BOOT_TIMEOUT = 900
CLEAN_TIMEOUT = 900
#: The tamper: one extra executable, run at boot, in no allowlist.
TAMPER = '/usr/local/bin/ironic-keylime-tamper'
ENROLL_STEP = {'interface': 'attestation', 'step': 'enroll_boot_state'}


def _figure(name, value):
    print('VM FIGURE %s: %s' % (name, value), flush=True)


class VMChainTest(testtools.TestCase):
    """Our ramdisk in a VM with a TPM, attested through a real Ironic."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keylime = ironic_env.keylime_env()
        cls.image = vm_env.build_image()
        build = cls.image['build']
        _figure('ramdisk build seconds (first build)',
                build['build_seconds'])
        _figure('initramfs MiB', round(build['initramfs_bytes'] / 2 ** 20, 1))
        _figure('allowlist entries', build['allowlist_entries'])
        cls.workdir = tempfile.mkdtemp(prefix='ik-vm-')
        cls.ironic = ironic_env.IronicEnv(cls.workdir, cls.keylime, {
            'DEFAULT': {'enabled_deploy_interfaces': 'fake,direct'},
            # Fast track: the running ramdisk serves cleaning; no disk is
            # erased (the VM has none).
            'deploy': {'fast_track': 'true', 'fast_track_timeout': '300',
                       'erase_devices_priority': '0',
                       'erase_devices_metadata_priority': '0'},
            # ironic-python-agent heartbeats every ~half of it: cleaning
            # in the ramdisk goes on at the next heartbeat.
            'api': {'ramdisk_heartbeat_timeout': '30'},
        })
        # The API as the guest reaches it: what the conductor tells the
        # ramdisk (ipa-api-url) when it prepares cleaning.
        cls.ironic.config.setdefault('service_catalog', {})[
            'endpoint_override'] = 'http://10.0.2.2:%d' % cls.ironic.port
        cls.ironic.start()
        cls.lists = cls._copy_lists()

    @classmethod
    def tearDownClass(cls):
        cls.ironic.stop()
        if os.environ.get('IRONIC_KEYLIME_KEEP_IRONIC'):
            print('Ironic and VM of %s kept in %s' % (
                cls.__name__, cls.workdir))
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def _copy_lists(cls):
        """The element's build-time lists, in Ironic's allowed directory."""
        dest = os.path.join(cls.workdir, 'lists')
        names = ('allowlist', 'allowlist_checksum', 'excludelist',
                 'excludelist_checksum')
        for name in names:
            shutil.copy(os.path.join(cls.image['lists'], name), dest)
        return tuple(os.path.join(dest, n) for n in names)

    def setUp(self):
        super().setUp()
        self.ipa_port = services.free_port()
        self.agent_port = services.free_port()
        # A MAC per node: ports of earlier nodes stay in Ironic.
        self.mac = '52:54:00:4b:%02x:%02x' % (random.randint(0, 255),
                                              random.randint(0, 255))
        self.vm = None
        self.addOnException(self._attach_logs)
        self.addCleanup(self._stop_vm)

    def _stop_vm(self):
        if self.vm is not None:
            self.vm.stop()

    def _attach_logs(self, exc_info):
        self.addDetail('ironic-log', content.text_content(
            self.ironic.log_tail(200)))
        if self.vm is not None:
            self.addDetail('vm-console', content.text_content(
                self.vm.console(300)))

    def _node(self, attested=True):
        k = self.keylime
        info = {}
        if attested:
            info = self.ironic.keylime_driver_info(self.lists)
            # The ramdisk's agent: its UUID is the node's (given by the
            # conductor through keylime.configure_agent); the verifier
            # reaches it through qemu's forwarded port.
            del info['keylime_agent_uuid']
            info['keylime_agent_address'] = '127.0.0.1'
            info['keylime_agent_port'] = self.agent_port
        node = self.ironic.conn.baremetal.create_node(
            # Unique in the class's Ironic (test names share their ends).
            name='vm-%s' % uuid.uuid4().hex[:12],
            driver='fake-hardware', deploy_interface='direct',
            driver_info=info)
        self.ironic.conn.baremetal.create_port(
            node_id=node.id, address=self.mac)
        self.ironic.provision(node.id, 'manage', 'manageable')
        # fake power: the VM is "on" while the test runs it.
        self.ironic.conn.baremetal.set_node_power_state(node.id, 'power on')
        del k
        return node

    def _boot(self, node, tamper=None, smbios_serial=None):
        previous = None
        if self.vm is not None:
            # A reboot as Ironic sees one: powering off wipes the agent's
            # token and URL (the new boot's ramdisk looks up again; with
            # the old token kept, it would lock itself down).
            baremetal = self.ironic.conn.baremetal
            previous = (baremetal.get_node(node.id).driver_internal_info
                        or {}).get('agent_last_heartbeat')
            baremetal.set_node_power_state(node.id, 'power off', wait=True)
            self.vm.stop()
            baremetal.set_node_power_state(node.id, 'power on', wait=True)
        self.vm = vm_env.VM(os.path.join(self.workdir, 'vm-' + node.id),
                            self.image, self.ironic.port,
                            self.keylime['KEYLIME_HARNESS_DIR'],
                            self.ipa_port, self.agent_port, self.mac,
                            tamper=tamper, smbios_serial=smbios_serial)
        self.vm.start()
        return self._wait_heartbeat(node, previous)

    def _wait_heartbeat(self, node, previous=None):
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            internal = self.ironic.conn.baremetal.get_node(
                node.id).driver_internal_info or {}
            beat = internal.get('agent_last_heartbeat')
            if internal.get('agent_url') and beat and beat != previous:
                return time.monotonic() - self.vm.started
            time.sleep(2)
        self.fail('no heartbeat from the VM within %s s' % BOOT_TIMEOUT)

    def _enroll(self, node):
        """The operator's manual clean step, in the running ramdisk."""
        start = time.monotonic()
        self.ironic.provision(node.id, 'clean', 'manageable',
                              timeout=CLEAN_TIMEOUT,
                              clean_steps=[ENROLL_STEP])
        node = self.ironic.conn.baremetal.get_node(node.id)
        info = node.driver_info
        self.assertIn('keylime_tpm_policy', info)
        self.assertIn('keylime_boot_aggregate', info)
        _figure('enroll_boot_state seconds', round(time.monotonic() - start))
        return node

    def test_provide_attests_the_booted_ramdisk(self):
        node = self._node()
        seconds = self._boot(node)
        _figure('boot to first heartbeat seconds (TCG)', round(seconds))
        # SeaBIOS measures into the vTPM: the kernel's boot_aggregate is
        # not the all-zero line the element's build-time allowlist carries;
        # the enrolled golden boot state supplies it (and the PCR policy).
        node = self._enroll(node)
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

        # The same VM, the same cleaning, without attestation: what
        # attestation adds.
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

    def test_changed_firmware_setting_fails_cleaning(self):
        node = self._node()
        self._boot(node)
        self._enroll(node)
        self.ironic.provision(node.id, 'provide', 'available',
                              timeout=CLEAN_TIMEOUT)
        # The first PASS recorded the node's EK (trust on first use): the
        # next boot's agent, with a new attestation key, registers again.
        node = self.ironic.conn.baremetal.get_node(node.id)
        self.assertIn('keylime_ek_sha256', node.driver_info)
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
