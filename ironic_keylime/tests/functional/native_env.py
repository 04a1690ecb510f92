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

import os
import subprocess
import time

import requests

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import services

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


def patched_command(bin_dir, url, command, args, check):
    """Run a patched client command of the native virtualenv.

    :param url: the Ironic API it talks to (noauth).
    :returns: the CompletedProcess (text output).
    :raises: CalledProcessError when check and it failed.
    """
    env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=url)
    for key in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_TOKEN',
                'OS_BAREMETAL_API_VERSION'):
        env.pop(key, None)
    return subprocess.run([os.path.join(bin_dir, command)] + list(args),
                          env=env, capture_output=True, text=True,
                          check=check, timeout=120)


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
        services.dbsync(self.bin_dir, self.conf_file, 'upgrade')
        self.service = services.Service(
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
        return patched_command(self.bin_dir, self.url, command, args, check)


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
        self.port = services.free_port()
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
                port = services.free_port()
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
            services.write_config(path, config)
            self.configs[name] = path
        self.services = {
            name: services.Service([os.path.join(
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
        services.dbsync(self.bin_dir, self.configs['api'], 'upgrade')
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
        return services.tail(
            [os.path.join(self.workdir, name)
             for name in sorted(os.listdir(self.workdir))
             if name.endswith(('.log', '.out'))], lines)

    def command(self, command, *args, check=True):
        """Run a patched client command against the cluster's API."""
        return patched_command(self.bin_dir, self.url, command, args, check)
