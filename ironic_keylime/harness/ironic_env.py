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

"""A real Ironic with ironic-keylime on 127.0.0.1 (tests, benchmarks).

:class:`IronicEnv` writes an ``ironic.conf`` (sqlite, noauth, no RPC bus,
fake-hardware, the attestation interfaces enabled, ``[keylime]`` pointing
at the Keylime harness), creates the database with ``ironic-dbsync``,
starts the all-in-one ``ironic-attest`` of the virtualenv running the
tests, waits for its API and conductor, and stops it by its PID.

It also drives that Ironic: with openstacksdk (``auth_type=none``) and
with the ``baremetal`` and ``openstack`` commands, as an operator would.
"""

import json
import os
import subprocess
import time

import openstack
import requests

from ironic_keylime.harness import keylime_env_file
from ironic_keylime.harness import services

BIN_DIR = services.BIN_DIR
#: Provision states the conductor moves on from by itself.
TRANSITIONAL = ('deploying', 'wait call-back', 'cleaning', 'clean wait',
                'verifying', 'servicing', 'service wait', 'deleting',
                'inspecting', 'inspect wait')


class IronicError(services.ServiceError):
    """Ironic did not start, or did not do what was asked in time."""


def keylime_env():
    """The Keylime harness's environment.

    :returns: a dict of the ``KEYLIME_HARNESS_*`` variables.
    :raises: IronicError naming the missing ones (run the functional
        tests with tools/functional.sh, which starts the harness).
    """
    missing = [k for k in keylime_env_file.REQUIRED
               if not os.environ.get(k)]
    if missing:
        raise IronicError('The Keylime harness is not running (missing %s); '
                          'run the functional tests with '
                          'tools/functional.sh.' % ', '.join(missing))
    return {k: os.environ[k] for k in keylime_env_file.REQUIRED}


def base_config(workdir, port, keylime):
    """The ironic.conf of a loopback, all-in-one Ironic.

    :param workdir: directory of the database, locks and log.
    :param port: port of the API on 127.0.0.1.
    :param keylime: the Keylime harness's environment (:func:`keylime_env`).
    :returns: a dict {section: {option: value}}.
    """
    return {
        'DEFAULT': {
            'auth_strategy': 'noauth',
            'rpc_transport': 'none',
            'host': 'ironic-keylime-functional',
            'debug': 'true',
            'log_file': os.path.join(workdir, 'ironic.log'),
            'use_stderr': 'false',
            'enabled_hardware_types': 'fake-hardware',
            'enabled_boot_interfaces': 'fake',
            'enabled_console_interfaces': 'no-console',
            'enabled_deploy_interfaces': 'fake',
            'enabled_firmware_interfaces': 'no-firmware',
            'enabled_inspect_interfaces': 'no-inspect',
            'enabled_management_interfaces': 'fake',
            'enabled_network_interfaces': 'noop',
            'enabled_power_interfaces': 'fake',
            'enabled_raid_interfaces': 'no-raid',
            'enabled_rescue_interfaces': 'no-rescue',
            'enabled_storage_interfaces': 'noop',
            'enabled_vendor_interfaces': 'no-vendor',
            'enabled_bios_interfaces': 'no-bios',
            'enabled_attestation_interfaces': 'no-attestation,keylime',
            'default_resource_class': 'baremetal',
            'tempdir': os.path.join(workdir, 'tmp'),
        },
        'api': {'host_ip': '127.0.0.1', 'port': str(port),
                # Fail on any response the API schemas do not describe.
                'response_validation': 'error'},
        'conductor': {'automated_clean': 'true',
                      'check_provision_state_interval': '2',
                      'sync_power_state_interval': '60',
                      'heartbeat_interval': '5'},
        'database': {'connection': 'sqlite:///%s' % os.path.join(
            workdir, 'ironic.sqlite')},
        'dhcp': {'dhcp_provider': 'none'},
        # The URL the agent deploy interfaces give the ramdisk (ipa-api-url)
        # when they prepare its boot.
        'service_catalog': {'endpoint_override':
                            'http://127.0.0.1:%d' % port},
        # A node with the direct deploy interface gets no disk erasure
        # from a ramdisk: its IPA would run on the machine of the tests.
        'deploy': {'erase_devices_priority': '0',
                   'erase_devices_metadata_priority': '0',
                   'iso_master_path': os.path.join(workdir,
                                                   'master_iso_images')},
        'oslo_concurrency': {'lock_path': os.path.join(workdir, 'locks')},
        # Ironic's own files (ramdisks' TLS certificates, image caches) in
        # the work directory, not in /var/lib/ironic: nothing is left
        # behind.
        'agent': {'certificates_path': os.path.join(workdir, 'certificates')},
        'pxe': {'images_path': os.path.join(workdir, 'images-cache'),
                'instance_master_path': os.path.join(workdir,
                                                     'master_images')},
        'keylime': {
            'tenant_path': keylime['KEYLIME_HARNESS_TENANT'],
            'tenant_config': keylime['KEYLIME_HARNESS_TENANT_CONFIG'],
            'tenant_cert_dir': keylime['KEYLIME_HARNESS_CERT_DIR'],
            'status_poll_interval': '2',
            'attestation_timeout': '60',
            'allowed_list_directories': os.path.join(workdir, 'lists'),
        },
    }


