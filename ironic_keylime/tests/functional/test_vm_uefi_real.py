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

"""The golden boot state on a UEFI node booted by GRUB (issue 21).

Our ramdisk boots in a VM under OVMF (Debian's ``ovmf``) with a swtpm,
through GRUB with its ``tpm`` module (Debian's ``grub-efi-amd64-bin``),
from the grub.cfg Ironic's own template renders, with a new
``ipa-global-request-id`` at every boot as Ironic adds for every
Nova-driven request. GRUB measures its commands and the kernel command
line into PCR 8 and grub.cfg into PCR 9, so the IMA boot_aggregate differs
at every boot.

With ``[keylime]golden_boot_events``, ``enroll_boot_state`` records the
enrollment boot's UEFI events and the verifier's ``ironic-keylime``
engine compares every boot's event log with them: honest boots pass boot
after boot, and a kernel command line changed beyond Ironic's per-boot
parameters fails, naming the change.

On the kernel's EFI-stub path (the firmware starts the kernel itself, as
iPXE does; here OVMF's ``-kernel`` loader, with the deploy entry of the
iPXE script Ironic's ``ipxe`` boot interface wrote for the boot), the
stub measures the command line into PCR 9
as a digest only: the ramdisk reports ``/proc/cmdline``, and the verifier
believes it only where it hashes to that digest.

Boots are shared between checks. GRUB: one node, enrolled once, boots three
times (each boot's cleaning attests it; the first boot is also attested
on a verifier that ignores measured-boot policies, and a boot entry is
written before the third, as a deploy writes one) and a fourth time with
a changed command line and a changed initrd. EFI stub: one node,
enrolled once and attested, is deployed in the same boot (a whole-disk
image written to its disk, a UEFI boot entry registered), boots again
for the cleaning after the undeploy, with a new request id and the new
boot entry, and a third time with a changed command line and a changed
Secure Boot setting. Every change fails the boot and is named.
"""

import json
import os
import time
import uuid

from ironic_keylime.tests.functional import vm_base
from ironic_keylime.tests.functional import vm_env

CLEAN_TIMEOUT = vm_base.CLEAN_TIMEOUT
#: A parameter an attacker adds: it turns off module signature checks.
TAMPERED_PARAMETER = 'module.sig_enforce=0'
#: The boot loader a deploy installs, and registers as a boot entry.
DEPLOYED_LOADER = '\\EFI\\debian\\shimx64.efi'
#: The loader of the tenant's image (tools/vm/deploy-image.sh) that
#: ironic-python-agent registers.
DEPLOYED_BY_IPA = '\\EFI\\BOOT\\BOOTX64.EFI'
#: A deploy ends with the ramdisk powering the node off.
POWER_OFF_TIMEOUT = 300


