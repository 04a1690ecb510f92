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

"""The plumbing of the tests that attest our ramdisk in a VM.

:class:`VMTestCase` runs one real Ironic (``ironic-attest``, fake power,
fast track) for a test class, boots our ramdisk in a VM
(:mod:`.vm_env`) as a node's, and runs the operator's steps on it. Test
classes choose the boot path (:data:`VMTestCase.boot_path`) and add
Ironic options (:data:`VMTestCase.extra_config`).
"""

import os
import random
import shutil
import sys
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
ENROLL_STEP = {'interface': 'attestation', 'step': 'enroll_boot_state'}


def figure(name, value):
    """Print a figure of the run (the VM tests print, never assert, time)."""
    print('VM FIGURE %s: %s' % (name, value), flush=True)


class VMTestCase(testtools.TestCase):
    """Our ramdisk in a VM with a TPM, attested through a real Ironic."""

    #: How the nodes boot (:mod:`.vm_env`).
    boot_path = vm_env.SEABIOS_KERNEL
    #: More Ironic options, {section: {option: value}}.
    extra_config = {}
    #: Whether the nodes have a disk and a tenant's image to deploy
    #: (:meth:`_serve_images`).
    deploys = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keylime = ironic_env.keylime_env()
        cls.image = vm_env.build_image()
        build = cls.image['build']
        figure('ramdisk build seconds (first build)',
               build['build_seconds'])
        figure('initramfs MiB', round(build['initramfs_bytes'] / 2 ** 20, 1))
        figure('allowlist entries', build['allowlist_entries'])
        cls.workdir = tempfile.mkdtemp(prefix='ik-vm-')
        config = {
            'DEFAULT': {'enabled_deploy_interfaces': 'fake,direct'},
            # Fast track: the running ramdisk serves cleaning and deploy;
            # no disk is erased (a VM has none, or the one a test deploys
            # a small image to).
            'deploy': {'fast_track': 'true', 'fast_track_timeout': '300',
                       'erase_devices_priority': '0',
                       'erase_devices_metadata_priority': '0'},
            # ironic-python-agent heartbeats every ~half of it: cleaning
            # in the ramdisk goes on at the next heartbeat.
            'api': {'ramdisk_heartbeat_timeout': '30'},
        }
        cls.http = None
        sections = [cls.extra_config]
        if cls.deploys:
            sections.append(cls._serve_images())
        for extra in sections:
            for section, options in extra.items():
                config.setdefault(section, {}).update(options)
        cls.ironic = ironic_env.IronicEnv(cls.workdir, cls.keylime, config)
        # The API as the guest reaches it: what the conductor tells the
        # ramdisk (ipa-api-url) when it prepares cleaning.
        cls.ironic.config.setdefault('service_catalog', {})[
            'endpoint_override'] = 'http://10.0.2.2:%d' % cls.ironic.port
        cls.ironic.start()
        cls.lists = cls._copy_lists()

    @classmethod
    def _serve_images(cls):
        """The tenant's image, and the conductor's HTTP server for it.

        Ironic caches a ``file://`` image in its ``[deploy]http_root`` and
        gives the ramdisk a URL under ``[deploy]http_url``, as with
        ``[agent]image_download_source = local``, served by
        :mod:`ironic_keylime.harness.image_server` on 127.0.0.1; the guest
        reaches it at 10.0.2.2, as its proxy (:attr:`image_proxy`, the
        nodes' ``driver_info/image_http_proxy``).

        :returns: the Ironic options for it.
        """
        images = os.path.join(cls.workdir, 'images')
        http_root = os.path.join(cls.workdir, 'httpboot')
        os.makedirs(images)
        os.makedirs(http_root)
        start = time.monotonic()
        cls.deploy_image = vm_env.build_deploy_image(
            os.path.join(images, 'tenant-uefi.img'))
        figure('tenant image build seconds', round(time.monotonic() - start))
        port = services.free_port()
        cls.http = services.start(
            [sys.executable, '-m', 'ironic_keylime.harness.image_server',
             str(port), http_root],
            os.path.join(cls.workdir, 'image-server.log'))
        cls.image_proxy = 'http://10.0.2.2:%d' % port
        cls.http_root = http_root
        services.wait_listening(cls.http, port, 'the image server')
        return {
            # The nodes that deploy are manual-management nodes (fake
            # power, no BMC: Ironic sets their boot device to disk after a
            # deploy through noop management, which fake-hardware's does
            # not allow) that boot the ramdisk with Ironic's iPXE boot
            # interface: Ironic renders their iPXE configuration itself.
            'DEFAULT': {
                'enabled_hardware_types': 'fake-hardware,manual-management',
                'enabled_boot_interfaces': 'fake,ipxe',
                'enabled_management_interfaces': 'fake,noop'},
            'conductor': {'file_url_allowed_paths': ','.join(
                (images, cls.image['dir']))},
            'deploy': {'http_root': http_root,
                       'http_url': 'http://127.0.0.1:%d' % port},
            'pxe': {'tftp_root': os.path.join(cls.workdir, 'tftpboot'),
                    'tftp_master_path': os.path.join(cls.workdir,
                                                     'tftp_master')},
            # Fake power never sees the ramdisk's in-band power off: do not
            # wait 30 s for it before powering off (fake) at the end of a
            # deploy. The test waits for the VM to stop.
            'agent': {'post_deploy_get_power_state_retries': '1',
                      'post_deploy_get_power_state_retry_interval': '1'},
        }

    @classmethod
    def tearDownClass(cls):
        cls.ironic.stop()
        services.stop(cls.http)
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
        interfaces = {'driver': 'fake-hardware'}
        if self.deploys:
            # See _serve_images: Ironic boots the ramdisk (iPXE) when the
            # node is not running it already (fast track).
            interfaces = {'driver': 'manual-management',
                          'boot_interface': 'ipxe',
                          'management_interface': 'noop',
                          'power_interface': 'fake'}
            info['deploy_kernel'] = 'file://' + self.image['kernel']
            info['deploy_ramdisk'] = 'file://' + self.image['initramfs']
        node = self.ironic.conn.baremetal.create_node(
            # Unique in the class's Ironic (test names share their ends).
            name='vm-%s' % uuid.uuid4().hex[:12],
            deploy_interface='direct', driver_info=info, **interfaces)
        self.ironic.conn.baremetal.create_port(
            node_id=node.id, address=self.mac)
        self.ironic.provision(node.id, 'manage', 'manageable')
        # fake power: the VM is "on" while the test runs it.
        self.ironic.conn.baremetal.set_node_power_state(node.id, 'power on')
        del k
        return node

    def _boot(self, node, tamper=None, smbios_serial=None,
              linux_cmd='linuxefi', extra_params='', boot_entry=None,
              by_ironic=False, append=None, initrd=None):
        """Power the node's VM on (off first if it runs).

        On :data:`vm_env.OVMF_GRUB`, GRUB boots the grub.cfg Ironic's
        template renders for this boot, with a new request id (as every
        Nova-driven request has), ``linux_cmd`` and ``extra_params``; on
        :data:`vm_env.OVMF_KERNEL`, the kernel's EFI stub gets the
        parameters of Ironic's iPXE script, with a new request id and
        ``extra_params``;
        ``boot_entry`` (a file path) is added to the node's UEFI variables
        while it is off, as a deploy adds one. With ``by_ironic``, Ironic
        has powered the node on itself (fake power; the VM stands for
        it), as it does for the cleaning after an undeploy. ``append``
        gives the ``-kernel`` paths' parameters (those of the iPXE script
        Ironic wrote for this boot) instead of rendering them here;
        ``initrd`` another initramfs (:func:`vm_env.padded_initramfs`).

        :returns: seconds from power on to the first heartbeat.
        """
        baremetal = self.ironic.conn.baremetal
        previous = (baremetal.get_node(node.id).driver_internal_info
                    or {}).get('agent_last_heartbeat')
        if self.vm is not None:
            # A reboot as Ironic sees one: powering off wipes the agent's
            # token and URL (the new boot's ramdisk looks up again; with
            # the old token kept, it would lock itself down).
            if not by_ironic:
                baremetal.set_node_power_state(node.id, 'power off',
                                               wait=True)
            self.vm.stop()
            if boot_entry:
                vm_env.add_boot_entry(os.path.join(self.vm.rundir,
                                                   'vars.fd'), boot_entry)
            if not by_ironic:
                baremetal.set_node_power_state(node.id, 'power on',
                                               wait=True)
        rundir = os.path.join(self.workdir, 'vm-' + node.id)
        disk = None
        if self.deploys:
            os.makedirs(rundir, exist_ok=True)
            disk = os.path.join(rundir, 'disk.img')
            if not os.path.exists(disk):
                # Sparse. ironic-python-agent deploys to the smallest disk
                # of at least 4 GiB.
                with open(disk, 'wb') as f:
                    f.truncate(4 * 2 ** 30)
        grub_cfg = None
        if self.boot_path == vm_env.OVMF_GRUB:
            os.makedirs(rundir, exist_ok=True)
            self.request_id = 'req-%s' % uuid.uuid4()
            grub_cfg = vm_env.render_grub_cfg(
                os.path.join(rundir, 'ironic-grub.cfg'), linux_cmd,
                request_id=self.request_id, extra=extra_params)
        elif self.boot_path == vm_env.OVMF_KERNEL and append is None:
            self.request_id = 'req-%s' % uuid.uuid4()
            append = vm_env.render_ipxe_kernel_params(
                request_id=self.request_id, mac=self.mac,
                extra=extra_params)
        self.vm = vm_env.VM(rundir, self.image, self.ironic.port,
                            self.keylime['KEYLIME_HARNESS_DIR'],
                            self.ipa_port, self.agent_port, self.mac,
                            tamper=tamper, smbios_serial=smbios_serial,
                            boot_path=self.boot_path, grub_cfg=grub_cfg,
                            append=append, disk=disk, initrd=initrd)
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
        self.assertIn('keylime_tpm_policy', node.driver_info)
        figure('enroll_boot_state seconds', round(time.monotonic() - start))
        return node
