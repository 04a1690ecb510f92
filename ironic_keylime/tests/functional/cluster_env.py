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

"""A stock ironic-conductor next to ironic-attest-api, on 127.0.0.1.

:class:`StockConductorCluster` is the mixed cluster an operator gets when
one conductor of the cluster still runs Ironic's own ``ironic-conductor``:
the API is ``ironic-attest-api`` (with the attestation interface type and
its guards), the conductor is stock Ironic 39, they share one sqlite
database file and talk JSON-RPC (noauth) on loopback. No Keylime is
needed: the requests under test are refused before any attestation.
"""

import configparser
import os
import sqlite3

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file
from ironic_keylime.harness import services

#: The conductor's [DEFAULT]host (also where JSON-RPC reaches it).
CONDUCTOR_HOST = '127.0.0.1'


class StockConductorCluster(ironic_env.IronicEnv):
    """ironic-attest-api and a stock ironic-conductor, one database.

    :param workdir: an empty directory for this cluster.
    :param attest_default: when given, an ``ironic-attest-conductor``
        runs next to the stock one, with this
        ``[DEFAULT]default_attestation_interface`` (the API keeps its
        own option unset).
    """

    def __init__(self, workdir, attest_default=None):
        # The configuration of the all-in-one Ironic of the other tests,
        # without the Keylime harness (nothing here reaches Keylime).
        placeholders = {k: '/nonexistent' for k in keylime_env_file.REQUIRED}
        super().__init__(workdir, placeholders)
        del self.config['keylime']
        self.rpc_port = services.free_port()
        self.config['DEFAULT'].update({
            'rpc_transport': 'json-rpc',
            'host': CONDUCTOR_HOST,
        })
        self.config['json_rpc'] = {'auth_strategy': 'noauth',
                                   'host_ip': '127.0.0.1',
                                   'port': str(self.rpc_port)}
        # Provide without cleaning: the stock conductor would clean
        # without attestation anyway.
        self.config['conductor']['automated_clean'] = 'false'
        self.config['api']['api_workers'] = '1'
        self.processes = {}
        self.attest_default = attest_default
        self.attest_rpc_port = self.rpc_port
        while self.attest_rpc_port == self.rpc_port:
            self.attest_rpc_port = services.free_port()

    @property
    def conductor_hostname(self):
        """The conductor's name in Ironic's conductors table.

        With JSON-RPC, Ironic 39 registers the conductor as
        ``<[DEFAULT]host>:<[json_rpc]port>`` (seen here), and the API's
        topic for the node carries the same name.
        """
        return '%s:%d' % (CONDUCTOR_HOST, self.rpc_port)

    @property
    def attest_conductor_hostname(self):
        """The name of the ironic-attest-conductor (see above)."""
        return '%s:%d' % (CONDUCTOR_HOST, self.attest_rpc_port)

    def _write_attest_config(self):
        """The attesting conductor's ironic.conf: its port and default."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.conf_file)
        parser.set('json_rpc', 'port', str(self.attest_rpc_port))
        parser.set('DEFAULT', 'default_attestation_interface',
                   self.attest_default)
        path = os.path.join(self.workdir, 'ironic-attest-conductor.conf')
        with open(path, 'w') as f:
            parser.write(f)
        return path

    def _start_service(self, name, command, conf_file=None):
        log_file = os.path.join(self.workdir, '%s.log' % name)
        # Its own session: stop() signals the group of the process
        # started here and nothing else.
        self.processes[name] = services.start(
            [os.path.join(services.BIN_DIR, command),
             '--config-file', conf_file or self.conf_file,
             '--log-file', log_file],
            os.path.join(self.workdir, '%s.out' % name))

    def start(self, timeout=90):
        """Create the database, start both services and wait for them.

        :raises: IronicError when they do not come up in time (with the
            end of their logs); they are stopped then.
        """
        self._write_config()
        services.dbsync(services.BIN_DIR, self.conf_file, 'create_schema',
                        log=os.path.join(self.workdir, 'dbsync.log'))
        self._start_service('conductor', 'ironic-conductor')
        if self.attest_default:
            self._start_service('attest-conductor',
                                'ironic-attest-conductor',
                                self._write_attest_config())
        self._start_service('api', 'ironic-attest-api')
        try:
            services.wait_for_drivers(self.url, self.processes,
                                      'the cluster', timeout, self.log_tail,
                                      ironic_env.IronicError,
                                      ready=self._conductors_registered)
        except Exception:
            self.stop()
            raise

    def _conductors_registered(self):
        """Both conductors are in the conductors table (when both run)."""
        if not self.attest_default:
            return True
        hosts = {row[0] for row in self.conductor_interfaces()}
        return (self.attest_conductor_hostname in hosts
                and self.conductor_hostname in hosts)

    def stop(self):
        """Stop the services started here (SIGTERM, then SIGKILL)."""
        for process in self.processes.values():
            services.stop(process, timeout=30)

    def log_tail(self, lines=80):
        """The end of the services' logs and outputs."""
        return services.tail(
            [os.path.join(self.workdir, '%s.%s' % (name, ext))
             for name in ('conductor', 'attest-conductor', 'api')
             for ext in ('out', 'log')],
            lines)

    def conductor_interfaces(self, default=False):
        """The conductor hardware interfaces rows Ironic stored.

        :param default: add the rows' default flag.
        :returns: a set of (hostname, hardware type, interface type,
            interface name[, default]).
        """
        path = self.config['database']['connection'][len('sqlite:///'):]
        if not os.path.exists(path):
            return set()
        with sqlite3.connect(path) as db:
            return set(db.execute(
                'SELECT c.hostname, i.hardware_type, i.interface_type, '
                'i.interface_name%s FROM conductor_hardware_interfaces i '
                'JOIN conductors c ON c.id = i.conductor_id'
                % (', i."default"' if default else '')))