class UefiGrubGoldenBootTest(vm_base.VMTestCase):
    """OVMF + GRUB, Ironic's grub.cfg, golden boot events."""

    boot_path = vm_env.OVMF_GRUB
    extra_config = {'keylime': {'golden_boot_events': 'true'}}

    def _verdicts(self, node):
        return [e for e in self.ironic.attestation_events(node.id)
                if 'Keylime attestation' in e['event']]

    def _attest(self, node, expect='available'):
        """Clean the node (from manageable): the attest step runs."""
        start = time.monotonic()
        node = self.ironic.provision(node.id, 'provide', expect,
                                     timeout=CLEAN_TIMEOUT)
        vm_base.figure('provide to %s with attestation seconds' % expect,
                       round(time.monotonic() - start))
        return node

    def _on_verifier(self, node, port):
        self.ironic.conn.baremetal.patch_node(node.id, [
            {'op': 'add', 'path': '/driver_info/keylime_vp', 'value': port}])

    def _recover(self, node):
        """After a failed cleaning: out of maintenance, manageable."""
        baremetal = self.ironic.conn.baremetal
        baremetal.unset_node_maintenance(node.id)
        if baremetal.get_node(node.id).provision_state != 'manageable':
            self.ironic.provision(node.id, 'manage', 'manageable')

    def test_enrolled_once_passes_boot_after_boot(self):
        node = self._node()
        seconds = self._boot(node, linux_cmd='linuxefi')
        vm_base.figure('OVMF + GRUB boot to first heartbeat seconds (TCG)',
                       round(seconds))
        node = self._enroll(node)
        events = json.loads(node.driver_info['keylime_golden_boot_events'])
        commands = [e['text'] for e in events if e['pcr'] == 8]
        # GRUB measured the command line Ironic rendered, with this boot's
        # request id.
        self.assertTrue(any(self.request_id in c for c in commands),
                        commands)
        self._attest(node)
        passes = 1

        # The same boot on a verifier whose engine is Keylime's default
        # (accept-all, which ignores measured-boot policies): refused
        # before anything is sent, saying so.
        self.ironic.provision(node.id, 'manage', 'manageable')
        self._on_verifier(node, int(os.environ[
            'KEYLIME_HARNESS_VERIFIER2_PORT']))
        node = self._attest(node, expect='clean failed')
        error = self.ironic.error_message(node)
        self.assertIn('does not judge measured-boot policies with the '
                      'ironic-keylime engine: it accepted a policy that '
                      'engine refuses', error)
        self.assertIn('Nothing was sent to the verifier', error)
        self._recover(node)
        self._on_verifier(node, int(self.keylime[
            'KEYLIME_HARNESS_VERIFIER_PORT']))

        # Two more boots, each with a new request id (another grub.cfg,
        # other PCRs 8 and 9, another boot_aggregate): PASS. Before the
        # second, a boot entry is written as a deploy writes one (PCR 1).
        for boot_entry in (None, DEPLOYED_LOADER):
            if self.ironic.conn.baremetal.get_node(
                    node.id).provision_state != 'manageable':
                self.ironic.provision(node.id, 'manage', 'manageable')
            self._boot(node, linux_cmd='linuxefi', boot_entry=boot_entry)
            self._attest(node)
            passes += 1
        verdicts = [v for v in self._verdicts(node)
                    if 'Keylime attestation' in v['event']]
        self.assertEqual(passes, len([v for v in verdicts
                                      if 'PASS' in v['event']]), verdicts)

        # A boot whose command line has one more parameter than Ironic's
        # (PCR 8) and whose initrd is another (PCR 9; the same files, zero
        # padding appended): FAIL, naming both (the verifier's engine, and
        # the node's message from the ramdisk's account).
        self.ironic.provision(node.id, 'manage', 'manageable')
        self._boot(node, linux_cmd='linuxefi',
                   extra_params=TAMPERED_PARAMETER,
                   initrd=vm_env.padded_initramfs(
                       self.image, os.path.join(self.workdir,
                                                'initramfs-padded')))
        node = self._attest(node, expect='clean failed')
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        self.assertIn('measured_boot.policy_ironic-keylime', error)
        with open(os.path.join(os.environ['KEYLIME_HARNESS_LOG_DIR'],
                               'verifier.log'), errors='replace') as f:
            log = f.read()
        for what in (error, log):
            self.assertIn("the kernel command line changed: added '%s'" %
                          TAMPERED_PARAMETER, what)
            self.assertIn('the kernel or initrd changed: EV_IPL', what)
            self.assertIn("initramfs' (PCR 9)", what)


