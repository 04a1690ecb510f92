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
    """

    def __init__(self, workdir):
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

    @property
    def conductor_hostname(self):
        """The conductor's name in Ironic's conductors table.

        With JSON-RPC, Ironic 39 registers the conductor as
        ``<[DEFAULT]host>:<[json_rpc]port>`` (seen here), and the API's
        topic for the node carries the same name.
        """
        return '%s:%d' % (CONDUCTOR_HOST, self.rpc_port)

    def _start_service(self, name, command):
        log_file = os.path.join(self.workdir, '%s.log' % name)
        # Its own session: stop() signals the group of the process
        # started here and nothing else.
        self.processes[name] = services.start(
            [os.path.join(services.BIN_DIR, command),
             '--config-file', self.conf_file, '--log-file', log_file],
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
        self._start_service('api', 'ironic-attest-api')
        try:
            services.wait_for_drivers(self.url, self.processes,
                                      'the cluster', timeout, self.log_tail,
                                      ironic_env.IronicError)
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Stop the services started here (SIGTERM, then SIGKILL)."""
        for process in self.processes.values():
            services.stop(process, timeout=30)

    def log_tail(self, lines=80):
        """The end of the services' logs and outputs."""
        return services.tail(
            [os.path.join(self.workdir, '%s.%s' % (name, ext))
             for name in ('conductor', 'api') for ext in ('out', 'log')],
            lines)

    def conductor_interfaces(self):
        """The conductor hardware interfaces rows Ironic stored.

        :returns: a set of (hostname, hardware type, interface type,
            interface name).
        """
        path = self.config['database']['connection'][len('sqlite:///'):]
        with sqlite3.connect(path) as db:
            return set(db.execute(
                'SELECT c.hostname, i.hardware_type, i.interface_type, '
                'i.interface_name FROM conductor_hardware_interfaces i '
                'JOIN conductors c ON c.id = i.conductor_id'))
