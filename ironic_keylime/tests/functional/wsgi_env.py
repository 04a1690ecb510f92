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

"""Ironic as operators' deployment tools run it: the API under uWSGI.

kolla-ansible and OpenStack-Ansible serve Ironic's API from a WSGI server
(uWSGI) and run the conductor as its own service. Here uWSGI (PyPI, in
the test virtualenv) serves ``ironic_keylime.wsgi.api:application`` on
127.0.0.1, an ``ironic-attest-conductor`` runs beside it, and the two
talk JSON-RPC (noauth) on loopback over one sqlite database. The
conductor attests with the real Keylime of the harness.
"""

import os

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import services

#: The WSGI application of ironic-keylime.
APPLICATION = 'ironic_keylime.wsgi.api:application'


class WsgiIronicEnv(ironic_env.IronicEnv):
    """uWSGI serving the API, and ironic-attest-conductor.

    :param workdir: an empty directory for this Ironic.
    :param keylime: the Keylime harness's environment.
    :param overrides: {section: {option: value}} for ironic.conf.
    """

    def __init__(self, workdir, keylime, overrides=None):
        super().__init__(workdir, keylime, overrides)
        self.config['DEFAULT'].update({'rpc_transport': 'json-rpc',
                                       'host': '127.0.0.1'})
        self.config['json_rpc'] = {'auth_strategy': 'noauth',
                                   'host_ip': '127.0.0.1',
                                   'port': str(services.free_port())}
        self.processes = {}

    def _out(self, name):
        return os.path.join(self.workdir, '%s.out' % name)

    def start(self, timeout=120):
        """Create the database, start both services and wait for them.

        :raises: IronicError when they do not come up in time (with the
            end of their logs); they are stopped then.
        """
        self._write_config()
        services.dbsync(services.BIN_DIR, self.conf_file, 'create_schema',
                        log=os.path.join(self.workdir, 'dbsync.log'))
        self.processes['conductor'] = services.start(
            [os.path.join(services.BIN_DIR, 'ironic-attest-conductor'),
             '--config-file', self.conf_file], self._out('conductor'))
        # As kolla-ansible's and OpenStack-Ansible's uWSGI: a master, its
        # workers and threads; the application's arguments are Ironic's.
        # HTTP/1.1 with keep-alive: the clients keep their connections.
        self.processes['uwsgi'] = services.start(
            [os.path.join(services.BIN_DIR, 'uwsgi'),
             '--http11-socket', '127.0.0.1:%d' % self.port,
             '--master', '--processes', '2', '--threads', '2',
             '--die-on-term', '--need-app', '--lazy-apps',
             '--module', APPLICATION,
             '--pyargv', '--config-file %s' % self.conf_file],
            self._out('uwsgi'))
        # The process is this object's for IronicEnv's helpers.
        self.process = self.processes['uwsgi']
        try:
            services.wait_for_drivers(self.url, self.processes,
                                      'uWSGI and ironic-attest-conductor',
                                      timeout, self.log_tail,
                                      ironic_env.IronicError)
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Stop both services (SIGTERM to their groups, then SIGKILL)."""
        for process in self.processes.values():
            services.stop(process, timeout=30)

    def log_tail(self, lines=80):
        """The end of the services' outputs and of Ironic's log."""
        return services.tail([self._out('uwsgi'), self._out('conductor'),
                              self.log_file], lines)
