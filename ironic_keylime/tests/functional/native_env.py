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

"""A real Ironic carrying the native attestation interface, on 127.0.0.1.

The Ironic and python-ironicclient of ``contrib/ironic-native`` are built
by ``tools/ironic-native/build.sh`` into their own virtualenv (with
ironic-keylime from this checkout); ``tools/functional.sh`` exports its
path as ``IRONIC_NATIVE_VENV``. These helpers run Ironic's own, unchanged
commands from there: ``ironic-dbsync upgrade`` on a database of the
released Ironic (so that the migration of the patch runs), the all-in-one
``ironic``, or ``ironic-api`` and
``ironic-conductor`` talking JSON-RPC, and the patched ``openstack`` and
``baremetal`` commands.
"""

import configparser
import hashlib
import os
import shutil
import signal
import subprocess
import time

import requests

from ironic_keylime.tests.functional import ironic_env

#: The API version that brings the attestation_interface field.
NATIVE_VERSION = '1.116'


def venv_bin():
    """The bin directory of the native virtualenv.

    :raises: IronicError when tools/functional.sh did not build it.
    """
    venv = os.environ.get('IRONIC_NATIVE_VENV')
    if not venv or not os.path.exists(os.path.join(venv, 'bin', 'ironic')):
        raise ironic_env.IronicError(
            'The native Ironic is not built (IRONIC_NATIVE_VENV=%s); run '
            'the functional tests with tools/functional.sh, which runs '
            'tools/ironic-native/build.sh.' % venv)
    return os.path.join(venv, 'bin')


def released_python(code, *args):
    """Run Python code with the released, unpatched Ironic 39.0.0.

    build.sh keeps the unpacked sdist in ``$IRONIC_NATIVE_SRC/unpatched``;
    put first on the path, its ``ironic`` package is the one imported (the
    dependencies are the native virtualenv's, the same).

    :returns: the CompletedProcess (text output).
    :raises: CalledProcessError with the output when it fails.
    """
    tree = os.path.join(os.environ.get('IRONIC_NATIVE_SRC', ''),
                        'unpatched', 'ironic')
    if not os.path.isdir(os.path.join(tree, 'ironic')):
        raise ironic_env.IronicError(
            'The released Ironic is not unpacked in %s; run '
            'tools/ironic-native/build.sh.' % tree)
    env = dict(os.environ, PYTHONPATH=tree)
    return subprocess.run(
        [os.path.join(venv_bin(), 'python'), '-c', code] + list(args),
        env=env, capture_output=True, text=True, check=True, timeout=120)


def create_released_schema(conf_file):
    """The database of the released Ironic: its ``create_schema``.

    SQLite cannot run Ironic's whole migration chain (an early migration
    alters constraints), so Ironic creates SQLite databases from its
    models; this is the released 39.0.0's, stamped with its last
    migration. The patched ``ironic-dbsync upgrade`` then runs the
    patch's migration on it.
    """
    released_python('import sys\n'
                    'from ironic.command import dbsync\n'
                    'sys.argv[0] = "ironic-dbsync"\n'
                    'dbsync.main()\n',
                    '--config-file', conf_file, 'create_schema')