class IronicEnv(object):
    """A running all-in-one ironic-attest.

    :param workdir: an empty directory for this Ironic.
    :param keylime: the Keylime harness's environment.
    :param overrides: {section: {option: value}} applied to the
        configuration of :func:`base_config`.
    """

    def __init__(self, workdir, keylime, overrides=None):
        self.workdir = workdir
        self.keylime = keylime
        self.port = services.free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.config = base_config(workdir, self.port, keylime)
        for section, options in (overrides or {}).items():
            self.config.setdefault(section, {}).update(options)
        self.conf_file = os.path.join(workdir, 'ironic.conf')
        self.log_file = self.config['DEFAULT']['log_file']
        self.process = None
        self._conn = None

    # Lifecycle

    def _write_config(self):
        for name in ('locks', 'lists', 'tmp'):
            os.makedirs(os.path.join(self.workdir, name), exist_ok=True)
        services.write_config(self.conf_file, self.config)

    def start(self, timeout=90):
        """Create the database, start ironic-attest and wait for it.

        :raises: IronicError when it does not come up in time (with the
            end of its log); it is stopped then.
        """
        self._write_config()
        services.dbsync(BIN_DIR, self.conf_file, 'create_schema',
                        log=os.path.join(self.workdir, 'dbsync.log'))
        # Its own session: the service forks workers; stop() signals the
        # group of the process started here and nothing else.
        self.process = services.start(
            [os.path.join(BIN_DIR, 'ironic-attest'),
             '--config-file', self.conf_file],
            os.path.join(self.workdir, 'ironic-attest.out'))
        try:
            self._wait_up(timeout)
        except Exception:
            self.stop()
            raise

    def _wait_up(self, timeout):
        services.wait_for_drivers(self.url, {'ironic-attest': self.process},
                                  'ironic-attest', timeout, self.log_tail,
                                  IronicError)

    def stop(self):
        """Stop the ironic-attest started here (SIGTERM, then SIGKILL)."""
        services.stop(self.process, timeout=30)

    def log_tail(self, lines=80):
        """The end of Ironic's log and of its output."""
        return services.tail(
            [os.path.join(self.workdir, 'ironic-attest.out'), self.log_file],
            lines)

    def log_text(self):
        """Ironic's whole log."""
        with open(self.log_file, errors='replace') as f:
            return f.read()

    # Clients

    @property
    def conn(self):
        """An openstacksdk connection to this Ironic."""
        if self._conn is None:
            self._conn = openstack.connection.Connection(
                auth_type='none', baremetal_endpoint_override=self.url)
        return self._conn

    def api(self, method, path, headers=None, **kwargs):
        """A raw call to the API at its newest version.

        :param headers: more request headers (e.g. a global request id,
            ``X-OpenStack-Request-ID``, as Nova sends one).
        :returns: the requests response.
        """
        headers = dict(headers or {})
        headers['X-OpenStack-Ironic-API-Version'] = 'latest'
        return requests.request(method, self.url + '/v1' + path,
                                headers=headers, timeout=30, **kwargs)

    def command(self, command, *args, check=True):
        """Run a client command of this virtualenv against this Ironic.

        :param command: ``baremetal`` (python-ironicclient's shell) or
            ``openstack`` (python-openstackclient).
        :returns: the CompletedProcess (text output).
        :raises: CalledProcessError when check and it failed.
        """
        env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=self.url)
        for key in ('OS_CLOUD', 'OS_AUTH_URL', 'OS_TOKEN'):
            env.pop(key, None)
        return subprocess.run(
            [os.path.join(BIN_DIR, command)] + list(args),
            env=env, capture_output=True, text=True, check=check,
            timeout=120)

    def baremetal(self, *args, check=True):
        """Run the ``baremetal`` command against this Ironic.

        :returns: the CompletedProcess (text output).
        :raises: CalledProcessError when check and it failed.
        """
        return self.command('baremetal', *args, check=check)

    def openstack(self, *args, check=True):
        """Run the ``openstack`` command against this Ironic.

        :returns: the CompletedProcess (text output).
        :raises: CalledProcessError when check and it failed.
        """
        return self.command('openstack', *args, check=check)

    def baremetal_json(self, *args):
        """``baremetal ... -f json``, parsed."""
        return json.loads(self.baremetal(*(list(args) + ['-f', 'json']))
                          .stdout)

    # Nodes

    def keylime_driver_info(self, lists):
        """driver_info of a node attested by the harness's Keylime.

        fake-hardware has no ramdisk to report the agent: the node's
        keylime_agent_* name the harness's agent.

        :param lists: (allowlist, checksum, excludelist, excludelist
            checksum) paths.
        """
        k = self.keylime
        return {
            'attestation_interface': 'keylime',
            'keylime_v': k['KEYLIME_HARNESS_VERIFIER'],
            'keylime_vp': int(k['KEYLIME_HARNESS_VERIFIER_PORT']),
            'keylime_r': k['KEYLIME_HARNESS_REGISTRAR'],
            'keylime_rp': int(k['KEYLIME_HARNESS_REGISTRAR_PORT']),
            'keylime_agent_uuid': k['KEYLIME_HARNESS_AGENT_UUID'],
            'keylime_agent_address': k['KEYLIME_HARNESS_AGENT_ADDRESS'],
            'keylime_agent_port': int(k['KEYLIME_HARNESS_AGENT_PORT']),
            'keylime_allowlist': lists[0],
            'keylime_allowlist_checksum': lists[1],
            'keylime_excludelist': lists[2],
            'keylime_excludelist_checksum': lists[3],
        }

    def create_node(self, name, driver_info=None):
        """Enroll a fake-hardware node and make it manageable."""
        node = self.conn.baremetal.create_node(
            name=name, driver='fake-hardware',
            driver_info=driver_info or {})
        return self.provision(node.id, 'manage', 'manageable')

    def provision(self, node_id, target, expected, timeout=120, **kwargs):
        """Ask for a provision state and wait for the node to settle.

        :param expected: the state the node must end in.
        :returns: the node.
        :raises: IronicError when it ends elsewhere or too late.
        """
        self.conn.baremetal.set_node_provision_state(node_id, target,
                                                     **kwargs)
        return self.wait_state(node_id, expected, timeout)

    def wait_state(self, node_id, expected, timeout=120):
        """Wait for a stable provision state; it must be ``expected``."""
        deadline = time.monotonic() + timeout
        while True:
            node = self.conn.baremetal.get_node(node_id)
            state = node.provision_state
            # A failed state keeps its target (e.g. "deploy failed" to
            # "active").
            if state not in TRANSITIONAL and (
                    not node.target_provision_state
                    or state.endswith('failed')):
                if state != expected:
                    raise IronicError(
                        'node %s is in %s, not %s; last_error: %s' % (
                            node_id, state, expected, node.last_error))
                return node
            if time.monotonic() > deadline:
                raise IronicError('node %s still in %s after %s s' % (
                    node_id, state, timeout))
            time.sleep(0.5)

    def wait_for(self, node_id, state, timeout=120):
        """Wait for a provision state, also a transitional one.

        :returns: the node.
        :raises: IronicError when it settles elsewhere or too late.
        """
        deadline = time.monotonic() + timeout
        while True:
            node = self.conn.baremetal.get_node(node_id)
            if node.provision_state == state:
                return node
            if (node.provision_state not in TRANSITIONAL
                    and not node.target_provision_state):
                raise IronicError('node %s settled in %s, not %s; '
                                  'last_error: %s' % (
                                      node_id, node.provision_state, state,
                                      node.last_error))
            if time.monotonic() > deadline:
                raise IronicError('node %s still in %s after %s s, not %s'
                                  % (node_id, node.provision_state, timeout,
                                     state))
            time.sleep(0.3)

    def history(self, node_id):
        """The node's history events, oldest first (dicts)."""
        resp = self.api('GET', '/nodes/%s/history?detail=True' % node_id)
        resp.raise_for_status()
        return sorted(resp.json()['history'], key=lambda e: e['created_at'])

    def error_message(self, node):
        """The node's last error, from last_error or its history.

        Ironic 39 clears ``last_error`` when a power state sync confirms
        the power state (the error stays in the node history), so a test
        that reads it a moment too late finds None: the newest error
        event of the history is the same message.
        """
        if node.last_error:
            return node.last_error
        errors = [e for e in self.history(node.id)
                  if e['severity'] == 'ERROR']
        return errors[-1]['event'] if errors else None

    def attestation_events(self, node_id):
        """The attestation verdicts in the node's history."""
        return [e for e in self.history(node_id)
                if e['event_type'] == 'attestation']
