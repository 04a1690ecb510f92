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

"""A virtual machine running our deploy ramdisk, for functional tests.

:func:`build_image` builds (or reuses, keyed by the elements' content) the
ramdisk of ``tools/vm/build-ramdisk.sh``: ironic-python-agent-builder,
Debian 12, the ``ironic-keylime-agent`` element (with its test-only
Keylime 6.6.0 Python agent) and the test-only ``ironic-keylime-vm-test``
element.

:class:`VM` boots it with ``tools/vm/boot.sh`` in qemu (TCG) with its own
swtpm, as an Ironic node's ramdisk: ironic-python-agent looks the node up
and heartbeats to the Ironic of the test at 10.0.2.2, and the harness's
verifier reaches the Keylime agent through a port forwarded on 127.0.0.1.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                   '..'))
BUILD = os.path.join(TOP, 'tools', 'vm', 'build-ramdisk.sh')
BOOT = os.path.join(TOP, 'tools', 'vm', 'boot.sh')
DEPLOY_IMAGE = os.path.join(TOP, 'tools', 'vm', 'deploy-image.sh')
NAME = 'ipa-keylime'
#: How a node boots (tools/vm/boot.sh): the firmware, and how the kernel
#: is started.
SEABIOS_KERNEL = 'seabios-kernel'
OVMF_KERNEL = 'ovmf-kernel'
OVMF_GRUB = 'ovmf-grub'
#: Where boot.sh puts the ESP's kernel and initramfs, and its own kernel
#: parameters, in the grub.cfg of ovmf-grub.
ESP_KERNEL = '/vmlinuz'
ESP_INITRAMFS = '/initramfs'
APPEND = '@APPEND@'
#: The owner (any GUID) of what the tests add to a node's Secure Boot db.
DB_OWNER = 'a0baa8a3-041d-48a8-bc87-c36d121b5e3d'


def registrar_agent_port():
    """The harness registrar's agent (HTTP) port, from its keylime.env."""
    return int(os.environ.get('KEYLIME_HARNESS_REGISTRAR_HTTP_PORT', 8890))


