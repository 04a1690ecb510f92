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

"""The ``keylime`` extension of ironic-python-agent.

Loaded by ironic-python-agent on the node from the entry point
``ironic_python_agent.extensions: keylime``. Commands:

``keylime.get_agent_info``
    The running Keylime agent's UUID, address and port, from its
    configuration.
``keylime.configure_agent``
    Writes the registrar's address and port and the agent's UUID given by
    the conductor into a drop-in of the agent's configuration and
    (re)starts the agent, then waits until it listens.

Options (group ``[keylime_agent]`` of ironic-python-agent's configuration,
e.g. ``/etc/ironic-python-agent.d/keylime.conf``, written by the
keylime-agent DIB element) are registered when ironic-python-agent loads
the extension.
"""

import socket
import subprocess
import time

from ironic_python_agent import errors
from ironic_python_agent.extensions import base
from oslo_config import cfg
from oslo_log import log

from ironic_keylime.ipa import agent_config

LOG = log.getLogger(__name__)
CONF = cfg.CONF

opts = [
    cfg.StrOpt('config_file',
               default=agent_config.DEFAULT_CONFIG_FILE,
               help='Main configuration file of the Keylime agent.'),
    cfg.StrOpt('config_dir',
               default=agent_config.DEFAULT_CONFIG_DIR,
               help='Drop-in directory of the Keylime agent\'s '
                    'configuration.'),
    cfg.StrOpt('dropin',
               default=agent_config.RUNTIME_DROPIN,
               help='Name of the drop-in, in config_dir, that '
                    'keylime.configure_agent writes.'),
    cfg.StrOpt('uuid_mode',
               default='node',
               choices=[('node', 'the agent\'s UUID is the one the '
                                 'conductor gives (by default the node\'s '
                                 'UUID)'),
                        ('image', 'the agent keeps the UUID mode of the '
                                  'image (hash_ek, generate, dmidecode, '
                                  'hostname or a fixed UUID); the '
                                  'conductor\'s UUID is ignored')],
               help='Where the agent\'s UUID comes from.'),
    cfg.ListOpt('restart_command',
                default=['systemctl', 'restart', 'keylime_agent.service'],
                help='Command (argv, comma separated) that (re)starts the '
                     'Keylime agent.'),
    cfg.ListOpt('status_command',
                default=['systemctl', 'is-active', '--quiet',
                         'keylime_agent.service'],
                help='Command (argv, comma separated) that exits 0 when '
                     'the Keylime agent runs.'),
    cfg.IntOpt('command_timeout',
               default=60,
               min=1,
               help='Seconds restart_command and status_command may run.'),
    cfg.IntOpt('start_timeout',
               default=30,
               min=0,
               help='Seconds to wait, after a restart, for the agent to '
                    'listen on its port (it registers with the registrar '
                    'first). 0: do not wait. Keep the whole command within '
                    'the conductor\'s [agent]command_timeout (60 s by '
                    'default).'),
]

CONF.register_opts(opts, group='keylime_agent')

_PARAMS = ('registrar_ip', 'registrar_port', 'agent_uuid', 'contact_ip')


