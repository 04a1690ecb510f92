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

"""A ramdisk on loopback for the functional tests.

``python -m ironic_keylime.tests.functional.ipa_env ipa ...`` runs
ironic-python-agent's real API application (``IronicPythonAgent`` and its
``Application``, with every extension installed through the entry point
``ironic_python_agent.extensions``, ours included) on 127.0.0.1 with an
agent token. Only the API is started: the hardware managers of a real
ramdisk need a real machine.

Given ``--api-url`` and ``--node-uuid``, it also does what a booted
ramdisk does next, with IPA's own code: it looks the node up in the Ironic
API (``APIClient.lookup_node``, which hands out the agent token), takes
the lookup data (``process_lookup_data``) and starts IPA's heartbeater,
which gives Ironic the agent's URL. Its hardware manager is then a
stand-in without clean steps (:class:`LoopbackHardwareManager`): IPA's
generic manager would probe and erase the disks of the machine running
the tests.

There is no init system here, so the Keylime agent service that the
extension restarts is a stand-in: ``standin`` is a process that reads the
agent's configuration with the same rules as the Rust agent (main file,
then drop-ins in order) and listens on its ``ip``/``port``;
``restart-standin`` and ``status-standin`` play ``systemctl restart`` and
``systemctl is-active``. ``boot`` starts a booted ramdisk for a node and
leaves it running (tools/demo.sh).

:class:`Ramdisk` starts and stops all of it from a test.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

from ironic_keylime.harness import services
from ironic_keylime.tests import image_tree

PY = sys.executable
MODULE = 'ironic_keylime.tests.functional.ipa_env'
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                   '..'))
#: The ironic-keylime-agent element's list generator (kept with the unit tests'
#: helpers, which use it too).
LISTS_SCRIPT = image_tree.LISTS_SCRIPT
make_tree = image_tree.make_tree


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); read its state.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ', 1)[1][0] != 'Z'
    except OSError:
        return False


def _stop_pid(pid, timeout=10):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_pid(state_dir):
    try:
        with open(os.path.join(state_dir, 'standin.pid')) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


# -- the stand-in Keylime agent ---------------------------------------------

def cmd_standin(args):
    from ironic_keylime.ipa import agent_config

    values = agent_config.effective_config(args.config_file, args.config_dir)
    ip = values.get('ip', '127.0.0.1')
    port = int(values['port'])
    sock = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(5)
    state = {'pid': os.getpid(), 'uuid': values.get('uuid'),
             'registrar_ip': values.get('registrar_ip'),
             'registrar_port': values.get('registrar_port'),
             'ip': ip, 'port': port}
    path = os.path.join(args.state_dir, 'standin.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(state, f)
    os.rename(path + '.tmp', path)
    with open(os.path.join(args.state_dir, 'starts'), 'a') as f:
        f.write('%d\n' % os.getpid())
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        conn, _addr = sock.accept()
        conn.close()


def cmd_restart_standin(args):
    old = _read_pid(args.state_dir)
    if old:
        _stop_pid(old)
    if args.fail:
        print('stand-in: refusing to start (--fail)', file=sys.stderr)
        return 3
    log = open(os.path.join(args.state_dir, 'standin.log'), 'ab')
    proc = subprocess.Popen(
        [PY, '-m', MODULE, 'standin', '--state-dir', args.state_dir,
         '--config-file', args.config_file, '--config-dir',
         args.config_dir],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True)
    with open(os.path.join(args.state_dir, 'standin.pid'), 'w') as f:
        f.write('%d\n' % proc.pid)
    return 0


def cmd_status_standin(args):
    pid = _read_pid(args.state_dir)
    return 0 if pid and _pid_alive(pid) else 3


# -- ironic-python-agent's API ------------------------------------------------

def _loopback_hardware(tls_dir):
    """IPA's hardware managers, replaced by one without clean steps.

    :param tls_dir: a private directory for the agent's TLS certificate.
    """
    from ironic_python_agent import hardware
    from ironic_python_agent import tls_utils

    class LoopbackHardwareManager(hardware.HardwareManager):
        """No hardware: no disks to wait for, no clean steps to offer.

        A stand-in, because IPA's GenericHardwareManager runs mdadm,
        modprobe and offers erase_devices on the machine it runs on,
        which here is the machine running the tests.
        """

        HARDWARE_MANAGER_NAME = 'loopback'
        HARDWARE_MANAGER_VERSION = '1.0'

        def evaluate_hardware_support(self):
            return hardware.HardwareSupport.SERVICE_PROVIDER

        def wait_for_disks(self):
            return None

        def get_clean_steps(self, node, ports):
            return []

        def get_deploy_steps(self, node, ports):
            return []

        def generate_tls_certificate(self, ip_address):
            # IPA's own generator, in a private directory rather than
            # the /run/ironic-python-agent of the machine.
            cert = os.path.join(tls_dir, 'agent.crt')
            key = os.path.join(tls_dir, 'agent.key')
            text = tls_utils._generate_tls_certificate(
                cert, key, 'ironic-keylime-ramdisk', ip_address)
            return tls_utils.TlsCertificate(text, cert, key)

    manager = LoopbackHardwareManager()
    hardware._global_managers = [{
        'name': manager.__class__.__name__, 'manager': manager,
        'support': manager.evaluate_hardware_support()}]


def _lookup_and_heartbeat(ipa, node_uuid):
    """What IronicPythonAgent.run() does after booting, with its code."""
    from ironic_python_agent import hardware

    content = ipa.api_client.lookup_node(
        hardware_info={'interfaces': []}, timeout=120,
        starting_interval=1, max_interval=2, node_uuid=node_uuid)
    ipa.process_lookup_data(content)
    hardware.save_api_client(ipa.api_client, ipa.lookup_timeout,
                             ipa.lookup_interval)
    ipa.heartbeater.start()
    print('looked up node %s; heartbeating to %s' %
          (node_uuid, ', '.join(ipa.api_urls)), flush=True)


def cmd_ipa(args):
    from ironic_python_agent import agent
    from oslo_config import cfg
    from oslo_log import log
    from stevedore import extension

    conf = cfg.CONF
    log.register_options(conf)
    conf(args=['--config-file', args.config_file], project='ironic-keylime',
         default_config_files=[], default_config_dirs=[])
    log.setup(conf, 'ironic-python-agent')
    booted = bool(args.api_url)
    if booted:
        _loopback_hardware(os.path.dirname(os.path.abspath(
            args.config_file)))
    ipa = agent.IronicPythonAgent(
        api_url=args.api_url,
        advertise_address=agent.Host(hostname='127.0.0.1', port=args.port),
        listen_address=agent.Host(hostname='127.0.0.1', port=args.port),
        ip_lookup_attempts=1, ip_lookup_sleep=0, network_interface=None,
        lookup_timeout=120, lookup_interval=1, standalone=not booted,
        # A booted ramdisk gets its token from the lookup.
        agent_token=None if booted else args.token)
    if args.without_keylime:
        # An older ramdisk: every extension but ours.
        ipa.ext_mgr = extension.ExtensionManager.make_test_instance(
            [e for e in ipa.ext_mgr.extensions if e.name != 'keylime'])
    ipa.started_at = agent._time()
    # A booted ramdisk serves its API with TLS, its certificate generated
    # and sent to Ironic with the heartbeats (IPA's automatic TLS, which
    # Ironic requires: [agent]require_tls).
    cert_file, key_file = ipa._start_auto_tls() if booted else (None, None)
    ipa.api.start(cert_file, key_file)
    # cheroot's worker threads would hold a normal exit.
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print('ironic-python-agent API on 127.0.0.1:%d, extensions: %s' %
          (args.port, ', '.join(sorted(ipa.ext_mgr.names()))), flush=True)
    if booted:
        _lookup_and_heartbeat(ipa, args.node_uuid)
    while True:
        time.sleep(3600)


def cmd_boot(args):
    """Boot a ramdisk for a node of an Ironic (for tools/demo.sh)."""
    rd = Ramdisk(args.workdir, None, api_url=args.api_url,
                 node_uuid=args.node_uuid,
                 options={'tpm_tcti': args.tcti})
    rd.start()
    with open(os.path.join(args.workdir, 'ipa.pid'), 'w') as f:
        f.write('%d\n' % rd.proc.pid)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog=MODULE)
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('ipa')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--token', help='the agent token (without --api-url)')
    p.add_argument('--config-file', required=True)
    p.add_argument('--without-keylime', action='store_true')
    p.add_argument('--api-url', help='look up and heartbeat to this Ironic')
    p.add_argument('--node-uuid', help='the node to look up')
    for name in ('standin', 'restart-standin', 'status-standin'):
        p = sub.add_parser(name)
        p.add_argument('--state-dir', required=True)
        p.add_argument('--config-file', default='')
        p.add_argument('--config-dir', default='')
        p.add_argument('--fail', action='store_true')
    p = sub.add_parser('boot', help='start a ramdisk that looks the node '
                       'up and heartbeats, write its PID to WORKDIR/ipa.pid')
    p.add_argument('--workdir', required=True)
    p.add_argument('--api-url', required=True)
    p.add_argument('--node-uuid', required=True)
    p.add_argument('--tcti', required=True)
    args = parser.parse_args(argv)
    return {'ipa': cmd_ipa, 'boot': cmd_boot, 'standin': cmd_standin,
            'restart-standin': cmd_restart_standin,
            'status-standin': cmd_status_standin}[args.cmd](args) or 0


class Ramdisk(object):
    """A real ironic-python-agent API, with the stand-in agent service.

    :param workdir: a private directory for the configuration, the agent's
        files and the logs.
    :param token: the agent token IPA checks.
    :param with_keylime: False to run without the keylime extension (an
        older ramdisk).
    :param agent_port: the port the stand-in Keylime agent listens on.
    :param uuid_mode: ``[keylime_agent]uuid_mode`` of the extension.
    :param fail_restart: make the stand-in service fail to start.
    :param options: more ``[keylime_agent]`` options of the extension,
        e.g. ``{'tpm_tcti': 'swtpm:host=127.0.0.1,port=2321'}``;
        ``ima_log_path`` defaults to the harness agent's IMA log.
    :param api_url: boot as a ramdisk of this Ironic API: look the node
        up (which gives the token), then heartbeat; ``token`` is None then.
    :param node_uuid: the node to look up, with ``api_url``.
    """

    def __init__(self, workdir, token, with_keylime=True, agent_port=None,
                 uuid_mode='node', fail_restart=False, options=None,
                 api_url=None, node_uuid=None):
        self.workdir = workdir
        self.token = token
        self.api_url = api_url
        self.node_uuid = node_uuid
        self.with_keylime = with_keylime
        self.port = services.free_port()
        self.agent_port = agent_port or services.free_port()
        self.uuid_mode = uuid_mode
        self.fail_restart = fail_restart
        self.options = dict(options or {})
        # The node's IMA log is the harness agent's (its first line, the
        # boot_aggregate, is what read_boot_state returns), never the
        # test host's own.
        self.options.setdefault(
            'ima_log_path', os.environ.get('KEYLIME_HARNESS_IMA_LOG')
            or os.path.join(workdir, 'no-ima-log'))
        self.url = 'http://127.0.0.1:%d' % self.port
        self.state_dir = os.path.join(workdir, 'state')
        self.etc = os.path.join(workdir, 'etc-keylime')
        self.config_file = os.path.join(self.etc, 'agent.conf')
        self.config_dir = os.path.join(self.etc, 'agent.conf.d')
        self.proc = None

    def _standin_argv(self, name):
        return [PY, '-m', MODULE, name, '--state-dir', self.state_dir,
                '--config-file', self.config_file,
                '--config-dir', self.config_dir]

    def write_config(self, image_values):
        """The agent's files as ironic-keylime-agent leaves them."""
        from ironic_keylime.ipa import agent_config

        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.config_dir, exist_ok=True)
        # The distribution's agent.conf binds 127.0.0.1; the element's
        # drop-in opens it and sets the build-time registrar.
        agent_config.write_dropin(self.config_file,
                                  {'ip': '127.0.0.1', 'port': 9002,
                                   'uuid': 'generate'})
        agent_config.write_dropin(
            os.path.join(self.config_dir, agent_config.IMAGE_DROPIN),
            image_values)
        ipa_conf = os.path.join(self.workdir, 'ipa.conf')
        with open(ipa_conf, 'w') as f:
            f.write('[keylime_agent]\n')
            f.write('config_file = %s\n' % self.config_file)
            f.write('config_dir = %s\n' % self.config_dir)
            f.write('uuid_mode = %s\n' % self.uuid_mode)
            restart = self._standin_argv('restart-standin')
            if self.fail_restart:
                restart.append('--fail')
            f.write('restart_command = %s\n' % ','.join(restart))
            f.write('status_command = %s\n' %
                    ','.join(self._standin_argv('status-standin')))
            f.write('start_timeout = 20\n')
            for name, value in sorted(self.options.items()):
                f.write('%s = %s\n' % (name, value))
        return ipa_conf

    def start(self, image_values=None):
        values = {'ip': '127.0.0.1', 'port': self.agent_port,
                  'registrar_ip': '192.0.2.1', 'registrar_port': 8890}
        values.update(image_values or {})
        ipa_conf = self.write_config(values)
        argv = [PY, '-m', MODULE, 'ipa', '--port', str(self.port),
                '--config-file', ipa_conf]
        if self.api_url:
            argv += ['--api-url', self.api_url, '--node-uuid',
                     self.node_uuid]
        else:
            argv += ['--token', self.token]
        if not self.with_keylime:
            argv.append('--without-keylime')
        self.log = open(os.path.join(self.workdir, 'ipa.log'), 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('ironic-python-agent exited with %s; '
                                   'log:\n%s' % (self.proc.returncode,
                                                 self.read_log()))
            if self.api_url:
                # It serves TLS: a bare TCP probe would only put an SSL
                # error in its log; it says when it listens.
                if 'ironic-python-agent API on' in self.read_log():
                    return
                time.sleep(0.1)
                continue
            try:
                with socket.create_connection(('127.0.0.1', self.port),
                                              timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError('ironic-python-agent did not listen within 60 s; '
                           'log:\n%s' % self.read_log())

    def read_log(self):
        with open(os.path.join(self.workdir, 'ipa.log'),
                  errors='replace') as f:
            return f.read()

    def standin_state(self):
        path = os.path.join(self.state_dir, 'standin.json')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def standin_starts(self):
        try:
            with open(os.path.join(self.state_dir, 'starts')) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stop(self):
        if self.proc is not None:
            _stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None
            self.log.close()
        pid = _read_pid(self.state_dir)
        if pid:
            _stop_pid(pid)


if __name__ == '__main__':
    sys.exit(main())
