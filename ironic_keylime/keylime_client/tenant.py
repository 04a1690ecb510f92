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

"""Running ``keylime_tenant``.

The tenant is run with an argument list, never through a shell, by
oslo.concurrency, in its own process group: when it outlives its timeout,
the whole group is killed, so that a hung tenant leaves nothing behind.
"""

import collections
import os
import re
import signal
import subprocess
import threading
import time

from oslo_concurrency import processutils
from oslo_log import log as logging

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import output as tenant_output
from ironic_keylime.keylime_client import status as tenant_status

LOG = logging.getLogger(__name__)

#: ``policy_format`` values.
POLICY_AUTO = 'auto'
POLICY_RUNTIME = 'runtime-policy'
POLICY_LEGACY = 'legacy'

#: What the tenants of Keylime 7.0 and older say when ``add`` has no
#: payload; they insist on one, newer tenants do not.
_PAYLOAD_REQUIRED = 'You must specify one of -k, -f, or --cert'
_ADDED_RE = re.compile(r'added to (?:the )?(?:Verifier|CV)\b', re.IGNORECASE)
_FLAG_RE = re.compile(r'(?<![\w-])(--?[A-Za-z][\w-]*)')
#: A harmless payload for tenants that insist on delivering one.
_PAYLOAD = b'ironic-keylime: attestation only, no secret\n'

Endpoint = collections.namedtuple('Endpoint', ['host', 'port'])
Endpoint.__doc__ = 'An address and a port of a Keylime service or agent.'

CommandResult = collections.namedtuple(
    'CommandResult', ['returncode', 'stdout', 'stderr', 'elapsed'])

Capabilities = collections.namedtuple(
    'Capabilities', ['service_ports', 'runtime_policy', 'tpm_policy'])
Capabilities.__doc__ = """What a keylime_tenant supports.

:ivar service_ports: ``-vp``, ``-r`` and ``-rp`` (Keylime 6.2 and newer).
:ivar runtime_policy: ``--runtime-policy`` (Keylime 6.6 and newer).
:ivar tpm_policy: ``--tpm_policy`` (Keylime 6.x and 7.x).
"""

PreparedLists = collections.namedtuple(
    'PreparedLists', ['allowlist', 'excludelist', 'workdir'])
PreparedLists.__doc__ = """Verified lists, ready for keylime_tenant.

:ivar allowlist: path of the flat allowlist.
:ivar excludelist: path of the excludelist, or None.
:ivar workdir: the private directory both live in; files the tenant needs
    besides them (a runtime policy, a payload) are written there too.
"""

# Facts learnt about a tenant executable, by its path.
_capabilities = {}
_needs_payload = set()
_lock = threading.Lock()


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        LOG.error('keylime_tenant (pid %s) did not die after SIGKILL',
                  process.pid)


