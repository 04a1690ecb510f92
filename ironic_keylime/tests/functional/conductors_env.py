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

"""Two ironic-attest-conductor and one ironic-attest-api on PostgreSQL.

:class:`ConductorsCluster` is Ironic scaled out: the stock services of
ironic-keylime (``ironic-attest-conductor`` twice, ``ironic-attest-api``)
sharing one real PostgreSQL database
(:mod:`ironic_keylime.harness.postgres`, schema by ``ironic-dbsync
upgrade``), JSON-RPC between them on loopback (no message
bus), each conductor with its own ``[DEFAULT]host`` and JSON-RPC
address (its own loopback address, :data:`ADDRESSES`, on Ironic's
default JSON-RPC port), configuration file, temporary and lock
directories. Heartbeats and the hash ring are fast, so that a
killed conductor's nodes are taken over within seconds.
"""

import copy
import os
import signal
import time

import requests

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import postgres as postgres_env
from ironic_keylime.harness import services

CONDUCTORS = ('a', 'b')
#: Each conductor's [DEFAULT]host and JSON-RPC address. Not one address
#: with two ports: with ``[json_rpc]port`` other than its default (8089),
#: Ironic 39 names the conductor ``<host>:<port>`` in its conductors
#: table but reserves nodes as ``<host>`` (``task_manager`` uses
#: ``CONF.host``), so ``_check_orphan_nodes`` never releases the locks
#: of a dead conductor (seen here: its nodes stay reserved in CLEANING).
ADDRESSES = {'a': '127.0.0.2', 'b': '127.0.0.3'}
JSON_RPC_PORT = 8089

#: Fast takeover: a conductor is offline 6 s after its last heartbeat,
#: the hash ring is rebuilt every 3 s.
TAKEOVER_CONFIG = {
    'DEFAULT': {'hash_ring_reset_interval': '3'},
    'conductor': {'heartbeat_interval': '1', 'heartbeat_timeout': '6',
                  'check_provision_state_interval': '2'},
}


class ConductorsCluster(ironic_env.IronicEnv):
    """ironic-attest-api and two ironic-attest-conductor, PostgreSQL.

    :param workdir: an empty directory for this cluster.
    :param keylime: the Keylime harness's environment.
    :param overrides: {section: {option: value}} for every service.
    :param conductor_overrides: {name: {section: {option: value}}} for
        one conductor ('a' or 'b') only.
    """

    def __init__(self, workdir, keylime, overrides=None,
                 conductor_overrides=None):
        super().__init__(workdir, keylime, overrides)
        self.db = postgres_env.PostgresCluster(workdir)
        self.config['database']['connection'] = self.db.url
        for section, options in TAKEOVER_CONFIG.items():
            self.config.setdefault(section, {}).update(options)
        self.config['DEFAULT']['rpc_transport'] = 'json-rpc'
        self.config['json_rpc'] = {'auth_strategy': 'noauth',
                                   'host_ip': '127.0.0.1'}
        self.config['api']['api_workers'] = '1'
        self.conductor_overrides = conductor_overrides or {}
        self.processes = {}

    #: Each conductor's address (a subclass may use others, so that two
    #: clusters can run on one machine).
    addresses = ADDRESSES

    def hostname(self, name):
        """The conductor's name in the hash ring and the ``conductor`` field.

        Its ``[DEFAULT]host``: with JSON-RPC on the default port, Ironic
        39 names the conductor and its reservations by it alone.
        """
        return self.addresses[name]

    def _service_config(self, name):
        config = copy.deepcopy(self.config)
        if name in CONDUCTORS:
            config['DEFAULT'].update({
                'host': self.addresses[name],
                'log_file': os.path.join(self.workdir,
                                         'conductor-%s.log' % name),
                'tempdir': os.path.join(self.workdir, 'tmp-' + name)})
            config['json_rpc'].update({'host_ip': self.addresses[name],
                                       'port': str(JSON_RPC_PORT)})
            config['oslo_concurrency']['lock_path'] = os.path.join(
                self.workdir, 'locks-' + name)
            for section, options in self.conductor_overrides.get(
                    name, {}).items():
                config.setdefault(section, {}).update(options)
            for key in ('tempdir',):
                os.makedirs(config['DEFAULT'][key], exist_ok=True)
            os.makedirs(config['oslo_concurrency']['lock_path'],
                        exist_ok=True)
        else:
            config['DEFAULT']['log_file'] = os.path.join(self.workdir,
                                                         'api.log')
        path = os.path.join(self.workdir, '%s.conf' % name)
        # The database password is in it: private.
        services.write_config(path, config, private=True)
        return path

    def start_service(self, name):
        """Start conductor 'a' or 'b', or the 'api', in its own session."""
        command = ('ironic-attest-api' if name == 'api'
                   else 'ironic-attest-conductor')
        conf = self._service_config(name)
        self.processes[name] = services.start(
            [os.path.join(services.BIN_DIR, command), '--config-file', conf],
            os.path.join(self.workdir, '%s.out' % name))

    def start(self, timeout=120):
        """PostgreSQL, the schema, both conductors and the API.

        :raises: IronicError when they do not come up in time; everything
            started is stopped then.
        """
        self._write_config()  # locks, lists, tmp
        for address in self.addresses.values():
            services.assert_port_free(address, JSON_RPC_PORT)
        try:
            self.db.start()
            conf = self._service_config('dbsync')
            services.dbsync(services.BIN_DIR, conf, 'upgrade',
                            log=os.path.join(self.workdir, 'dbsync.log'),
                            timeout=300)
            for name in CONDUCTORS + ('api',):
                self.start_service(name)
            self.wait_conductors(set(CONDUCTORS), timeout)
        except Exception:
            self.stop()
            raise

    def alive_conductors(self):
        """Hostnames of the conductors the API lists as alive."""
        resp = self.api('GET', '/conductors')
        resp.raise_for_status()
        return {c['hostname'] for c in resp.json()['conductors']
                if c['alive']}

    def wait_conductors(self, names, timeout=120):
        """Wait until exactly the conductors ``names`` are alive.

        :raises: IronicError (with the logs) when they are not in time.
        """
        expected = {self.hostname(n) for n in names}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if name in names or name == 'api':
                    if process.poll() is not None:
                        raise ironic_env.IronicError(
                            '%s exited with %s:\n%s' % (
                                name, process.returncode, self.log_tail()))
            try:
                if self.alive_conductors() == expected:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise ironic_env.IronicError(
            'conductors %s not (the only ones) alive within %s s:\n%s'
            % (sorted(expected), timeout, self.log_tail()))

    def kill(self, name):
        """SIGKILL a conductor (its process group), as a crash would."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self):
        """Stop the services (TERM, then KILL), then PostgreSQL."""
        for process in self.processes.values():
            services.stop(process, timeout=30)
        self.db.stop()

    def log_tail(self, lines=60):
        """The end of every service's log and output."""
        paths = []
        for name in CONDUCTORS + ('api',):
            paths += [os.path.join(self.workdir, '%s.out' % name),
                      os.path.join(self.workdir, 'conductor-%s.log' % name
                                   if name != 'api' else 'api.log')]
        return services.tail(paths, lines)

    def conductor_log(self, name):
        """The whole log of conductor 'a' or 'b'."""
        with open(os.path.join(self.workdir, 'conductor-%s.log' % name),
                  errors='replace') as f:
            return f.read()
