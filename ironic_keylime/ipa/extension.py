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
``keylime.read_boot_state``
    The SHA-256 bank's PCRs the conductor names (``tpm2_pcrread``) and the
    firmware's UEFI event log when the kernel exposes one: the node's boot
    state, which the conductor records as its golden boot state.

Options (group ``[keylime_agent]`` of ironic-python-agent's configuration,
e.g. ``/etc/ironic-python-agent.d/keylime.conf``, written by the
ironic-keylime-agent DIB element) are registered when ironic-python-agent loads
the extension.
"""

import socket
import ssl
import subprocess
import time

from ironic_python_agent import errors
from ironic_python_agent.extensions import base
from oslo_config import cfg
from oslo_log import log

from ironic_keylime.ipa import agent_config
from ironic_keylime.ipa import boot_state

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
                    'answer on its port (a TLS hello; it serves once the '
                    'registrar activated it). 0: do not wait. Keep the '
                    'whole command within the conductor\'s '
                    '[agent]command_timeout (60 s by default).'),
    cfg.ListOpt('pcrread_command',
                default=['tpm2_pcrread'],
                help='Command (argv, comma separated) of tpm2-tools\' '
                     'tpm2_pcrread; keylime.read_boot_state adds the TCTI '
                     'and the PCR selection.'),
    cfg.StrOpt('tpm_tcti',
               default='',
               help='TCTI given to tpm2_pcrread (--tcti). Empty: '
                    'tpm2-tools\' default (TPM2TOOLS_TCTI, else the '
                    'kernel\'s resource manager /dev/tpmrm0).'),
    cfg.StrOpt('event_log_path',
               default='/sys/kernel/security/tpm0/binary_bios_measurements',
               help='The firmware\'s UEFI event log, as the kernel exposes '
                    'it; returned by keylime.read_boot_state when present.'),
    cfg.StrOpt('ima_log_path',
               default='/sys/kernel/security/ima/ascii_runtime_measurements',
               help='The kernel\'s IMA log; keylime.read_boot_state '
                    'returns its boot_aggregate entry (what the kernel '
                    'computed over the boot PCRs when IMA started).'),
    cfg.StrOpt('kernel_cmdline_path',
               default='/proc/cmdline',
               help='The running kernel\'s command line; returned by '
                    'keylime.read_boot_state (the conductor needs it where '
                    'the kernel\'s EFI stub measured it as a digest only).'),
    cfg.IntOpt('event_log_max_bytes',
               default=1048576,
               min=0,
               help='Largest UEFI event log keylime.read_boot_state '
                    'returns (base64 in its answer); a larger one is '
                    'reported as too large and not returned.'),
]

CONF.register_opts(opts, group='keylime_agent')

_PARAMS = ('registrar_ip', 'registrar_port', 'agent_uuid', 'contact_ip',
           'restart')


def _run(argv, merge_stderr=True):
    """Run a command, argv only; returns (returncode, output).

    With ``merge_stderr`` False, the output is stdout alone when the
    command succeeds, and stderr after stdout when it fails.
    """
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            check=False, timeout=CONF.keylime_agent.command_timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    out = proc.stdout.decode('utf-8', 'replace')
    if not merge_stderr and proc.returncode != 0:
        out += proc.stderr.decode('utf-8', 'replace')
    return proc.returncode, out.strip()


#: How much of a failed command's output an error reports: its end, where
#: the reason usually is.
OUTPUT_TAIL = 500


def _tail(output):
    """The end of a command's output, for an error message."""
    if len(output) <= OUTPUT_TAIL:
        return output
    return '...' + output[-OUTPUT_TAIL:]