class Tenant(object):
    """A ``keylime_tenant`` executable and how to run it.

    :param path: the executable, a path or a name looked up in PATH.
    :param config: a tenant.conf, or None for the tenant's default.
    :param cert_dir: the directory of the verifier's CA and client
        certificate, or None for the tenant's own setting.
    :param timeout: seconds a command may run before it is killed.
    """

    def __init__(self, path='keylime_tenant', config=None, cert_dir=None,
                 timeout=60):
        self.path = path
        self.config = config or None
        self.cert_dir = cert_dir or None
        self.timeout = timeout

    def environment(self):
        """The environment of the tenant process."""
        env = dict(os.environ)
        if self.config:
            env['KEYLIME_TENANT_CONFIG'] = self.config
        if self.cert_dir:
            env['KEYLIME_TENANT_TLS_DIR'] = self.cert_dir
            # trusted_server_ca = default means KEYLIME_DIR/cv_ca, not
            # tls_dir (keylime.web_util.get_tls_options): name the CA too.
            env['KEYLIME_TENANT_TRUSTED_SERVER_CA'] = repr(
                [os.path.join(self.cert_dir, 'cacert.crt')])
        return env

    def run(self, args):
        """Run the tenant with ``args`` and wait for it.

        :param args: the arguments, a list of strings.
        :returns: a :class:`CommandResult`.
        :raises: TenantNotFound if the executable cannot be started.
        :raises: TenantTimeout if it ran longer than ``timeout``; it was
            killed with every process of its group.
        """
        argv = [self.path] + [str(a) for a in args]
        started = {}

        def remember(process):
            started['process'] = process

        def remember_code(process):
            started['returncode'] = process.returncode

        begin = time.monotonic()
        try:
            stdout, stderr = processutils.execute(
                *argv, check_exit_code=False, env_variables=self.environment(),
                timeout=self.timeout, preexec_fn=os.setsid,
                on_execute=remember, on_completion=remember_code,
                loglevel=logging.DEBUG)
        except subprocess.TimeoutExpired:
            _kill_group(started['process'])
            raise exception.TenantTimeout(
                'keylime_tenant %(args)s did not finish within '
                '[keylime]command_timeout (%(timeout)s s) and was killed. '
                'Check that the Keylime verifier and registrar answer.' %
                {'args': ' '.join(argv[1:3]), 'timeout': self.timeout})
        except OSError as e:
            raise exception.TenantNotFound(
                'keylime_tenant could not be started from %(path)r '
                '(%(err)s). Install Keylime\'s tenant on the conductor and '
                'set [keylime]tenant_path.' % {'path': self.path, 'err': e})
        finally:
            process = started.get('process')
            if process is not None and process.poll() is None:
                _kill_group(process)
        elapsed = time.monotonic() - begin
        returncode = started.get('returncode')
        LOG.debug('keylime_tenant %(args)s exited with %(rc)s after '
                  '%(t).2f s', {'args': ' '.join(argv[1:3]),
                                'rc': returncode, 't': elapsed})
        return CommandResult(returncode, stdout, stderr, elapsed)

    def capabilities(self):
        """Learn what this tenant supports from its ``--help``.

        The answer is kept for the life of the process.

        :returns: :class:`Capabilities`.
        :raises: KeylimeError if the help cannot be read.
        """
        with _lock:
            known = _capabilities.get(self.path)
        if known:
            return known
        result = self.run(['--help'])
        flags = set(_FLAG_RE.findall(result.stdout))
        if result.returncode != 0 or '--uuid' not in flags:
            raise exception.TenantCommandFailed(
                'keylime_tenant --help from %r did not describe a Keylime '
                'tenant (exit code %s).' % (self.path, result.returncode))
        caps = Capabilities(service_ports='-vp' in flags,
                            runtime_policy='--runtime-policy' in flags,
                            tpm_policy='--tpm_policy' in flags)
        with _lock:
            _capabilities[self.path] = caps
        return caps

    def _service_args(self, verifier, registrar):
        args = ['-v', verifier.host]
        if self.capabilities().service_ports:
            args += ['-vp', verifier.port]
            if registrar is not None:
                args += ['-r', registrar.host, '-rp', registrar.port]
        elif verifier.port != 8881 or (registrar and registrar.port != 8891):
            raise exception.KeylimeError(
                'This keylime_tenant (before Keylime 6.2) cannot be given '
                'the verifier and registrar ports; upgrade it or use the '
                'default ports.')
        return args

    def _list_args(self, lists, policy_format):
        use_policy = policy_format == POLICY_RUNTIME or (
            policy_format == POLICY_AUTO
            and self.capabilities().runtime_policy)
        if not use_policy:
            args = ['--allowlist', lists.allowlist]
            if lists.excludelist:
                args += ['--exclude', lists.excludelist]
            return args
        # Imported here: building a policy is only needed on this path.
        from ironic_keylime.keylime_client import lists as kl_lists
        policy = os.path.join(lists.workdir, 'runtime_policy.json')
        if os.path.exists(policy):
            os.unlink(policy)
        checksum = kl_lists.build_runtime_policy(
            lists.allowlist, lists.excludelist, policy)
        return ['--runtime-policy', policy,
                '--runtime-policy-checksum', checksum]

    def _payload_args(self, workdir):
        payload = os.path.join(workdir, 'payload')
        if not os.path.exists(payload):
            from ironic_keylime.keylime_client import lists as kl_lists
            with kl_lists.open_private(payload) as f:
                f.write(_PAYLOAD)
        return ['-f', payload]

    def _check(self, result, command, services):
        text = '%s\n%s' % (result.stdout, result.stderr)
        failure = tenant_output.find_failure(text, services, command)
        if failure is not None:
            raise failure
        return text

    def _tpm_policy_args(self, tpm_policy):
        if tpm_policy is None:
            return []
        if not self.capabilities().tpm_policy:
            raise exception.KeylimeError(
                'This keylime_tenant (%s) has no --tpm_policy option and '
                'cannot send the node\'s TPM policy.' % self.path)
        return ['--tpm_policy', tpm_policy]

    def add(self, agent_uuid, agent, verifier, registrar, lists,
            policy_format=POLICY_AUTO, tpm_policy=None):
        """Add an agent to the verifier with the lists as its policy.

        :param agent_uuid: the agent's UUID.
        :param agent: the agent's :class:`Endpoint`.
        :param verifier: the verifier's :class:`Endpoint`.
        :param registrar: the registrar's :class:`Endpoint`.
        :param lists: :class:`PreparedLists`, already verified.
        :param policy_format: ``auto``, ``runtime-policy`` or ``legacy``.
        :param tpm_policy: a TPM policy, JSON text in the tenant's format
            (``{"<pcr>": ["<digest>", ...]}``), or None for none.
        :returns: the :class:`CommandResult`.
        :raises: KeylimeError (a subclass naming the cause) on failure,
            also when a TPM policy is given to a tenant without
            ``--tpm_policy``.
        """
        args = (['-c', 'add', '-t', agent.host, '-tp', agent.port,
                 '-u', agent_uuid]
                + self._service_args(verifier, registrar)
                + self._list_args(lists, policy_format)
                + self._tpm_policy_args(tpm_policy))
        if self.path in _needs_payload:
            args += self._payload_args(lists.workdir)
        result = self.run(args)
        if _PAYLOAD_REQUIRED in result.stdout + result.stderr:
            with _lock:
                _needs_payload.add(self.path)
            result = self.run(args + self._payload_args(lists.workdir))
        services = {'verifier': verifier, 'registrar': registrar,
                    'agent': agent}
        text = self._check(result, 'add', services)
        if result.returncode != 0 or not _ADDED_RE.search(text):
            raise tenant_output.command_failed(text, result.returncode,
                                               'add')
        return result

    def status(self, agent_uuid, verifier, registrar):
        """Ask the verifier for an agent's verdict.

        :param agent_uuid: the agent's UUID.
        :param verifier: the verifier's :class:`Endpoint`.
        :param registrar: the registrar's :class:`Endpoint`.
        :returns: a :class:`ironic_keylime.keylime_client.status.AgentStatus`.
        :raises: AgentNotFound, ServiceUnreachable, UnparsableOutput or
            another KeylimeError; never a verdict by default.
        """
        args = (['-c', 'status', '-u', agent_uuid]
                + self._service_args(verifier, registrar))
        result = self.run(args)
        services = {'verifier': verifier, 'registrar': registrar}
        self._check(result, 'status', services)
        try:
            return tenant_status.parse_status(result.stdout, agent_uuid)
        except exception.UnparsableOutput as e:
            errors = tenant_output.error_lines(result.stdout + '\n'
                                               + result.stderr)
            if errors or result.returncode:
                raise tenant_output.command_failed(
                    result.stdout + '\n' + result.stderr,
                    result.returncode, 'status')
            raise e

    def delete(self, agent_uuid, verifier):
        """Remove an agent from the verifier; an unknown agent is fine.

        :param agent_uuid: the agent's UUID.
        :param verifier: the verifier's :class:`Endpoint`.
        :returns: the :class:`CommandResult`.
        :raises: KeylimeError if the verifier may still hold the agent.
        """
        args = ['-c', 'delete', '-u', agent_uuid] + self._service_args(
            verifier, None)
        result = self.run(args)
        try:
            text = self._check(result, 'delete', {'verifier': verifier})
        except exception.AgentNotFound:
            return result
        if result.returncode != 0 or tenant_output.error_lines(text):
            raise tenant_output.command_failed(text, result.returncode,
                                               'delete')
        return result