class UefiStubGoldenBootTest(UefiGrubGoldenBootTest):
    """OVMF starts the kernel's EFI stub, with Ironic's own iPXE script.

    The node is a manual-management node with Ironic's ``ipxe`` boot
    interface: for each boot Ironic itself writes the node's iPXE script,
    with the request's global id (sent as Nova sends it), and the VM
    starts the stub with that script's deploy entry (OVMF's ``-kernel``
    loader standing for iPXE).

    The node has a disk: between its first and second boot, Ironic deploys
    a tenant's whole-disk UEFI image to it in the running ramdisk, and
    ironic-python-agent registers the image's boot loader as a UEFI boot
    entry. OVMF starts its ``-kernel`` before ``BootOrder``, so the
    cleaning after the undeploy boots the ramdisk again, with the deploy's
    boot entry in PCR 1, as Ironic's boot device override makes a real
    node's cleaning boot.
    """

    boot_path = vm_env.OVMF_KERNEL
    deploys = True

    def _ironic_boot(self, node, target, extra_params='', **body):
        """Ask for a provision state as Nova would; boot what Ironic wrote.

        The request carries a new global request id; Ironic prepares the
        ramdisk's boot (its iPXE script) and waits for the ramdisk; the
        VM boots that script's deploy entry, with ``extra_params`` added.

        :returns: seconds from power on to the first heartbeat.
        """
        if self.vm is not None and self.vm.running():
            self.ironic.conn.baremetal.set_node_power_state(
                node.id, 'power off', wait=True)
            self.vm.stop()
        self.request_id = 'req-%s' % uuid.uuid4()
        resp = self.ironic.api(
            'PUT', '/nodes/%s/states/provision' % node.id,
            json=dict(body, target=target),
            headers={'X-OpenStack-Request-ID': self.request_id})
        self.assertEqual(202, resp.status_code, resp.text)
        self.ironic.wait_for(node.id, 'clean wait')
        with open(os.path.join(self.http_root, node.id, 'config')) as f:
            append = vm_env.ipxe_kernel_params(f.read(), mac=self.mac)
        self.assertIn('ipa-global-request-id=%s' % self.request_id, append)
        return self._boot(node, by_ironic=True,
                          append=(append + ' ' + extra_params).strip())

    def _deploy(self, node):
        """Deploy the tenant's image in the running ramdisk (fast track).

        :returns: the node, active, once its VM has powered itself off.
        """
        # The image type given, as Ironic's standalone guide has it:
        # without it, Ironic 39 fails on a file:// source (its
        # is_source_a_path takes FileImageService's path for a response).
        self.ironic.conn.baremetal.patch_node(node.id, [
            {'op': 'add', 'path': '/instance_info/image_source',
             'value': 'file://' + self.deploy_image},
            {'op': 'add', 'path': '/instance_info/image_type',
             'value': 'whole-disk'},
            {'op': 'add', 'path': '/driver_info/image_http_proxy',
             'value': self.image_proxy}])
        start = time.monotonic()
        node = self.ironic.provision(node.id, 'active', 'active',
                                     timeout=CLEAN_TIMEOUT)
        vm_base.figure('deploy with attestation seconds',
                       round(time.monotonic() - start))
        # The end of the deploy: ironic-python-agent powers the node off
        # in band (the VM ends).
        deadline = time.monotonic() + POWER_OFF_TIMEOUT
        while self.vm.running() and time.monotonic() < deadline:
            time.sleep(2)
        self.assertFalse(self.vm.running(),
                         'the ramdisk did not power the node off')
        self.vm.stop()
        return node

    def test_enrolled_once_passes_boot_after_boot(self):
        node = self._node()
        # Enrollment: the manual clean step, in the ramdisk Ironic boots.
        seconds = self._ironic_boot(node, 'clean',
                                    clean_steps=[vm_base.ENROLL_STEP])
        vm_base.figure('OVMF EFI stub boot to first heartbeat seconds (TCG)',
                       round(seconds))
        node = self.ironic.wait_state(node.id, 'manageable', CLEAN_TIMEOUT)
        events = json.loads(node.driver_info['keylime_golden_boot_events'])
        lines = [e['text'] for e in events
                 if e['pcr'] == 9 and e['type'] == 'EV_EVENT_TAG'
                 and e['text']]
        # The stub measured the command line of Ironic's script, with this
        # boot's request id: proven by its digest, recorded as golden.
        self.assertEqual(1, len(lines), events)
        self.assertIn('ipa-global-request-id=%s' % self.request_id,
                      lines[0])
        self._attest(node)
        vars_fd = os.path.join(self.vm.rundir, 'vars.fd')
        entries_before = vm_env.boot_entries(vars_fd)

        # A deploy in the same boot: its attestation step passes, the
        # image is written, and ironic-python-agent registers the image's
        # loader as a boot entry, first in BootOrder (efibootmgr).
        node = self._deploy(node)
        entries = vm_env.boot_entries(vars_fd)
        self.assertNotIn(entries[0], entries_before)
        # On the disk's ESP (partition 1), as efibootmgr writes it.
        self.assertIn('Partition(nr=1)/FilePath(%s)' % DEPLOYED_BY_IPA,
                      entries[0][1])
        # OVMF measures BootOrder and the Boot#### it names into PCR 1 on
        # this path (the enrollment boot's events have them): the next
        # boot's PCR 1 has the new entry.
        self.assertTrue([e for e in events if e['pcr'] == 1
                         and e['type'].startswith('EV_EFI_VARIABLE_BOOT')],
                        events)

        # Undeploy: Ironic cleans the node, which boots the ramdisk again
        # with another request id and the deploy's boot entry (PCR 1):
        # PASS.
        start = time.monotonic()
        self._ironic_boot(node, 'deleted')
        self.ironic.wait_state(node.id, 'available', CLEAN_TIMEOUT)
        vm_base.figure('undeploy to available with attestation seconds',
                       round(time.monotonic() - start))
        verdicts = self._verdicts(node)
        # Cleaning, deploy, the cleaning after the undeploy.
        self.assertEqual(3, len([v for v in verdicts
                                 if 'PASS' in v['event']]), verdicts)

        # One more parameter than Ironic's, and a changed firmware setting
        # (a hash added to the Secure Boot db, PCR 7, while the node is
        # off): FAIL, both named by the verifier's engine itself (the
        # ramdisk's line hashes to the stub's digest).
        self.ironic.provision(node.id, 'manage', 'manageable')
        verifier_log = os.path.join(os.environ['KEYLIME_HARNESS_LOG_DIR'],
                                    'verifier.log')
        offset = os.path.getsize(verifier_log)
        self.ironic.conn.baremetal.set_node_power_state(node.id, 'power off',
                                                        wait=True)
        self.vm.stop()
        vm_env.add_secure_boot_db_hash(vars_fd, '5a' * 32)
        self._ironic_boot(node, 'provide', extra_params=TAMPERED_PARAMETER)
        node = self.ironic.wait_state(node.id, 'clean failed', CLEAN_TIMEOUT)
        error = self.ironic.error_message(node)
        self.assertIn('Keylime attestation FAIL', error)
        # This boot's part of the verifier's log (the GRUB test's is
        # before it).
        with open(verifier_log, errors='replace') as f:
            f.seek(offset)
            log = f.read()
        for what in (error, log):
            self.assertIn("the kernel command line changed: added '%s'" %
                          TAMPERED_PARAMETER, what)
            self.assertIn('the Secure Boot settings changed (PCR 7)', what)