def _virt_fw_vars(*args):
    """Run virt-firmware's ``virt-fw-vars``; its output.

    :raises: VMError with the tool's output.
    """
    tool = os.path.join(os.path.dirname(sys.executable), 'virt-fw-vars')
    proc = subprocess.run([tool] + list(args), capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise VMError('virt-fw-vars failed (%s):\n%s' % (
            proc.returncode, (proc.stdout + proc.stderr)[-4000:]))
    return proc.stdout


def boot_entries(vars_path):
    """The boot entries of a stopped node's UEFI variables.

    :returns: a list of (``Boot####`` name, description), in BootOrder's
        order (entries BootOrder does not name are left out).
    :raises: VMError with the tool's output.
    """
    entries = {}
    order = []
    for line in _virt_fw_vars('--input', vars_path, '--print').splitlines():
        name, _sep, value = line.partition(':')
        name, value = name.strip(), value.strip()
        if re.fullmatch(r'Boot[0-9A-Fa-f]{4}', name):
            entries[name[4:].upper()] = value
        elif name == 'BootOrder':
            order = value.replace('boot order:', '').replace(',', ' ').split()
    return [('Boot' + n.upper(), entries.get(n.upper(), '')) for n in order]


def build_deploy_image(path):
    """Write a tenant's whole-disk UEFI image (``deploy-image.sh``).

    :raises: VMError with the end of the script's output.
    """
    proc = subprocess.run([DEPLOY_IMAGE, path], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise VMError('tools/vm/deploy-image.sh failed (%s):\n%s' % (
            proc.returncode, proc.stderr[-4000:]))
    return path


def padded_initramfs(image, path):
    """Write the image's initramfs with 512 zero bytes appended.

    The kernel skips zero padding between and after initramfs archives, so
    the ramdisk boots and runs the same files (IMA measures the same),
    while the boot loader or the kernel's EFI stub measures another
    initrd: a changed initrd, nothing else.

    :param image: what :func:`build_image` returned.
    :returns: ``path``.
    """
    shutil.copyfile(image['initramfs'], path)
    with open(path, 'ab') as f:
        f.write(b'\0' * 512)
    return path


def add_secure_boot_db_hash(vars_path, sha256):
    """Add a hash to a stopped node's Secure Boot ``db`` (a setting).

    The node stays in setup mode (no platform key): Secure Boot is not
    enforced and the same ramdisk boots. The firmware measures ``db`` into
    PCR 7: a changed firmware setting.

    :raises: VMError with the tool's output.
    """
    new = vars_path + '.new'
    _virt_fw_vars('--input', vars_path, '--output', new, '--add-db-hash',
                  DB_OWNER, sha256)
    os.replace(new, vars_path)


def add_boot_entry(vars_path, filepath):
    """Add a UEFI boot entry to a stopped node's variables, as a deploy.

    ironic-python-agent's boot loader installation writes a ``Boot####``
    variable and a new ``BootOrder`` (``efibootmgr``); the VM's variables
    (OVMF's ``vars.fd``) get the same with virt-firmware's
    ``virt-fw-vars --append-boot-filepath``. The entry is appended: the
    node keeps booting its ramdisk first, as Ironic's boot device
    override makes a cleaning boot do.

    :raises: VMError with the tool's output.
    """
    new = vars_path + '.new'
    _virt_fw_vars('--input', vars_path, '--output', new,
                  '--append-boot-filepath', filepath)
    os.replace(new, vars_path)


def render_grub_cfg(path, linux_cmd, request_id=None, extra=''):
    """Write the grub.cfg Ironic's UEFI boot gives a node's ramdisk.

    Rendered by Ironic's own code from its own template
    (``ironic/drivers/modules/pxe_grub_config.template``, with
    ``ironic.common.utils.render_template``) as its PXE boot interface
    does, with the per-boot parameter its ``build_extra_pxe_options``
    adds (`` ipa-global-request-id=<the request's global id>``). The
    kernel and initramfs are the ESP's (Ironic's would be on its TFTP or
    HTTP server: qemu's TFTP server would carry the 330 MB initramfs too
    slowly under TCG).

    :param linux_cmd: ``linuxefi`` or ``linux`` (Ironic's
        ``[pxe]uefi_pxe_config_template`` variants render either).
    :param request_id: the request's global id, or None.
    :param extra: more kernel parameters (a tamper).
    """
    from ironic.common import utils as ironic_utils
    import ironic.drivers.modules
    template = os.path.join(os.path.dirname(ironic.drivers.modules.__file__),
                            'pxe_grub_config.template')
    append = APPEND
    if extra:
        append += ' ' + extra
    if request_id:
        append += ' ipa-global-request-id=%s' % request_id
    options = {
        'linux_cmd': linux_cmd,
        'initrd_cmd': 'initrdefi' if linux_cmd == 'linuxefi' else 'initrd',
        'deployment_aki_path': ESP_KERNEL,
        'deployment_ari_path': ESP_INITRAMFS,
        'pxe_append_params': append,
        'tftp_server': '10.0.2.2',
    }
    text = ironic_utils.render_template(
        template, {'pxe_options': options, 'ROOT': '{{ ROOT }}',
                   'DISK_IDENTIFIER': '{{ DISK_IDENTIFIER }}'})
    with open(path, 'w') as f:
        f.write(text)
    return path


def render_ipxe_kernel_params(request_id=None, mac=None, extra=''):
    """The kernel parameters of Ironic's iPXE script for a ramdisk boot.

    Rendered by Ironic's own code from its own template
    (``ironic/drivers/modules/ipxe_config.template``) as its iPXE boot
    interface does: the parameters of the deploy entry's ``kernel``
    command, with the per-boot parameter ``build_extra_pxe_options`` adds
    and ``${mac}`` expanded as iPXE expands it. iPXE hands them to the
    kernel's EFI stub as its ``LoadOptions``; here OVMF's ``-kernel``
    loader does (boot path :data:`OVMF_KERNEL`). The ``initrd=`` of the
    template is left out: iPXE and OVMF hand the initramfs to the stub
    themselves (OVMF adds its own ``initrd=initrd``).

    :param request_id: the request's global id, or None.
    :param mac: the MAC iPXE booted from.
    :param extra: more kernel parameters (a tamper).
    """
    from ironic.common import utils as ironic_utils
    import ironic.drivers.modules
    template = os.path.join(os.path.dirname(ironic.drivers.modules.__file__),
                            'ipxe_config.template')
    append = extra
    if request_id:
        append += ' ipa-global-request-id=%s' % request_id
    options = {'deployment_aki_path': ESP_KERNEL,
               'deployment_ari_path': ESP_INITRAMFS,
               'pxe_append_params': append.strip(), 'ipxe_timeout': 0}
    text = ironic_utils.render_template(
        template, {'pxe_options': options, 'ROOT': '{{ ROOT }}',
                   'DISK_IDENTIFIER': '{{ DISK_IDENTIFIER }}'})
    return ipxe_kernel_params(text, mac=mac, kernel=ESP_KERNEL)


def ipxe_kernel_params(text, mac=None, kernel=None):
    """The kernel parameters of the deploy entry of an iPXE script.

    :param text: the script (Ironic's ``ipxe_config.template`` rendered).
    :param mac: the MAC iPXE booted from, for ``${mac}``.
    :param kernel: the kernel the entry must load, or None for any.
    :raises: VMError when the script has no such deploy entry.
    """
    lines = text.splitlines()
    if ':deploy' not in lines:
        raise VMError('no deploy entry in the iPXE script:\n%s' % text)
    entry = lines[lines.index(':deploy') + 1:]
    command = next((line for line in entry if line.startswith('kernel ')),
                   '').split(' || ')[0].split()
    if command[1:2] == ['--timeout']:
        del command[1:3]
    if (len(command) < 2 or command[0] != 'kernel'
            or kernel not in (None, command[1])):
        raise VMError('unexpected deploy entry in the iPXE script: %s'
                      % ' '.join(command))
    params = [p for p in command[2:] if not p.startswith('initrd=')]
    return ' '.join(params).replace('${mac}', mac or '')


class VMError(Exception):
    """The ramdisk could not be built or booted."""


def build_image(timeout=3600):
    """Build the ramdisk, or find it already built.

    :returns: a dict: ``dir`` (kernel, initramfs, lists), the paths
        ``kernel``, ``initramfs``, ``lists`` (the element's list
        directory), and ``build`` (build.json: build time, sizes).
    :raises: VMError with the end of the build's output.
    """
    proc = subprocess.run([BUILD], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise VMError('tools/vm/build-ramdisk.sh failed (%s):\n%s' % (
            proc.returncode, proc.stderr[-4000:]))
    image_dir = proc.stdout.strip().splitlines()[-1]
    with open(os.path.join(image_dir, 'build.json')) as f:
        build = json.load(f)
    return {'dir': image_dir, 'build': build,
            'kernel': os.path.join(image_dir, NAME + '.kernel'),
            'initramfs': os.path.join(image_dir, NAME + '.initramfs'),
            'lists': os.path.join(image_dir, NAME + '.keylime')}


class VM(object):
    """One boot of the ramdisk: qemu and its swtpm.

    :param rundir: the node's directory; ``tpm/`` in it is the node's TPM,
        kept between boots.
    :param image: what :func:`build_image` returned.
    :param ironic_port: the port of the test's Ironic API on 127.0.0.1.
    :param harness_dir: the Keylime harness's run directory (its
        verifier's CA and its swtpm CA, which the tenant trusts).
    :param ipa_port: host port forwarded to ironic-python-agent.
    :param agent_port: host port forwarded to the Keylime agent.
    :param mac: the NIC's MAC, the node's port in Ironic.
    :param tamper: an executable the guest runs at boot, or None.
    :param smbios_serial: the SMBIOS serial number (a firmware setting
        SeaBIOS and OVMF measure into PCR 1), or None for qemu's default.
    :param boot_path: :data:`SEABIOS_KERNEL`, :data:`OVMF_KERNEL` or
        :data:`OVMF_GRUB`.
    :param grub_cfg: with :data:`OVMF_GRUB`, the grub.cfg to boot
        (:func:`render_grub_cfg`).
    :param append: with the ``-kernel`` paths, more kernel parameters
        (:func:`render_ipxe_kernel_params`).
    :param disk: a raw disk image, the node's disk, or None for none.
    :param initrd: another initramfs than the image's
        (:func:`padded_initramfs`), or None.
    """

    def __init__(self, rundir, image, ironic_port, harness_dir, ipa_port,
                 agent_port, mac, tamper=None, smbios_serial=None,
                 boot_path=SEABIOS_KERNEL, grub_cfg=None, append=None,
                 disk=None, initrd=None):
        self.rundir = rundir
        self.image = image
        self.env = dict(
            os.environ,
            IK_VM_IRONIC_URL='http://10.0.2.2:%d' % ironic_port,
            IK_VM_IPA_PORT=str(ipa_port), IK_VM_AGENT_PORT=str(agent_port),
            IK_VM_MAC=mac,
            IK_VM_REGISTRAR_PORT=str(registrar_agent_port()),
            IK_VM_BOOT_PATH=boot_path,
            IK_VM_CACERT=os.path.join(harness_dir, 'kl', 'cv_ca',
                                      'cacert.crt'),
            IK_VM_SWTPM_CONF=os.path.join(harness_dir, 'swtpm-ca',
                                          'swtpm_setup.conf'))
        for key, value in (('IK_VM_TAMPER', tamper),
                           ('IK_VM_SMBIOS_SERIAL', smbios_serial),
                           ('IK_VM_GRUB_CFG', grub_cfg),
                           ('IK_VM_APPEND', append),
                           ('IK_VM_DISK', disk),
                           ('IK_VM_INITRD', initrd)):
            if value:
                self.env[key] = value
            else:
                self.env.pop(key, None)
        self.started = None

    def start(self):
        """Power on: boot the ramdisk (returns once qemu runs)."""
        os.makedirs(self.rundir, exist_ok=True)
        proc = subprocess.run([BOOT, 'start', self.rundir, self.image['dir']],
                              env=self.env, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise VMError('tools/vm/boot.sh start failed:\n%s' %
                          proc.stderr[-4000:])
        self.started = time.monotonic()

    def running(self):
        """Whether qemu still runs (a guest that powers off ends it)."""
        try:
            with open(os.path.join(self.rundir, 'qemu.pid')) as f:
                os.kill(int(f.read()), 0)
        except (OSError, ValueError):
            return False
        return True

    def stop(self):
        """Power off: stop qemu and its swtpm (by their PIDs)."""
        subprocess.run([BOOT, 'stop', self.rundir], env=self.env,
                       capture_output=True, timeout=60, check=False)

    def console(self, lines=200):
        """The end of the serial console."""
        path = os.path.join(self.rundir, 'serial.log')
        if not os.path.exists(path):
            return ''
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