def _serving_error(host, port, timeout=2):
    """Why the agent does not serve on host:port yet, or None if it does.

    Listening is not enough: the Keylime 6.x Python agent binds its port
    before it registers with the registrar and serves only once the
    registrar activated it. A server that answers a TLS client hello (a
    handshake, or any TLS error such as the refusal of a client without
    a certificate) accepts connections; one that only listens leaves the
    hello unanswered until the timeout.

    :returns: None when the agent answers, else a short reason.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Only whether it answers is probed here: nothing is sent or trusted.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (TimeoutError, socket.timeout):
        return 'no connection in %s s' % timeout
    except OSError as e:
        return str(e)
    with sock:
        try:
            with context.wrap_socket(sock):
                return None
        except ssl.SSLError:
            return None  # a TLS answer, or not TLS: it serves
        except (TimeoutError, socket.timeout):
            return 'it accepts no connection: no answer in %s s' % timeout
        except OSError:
            # Reset or closed once accepted: something accepted it (a
            # port that only listens leaves the connection unanswered).
            return None


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
        :param restart: True to restart the agent even when its
            configuration did not change (the conductor deleted its
            registration: it must register again). Optional.
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
        if changed or kwargs.get('restart') is True or (
                self._running() is False):
            self._restart()
            restarted = True
        info = self._info()
        if restarted:
            self._wait_serving(info)
        info['restarted'] = restarted
        LOG.info('Keylime agent configured: %s', info)
        return info

    @base.sync_command('read_boot_state')
    def read_boot_state(self, **kwargs):
        """Read the node's boot state: PCRs of the SHA-256 bank, event log.

        :param pcrs: the PCR numbers to read, a list of integers from 0 to
            23.
        :returns: a dict: ``bank`` (``sha256``), ``pcrs`` (``{"<pcr>":
            "<hex digest>"}``), and ``event_log`` (base64, or None),
            ``event_log_size``, ``event_log_sha256``, ``event_log_note``
            (why no event log is returned, or None); ``boot_aggregate``
            (the IMA log's, hex, or None), ``boot_aggregate_algorithm``,
            ``boot_aggregate_note`` (why none is returned, or None);
            ``kernel_cmdline`` (``/proc/cmdline``, or None) and
            ``kernel_cmdline_note`` (why none is returned, or None).
        :raises: InvalidCommandParamsError on a missing, unknown or bad
            parameter.
        :raises: CommandExecutionError when the PCRs cannot be read.
        """
        unknown = sorted(set(kwargs) - {'pcrs'})
        if unknown:
            raise errors.InvalidCommandParamsError(
                'keylime.read_boot_state: unknown parameters %s (known: '
                'pcrs)' % ', '.join(unknown))
        try:
            pcrs = boot_state.parse_pcrs(kwargs.get('pcrs'))
        except ValueError as e:
            raise errors.InvalidCommandParamsError(
                'keylime.read_boot_state: %s' % e)
        conf = CONF.keylime_agent
        argv = boot_state.pcrread_argv(conf.pcrread_command, pcrs,
                                       tcti=conf.tpm_tcti)
        rc, out = _run(argv, merge_stderr=False)
        if rc != 0:
            raise errors.CommandExecutionError(
                'the PCRs could not be read: %s exited with %s: %s' %
                (' '.join(argv), rc, _tail(out)))
        try:
            values = boot_state.parse_pcrread(out, pcrs)
        except boot_state.BootStateError as e:
            raise errors.CommandExecutionError(str(e))
        result = {'bank': boot_state.BANK, 'pcrs': values}
        result.update(boot_state.read_event_log(conf.event_log_path,
                                                conf.event_log_max_bytes))
        result.update(boot_state.read_boot_aggregate(conf.ima_log_path))
        result.update(boot_state.read_kernel_cmdline(
            conf.kernel_cmdline_path))
        LOG.info('Boot state read: %(pcrs)s of the %(bank)s bank; '
                 '%(log)s; %(aggregate)s',
                 {'pcrs': values, 'bank': boot_state.BANK,
                  'log': result['event_log_note']
                  or 'UEFI event log of %d bytes' % result['event_log_size'],
                  'aggregate': result['boot_aggregate_note']
                  or 'IMA boot_aggregate %s:%s' % (
                      result['boot_aggregate_algorithm'],
                      result['boot_aggregate'])})
        return result

    def _restart(self):
        argv = CONF.keylime_agent.restart_command
        rc, out = _run(argv)
        if rc != 0:
            raise errors.CommandExecutionError(
                'the Keylime agent could not be (re)started: %s exited '
                'with %s: %s' % (' '.join(argv), rc, _tail(out)))

    def _wait_serving(self, info):
        timeout = CONF.keylime_agent.start_timeout
        if not timeout:
            return
        values = self._config()
        host = _probe_address(values.get('ip'))
        port = int(values.get('port') or agent_config.AGENT_DEFAULTS['port'])
        deadline = time.monotonic() + timeout
        while True:
            error = _serving_error(host, port)
            if error is None:
                return
            if time.monotonic() >= deadline:
                raise errors.CommandExecutionError(
                    'the Keylime agent does not answer on %s port %s '
                    '%s s after it was (re)started (%s); it may have '
                    'failed to register with the registrar at %s:%s. '
                    'See its log (journalctl -u keylime_agent).' %
                    (host, port, timeout, error, info['registrar_ip'],
                     info['registrar_port']))
            time.sleep(0.5)