def write_lists(workdir, keylime):
    """Copy the harness's lists into WORKDIR/lists (an allowed directory).

    :returns: (allowlist, checksum, excludelist, excludelist checksum)
        paths.
    """
    lists = os.path.join(workdir, 'lists')
    os.makedirs(lists, exist_ok=True)
    allowlist = os.path.join(lists, 'allowlist.txt')
    excludelist = os.path.join(lists, 'excludelist.txt')
    shutil.copy(keylime['KEYLIME_HARNESS_ALLOWLIST'], allowlist)
    shutil.copy(keylime['KEYLIME_HARNESS_EXCLUDELIST'], excludelist)
    checksums = []
    for path in (allowlist, excludelist):
        with open(path, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        with open(path + '.sha256', 'w') as f:
            f.write('%s  %s\n' % (digest, os.path.basename(path)))
        checksums.append(path + '.sha256')
    return allowlist, checksums[0], excludelist, checksums[1]


def write_config(path, config):
    """Write {section: {option: value}} as an ini file."""
    parser = configparser.ConfigParser(interpolation=None)
    for section, options in config.items():
        if section != 'DEFAULT':
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    with open(path, 'w') as f:
        parser.write(f)


def dbsync(bin_dir, conf_file, *args):
    """Run ``ironic-dbsync --config-file CONF ARGS`` of bin_dir.

    :returns: its output.
    :raises: CalledProcessError with the output when it fails.
    """
    return subprocess.run(
        [os.path.join(bin_dir, 'ironic-dbsync'), '--config-file', conf_file]
        + list(args), capture_output=True, text=True, check=True,
        timeout=120).stdout


class Service(object):
    """One Ironic service process, in its own session.

    :param argv: the command.
    :param output: file receiving its stdout and stderr.
    """

    def __init__(self, argv, output):
        self.argv = argv
        self.output = output
        self.process = None
        #: Stopped on purpose.
        self.stopped = False

    def start(self):
        with open(self.output, 'ab') as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM its process group, then SIGKILL what is left."""
        if self.process is None:
            return
        self.stopped = True
        pgid = self.process.pid  # its own session: group id == its PID
        if self.process.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class NativeIronicEnv(ironic_env.IronicEnv):
    """A running all-in-one ``ironic`` of the native virtualenv.

    Same configuration as :class:`ironic_env.IronicEnv`, but Ironic's own
    command (no registration layer is needed), a database made by
    ``ironic-dbsync upgrade``, and the patched clients.

    :param database: an existing sqlite file to use instead of a new one.
    """

    def __init__(self, workdir, keylime, overrides=None, database=None):
        super().__init__(workdir, keylime, overrides)
        self.bin_dir = venv_bin()
        self.database = database
        if database:
            self.config['database']['connection'] = 'sqlite:///' + database

    def start(self, timeout=90):
        self._write_config()
        if not self.database:
            create_released_schema(self.conf_file)
        dbsync(self.bin_dir, self.conf_file, 'upgrade')
        self.service = Service(
            [os.path.join(self.bin_dir, 'ironic'), '--config-file',
             self.conf_file],
            os.path.join(self.workdir, 'ironic-attest.out'))
        self.service.start()
        self.process = self.service.process
        try:
            self._wait_up(timeout)
        except Exception:
            self.stop()
            raise

    def command(self, command, *args, check=True):
        """Run a patched client command against this Ironic."""
        env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=self.url)
        for key in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_TOKEN',
                    'OS_BAREMETAL_API_VERSION'):
            env.pop(key, None)
        return subprocess.run(
            [os.path.join(self.bin_dir, command)] + list(args),
            env=env, capture_output=True, text=True, check=check,
            timeout=120)


class Cluster(object):
    """``ironic-api`` and conductors sharing one sqlite file, JSON-RPC.

    Each conductor registers as ``127.0.0.1:<its JSON-RPC port>`` (Ironic
    adds the port to ``[DEFAULT]host``): the API's JSON-RPC client reads
    the port from it.

    :param workdir: an empty directory.
    :param keylime: the Keylime harness's environment.
    :param conductors: {name: {section: {option: value}}}, each
        conductor's own options.
    """

    def __init__(self, workdir, keylime, conductors):
        self.workdir = workdir
        self.bin_dir = venv_bin()
        self.port = ironic_env.free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.database = os.path.join(workdir, 'ironic.sqlite')
        base = ironic_env.base_config(workdir, self.port, keylime)
        base['DEFAULT'].update({'rpc_transport': 'json-rpc'})
        base['json_rpc'] = {'auth_strategy': 'noauth',
                            'host_ip': '127.0.0.1'}
        base['database']['connection'] = 'sqlite:///' + self.database
        # The API rebuilds its hash ring soon after a conductor leaves.
        base['DEFAULT']['hash_ring_reset_interval'] = '1'
        self.configs = {}
        self.hosts = {}
        for name, overrides in [('api', {})] + sorted(conductors.items()):
            config = {s: dict(o) for s, o in base.items()}
            config['DEFAULT']['log_file'] = os.path.join(
                workdir, '%s.log' % name)
            if name != 'api':
                port = ironic_env.free_port()
                self.hosts[name] = '127.0.0.1:%d' % port
                config['DEFAULT']['host'] = '127.0.0.1'
                config['json_rpc']['port'] = str(port)
            else:
                # One worker: they would all bind the API's port.
                config['api']['api_workers'] = '1'
            for section, options in overrides.items():
                config.setdefault(section, {}).update(options)
            path = os.path.join(workdir, '%s.conf' % name)
            for sub in ('locks', 'lists', 'tmp'):
                os.makedirs(os.path.join(workdir, sub), exist_ok=True)
            write_config(path, config)
            self.configs[name] = path
        self.services = {
            name: Service([os.path.join(
                self.bin_dir,
                'ironic-api' if name == 'api' else 'ironic-conductor'),
                '--config-file', path],
                os.path.join(workdir, '%s.out' % name))
            for name, path in self.configs.items()}

    def start(self, timeout=90):
        """Create the database, start every service, wait for them.

        One conductor after the other: they write the shared sqlite file
        when they register.
        """
        create_released_schema(self.configs['api'])
        dbsync(self.bin_dir, self.configs['api'], 'upgrade')
        self.services['api'].start()
        try:
            started = []
            for name in sorted(self.hosts):
                self.services[name].start()
                started.append(self.hosts[name])
                self.wait_conductors(sorted(started), timeout)
        except Exception:
            self.stop()
            raise

    def conductors(self):
        """Host names of the conductors the API lists as alive."""
        resp = requests.get(
            self.url + '/v1/conductors', timeout=5,
            headers={'X-OpenStack-Ironic-API-Version': NATIVE_VERSION})
        resp.raise_for_status()
        return sorted(c['hostname'] for c in resp.json()['conductors']
                      if c['alive'])

    def wait_conductors(self, expected, timeout=90):
        """Wait until exactly these conductors are alive.

        :raises: IronicError with the logs' ends when they are not.
        """
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, service in self.services.items():
                if (service.process and not service.running()
                        and not service.stopped):
                    raise ironic_env.IronicError('%s exited:\n%s' % (
                        name, self.log_tail()))
            try:
                last = self.conductors()
                if last == expected:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise ironic_env.IronicError('conductors %s, not %s, after %s s:\n%s'
                                     % (last, expected, timeout,
                                        self.log_tail()))

    def restart(self, name, timeout=60):
        """Stop and start one service; for the API, wait until it answers.

        :raises: IronicError when the API does not come back in time.
        """
        service = self.services[name]
        service.stop()
        service.stopped = False
        service.start()
        deadline = time.monotonic() + timeout
        while name == 'api':
            try:
                self.conductors()
                return
            except (requests.RequestException, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise ironic_env.IronicError(
                        'the API did not come back:\n%s' % self.log_tail())
                time.sleep(0.3)

    def stop(self, name=None):
        """Stop one service, or all of them."""
        for service_name, service in self.services.items():
            if name in (None, service_name):
                service.stop()

    def log_tail(self, lines=40):
        text = []
        for name in sorted(os.listdir(self.workdir)):
            if name.endswith(('.log', '.out')):
                with open(os.path.join(self.workdir, name),
                          errors='replace') as f:
                    text.append('==> %s <==\n%s' % (
                        name, ''.join(f.readlines()[-lines:])))
        return '\n'.join(text)

    def command(self, command, *args, check=True):
        """Run a patched client command against the cluster's API."""
        env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=self.url)
        for key in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_TOKEN',
                    'OS_BAREMETAL_API_VERSION'):
            env.pop(key, None)
        return subprocess.run(
            [os.path.join(self.bin_dir, command)] + list(args),
            env=env, capture_output=True, text=True, check=check,
            timeout=120)