def _run(argv):
    """Run a command, argv only; returns (returncode, output)."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False,
                              timeout=CONF.keylime_agent.command_timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace').strip()


def _probe_address(address):
    if not address or address in ('0.0.0.0', '::'):
        return '::1' if address == '::' else '127.0.0.1'
    return address


class KeylimeExtension(base.BaseAgentExtension):
    """Reports and configures the node's Keylime agent."""

    def _config(self):
        conf = CONF.keylime_agent
        try:
            return agent_config.effective_config(conf.config_file,
                                                 conf.config_dir)
        except agent_config.AgentConfigError as e:
            raise errors.CommandExecutionError(
                'the Keylime agent\'s configuration cannot be read: %s' % e)

    def _running(self):
        argv = CONF.keylime_agent.status_command
        if not argv:
            return None
        rc, _out = _run(argv)
        return rc == 0

    def _info(self):
        info = agent_config.agent_identity(self._config())
        info['running'] = self._running()
        return info

    @base.sync_command('get_agent_info')
    def get_agent_info(self, **kwargs):
        """The Keylime agent's identity, from its configuration.

        :returns: a dict: ``uuid`` (None when the agent computes it from
            its TPM or at random), ``uuid_mode``, ``address`` (None when
            the agent listens on a wildcard address: use the ramdisk's),
            ``port``, ``registrar_ip``, ``registrar_port`` and ``running``
            (None when no status command is configured).
        :raises: InvalidCommandParamsError when given parameters.
        :raises: CommandExecutionError when the configuration cannot be
            read.
        """
        if kwargs:
            raise errors.InvalidCommandParamsError(
                'keylime.get_agent_info takes no parameters, got %s' %
                ', '.join(sorted(kwargs)))
        return self._info()

    @base.sync_command('configure_agent')
    def configure_agent(self, **kwargs):
        """Point the Keylime agent at a registrar and (re)start it.

        :param registrar_ip: the registrar's address (IP or host name).
        :param registrar_port: the registrar's port.
        :param agent_uuid: the agent's UUID (ignored when
            ``[keylime_agent]uuid_mode`` is ``image``). Optional.
        :param contact_ip: the address the verifier reaches the agent at.
            Optional.
        :returns: what ``get_agent_info`` returns, plus ``restarted``.
        :raises: InvalidCommandParamsError on a missing, unknown or bad
            parameter.
        :raises: CommandExecutionError when the drop-in cannot be written
            or the agent does not start.
        """
        unknown = sorted(set(kwargs) - set(_PARAMS))
        if unknown:
            raise errors.InvalidCommandParamsError(
                'keylime.configure_agent: unknown parameters %s (known: %s)'
                % (', '.join(unknown), ', '.join(_PARAMS)))
        missing = [k for k in ('registrar_ip', 'registrar_port')
                   if kwargs.get(k) in (None, '')]
        if missing:
            raise errors.InvalidCommandParamsError(
                'keylime.configure_agent: %s required' %
                ' and '.join(missing))
        conf = CONF.keylime_agent
        agent_uuid = kwargs.get('agent_uuid')
        if conf.uuid_mode == 'image' and agent_uuid is not None:
            LOG.info('Ignoring the conductor\'s agent UUID %s: '
                     '[keylime_agent]uuid_mode is image', agent_uuid)
            agent_uuid = None
        try:
            values = agent_config.conductor_values(
                kwargs['registrar_ip'], kwargs['registrar_port'],
                agent_uuid=agent_uuid, contact_ip=kwargs.get('contact_ip'))
        except agent_config.AgentConfigError as e:
            raise errors.InvalidCommandParamsError(
                'keylime.configure_agent: %s' % e)

        path = '%s/%s' % (conf.config_dir.rstrip('/'), conf.dropin)
        try:
            changed = agent_config.write_dropin(
                path, values,
                comment='Written by ironic-keylime\'s keylime.configure_agent'
                        ' (ironic-python-agent); rewritten on every call.')
        except agent_config.AgentConfigError as e:
            raise errors.CommandExecutionError(str(e))
        restarted = False
        if changed or self._running() is False:
            self._restart()
            restarted = True
        info = self._info()
        if restarted:
            self._wait_listening(info)
        info['restarted'] = restarted
        LOG.info('Keylime agent configured: %s', info)
        return info

    def _restart(self):
        argv = CONF.keylime_agent.restart_command
        rc, out = _run(argv)
        if rc != 0:
            raise errors.CommandExecutionError(
                'the Keylime agent could not be (re)started: %s exited '
                'with %s: %s' % (' '.join(argv), rc, out))

    def _wait_listening(self, info):
        timeout = CONF.keylime_agent.start_timeout
        if not timeout:
            return
        values = self._config()
        host = _probe_address(values.get('ip'))
        port = int(values.get('port') or agent_config.AGENT_DEFAULTS['port'])
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((host, port), timeout=2):
                    return
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise errors.CommandExecutionError(
                        'the Keylime agent does not listen on %s port %s '
                        '%s s after it was (re)started (%s); it may have '
                        'failed to register with the registrar at %s:%s. '
                        'See its log (journalctl -u keylime_agent).' %
                        (host, port, timeout, e, info['registrar_ip'],
                         info['registrar_port']))
            time.sleep(0.5)
