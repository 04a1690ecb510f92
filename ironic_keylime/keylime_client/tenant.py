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

The tenant is run by :mod:`.process`: an argument list, never a shell,
its own process group, killed whole when the tenant outlives its timeout
or prints more than its bound (Keylime 7.14's tenant prints the agent's
answer, which a tampered ramdisk controls). Its environment is the
conductor's without any ``KEYLIME_*`` variable, plus the few this module
sets: nothing in the conductor's environment can point the tenant at
another verifier or other certificates.
"""

import collections
import contextlib
import os
import re
import tempfile
import threading

from oslo_log import log as logging

from ironic_keylime.keylime_client import ek_check
from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import output as tenant_output
from ironic_keylime.keylime_client import process as kl_process
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
    'Capabilities', ['service_ports', 'runtime_policy', 'tpm_policy',
                     'mb_policy'])
Capabilities.__doc__ = """What a keylime_tenant supports.

:ivar service_ports: ``-vp``, ``-r`` and ``-rp`` (Keylime 6.2 and newer).
:ivar runtime_policy: ``--runtime-policy`` (Keylime 6.6 and newer).
:ivar tpm_policy: ``--tpm_policy`` (Keylime 6.x and 7.x).
:ivar mb_policy: ``--mb-policy``, a measured-boot policy file (Keylime
    7.12 and newer; 6.x has only the PCR policy).
"""

# Facts learnt about a tenant executable, by its path.
_capabilities = {}
_needs_payload = set()
_lock = threading.Lock()


#: Keylime reads these from the environment (KEYLIME_DIR,
#: KEYLIME_TENANT_<OPTION>, KEYLIME_TEST ...): only ours reach the tenant.
_KEYLIME_ENV_PREFIX = 'KEYLIME_'


class Tenant(object):
    """A ``keylime_tenant`` executable and how to run it.

    :param path: the executable, a path or a name looked up in PATH.
    :param config: a tenant.conf, or None for the tenant's default.
    :param cert_dir: the directory of the verifier's CA and client
        certificate, or None for the tenant's own setting.
    :param timeout: seconds a command may run before it is killed.
    :param setting_names: how the caller's configuration names ``path``,
        ``cert_dir``, ``timeout``, ``ek_check_script`` and ``max_output``,
        for error messages (a dict; the defaults name them in plain
        words). This client knows nothing of the caller's options.
    :param ek_check_script: the ``ironic-keylime-ek-check`` command
        (:mod:`.ek_check`), needed by ``add`` with ``ek_sha256``.
    :param max_output: bytes a command may print (standard output and
        error together) before it is killed.
    """

    DEFAULT_SETTING_NAMES = {'path': 'the path of keylime_tenant',
                             'cert_dir': 'the tenant\'s certificate '
                                         'directory',
                             'timeout': 'the command timeout',
                             'ek_check_script': 'the path of '
                                                'ironic-keylime-ek-check',
                             'max_output': 'the output bound'}

    def __init__(self, path='keylime_tenant', config=None, cert_dir=None,
                 timeout=60, setting_names=None, ek_check_script=None,
                 max_output=kl_process.DEFAULT_MAX_OUTPUT):
        self.path = path
        self.ek_check_script = ek_check_script
        self.config = config or None
        self.cert_dir = cert_dir or None
        self.timeout = timeout
        self.max_output = max_output
        self.setting_names = dict(self.DEFAULT_SETTING_NAMES,
                                  **(setting_names or {}))

    def environment(self):
        """The environment of the tenant process.

        The conductor's own environment without its ``KEYLIME_*``
        variables (in any case), then the variables for ``config`` and
        ``cert_dir``.
        """
        env = {name: value for name, value in os.environ.items()
               if not name.upper().startswith(_KEYLIME_ENV_PREFIX)}
        if self.config:
            env['KEYLIME_TENANT_CONFIG'] = self.config
        if self.cert_dir:
            env['KEYLIME_TENANT_TLS_DIR'] = self.cert_dir
            # trusted_server_ca = default means KEYLIME_DIR/cv_ca, not
            # tls_dir (keylime.web_util.get_tls_options): name the CA too.
            env['KEYLIME_TENANT_TRUSTED_SERVER_CA'] = repr(
                [os.path.join(self.cert_dir, 'cacert.crt')])
        return env

    def run(self, args, extra_env=None):
        """Run the tenant with ``args`` and wait for it.

        :param args: the arguments, a list of strings.
        :param extra_env: more environment variables for this run, or
            None.
        :returns: a :class:`CommandResult`.
        :raises: TenantNotFound if the executable cannot be started.
        :raises: TenantTimeout if it ran longer than ``timeout``, or
            OutputTooLarge if it printed more than ``max_output``; it was
            killed with every process of its group.
        """
        argv = [self.path] + [str(a) for a in args]
        LOG.debug('Running keylime_tenant %s', ' '.join(argv[1:3]))
        try:
            finished = kl_process.run(
                argv, self.timeout, self.max_output,
                env=dict(self.environment(), **(extra_env or {})))
        except OSError as e:
            raise exception.TenantNotFound(
                'keylime_tenant could not be started from %(path)r '
                '(%(err)s). Install Keylime\'s tenant on the conductor and '
                'set %(setting)s.' % {'path': self.path, 'err': e,
                                      'setting': self.setting_names['path']})
        except kl_process.Timeout:
            raise exception.TenantTimeout(
                'keylime_tenant %(args)s did not finish within '
                '%(setting)s (%(timeout)s s) and was killed. Check that '
                'the Keylime verifier and registrar answer.' %
                {'args': ' '.join(argv[1:3]), 'timeout': self.timeout,
                 'setting': self.setting_names['timeout']})
        except kl_process.OutputTooLarge:
            raise exception.OutputTooLarge(
                'keylime_tenant %(args)s printed more than %(size)d bytes '
                '(%(setting)s) and was killed with every process it '
                'started; nothing it printed was used. Keylime\'s tenant '
                'prints what the node\'s agent answers: a node whose agent '
                'answers that much is suspect. Raise %(setting)s only if '
                'a genuine answer is that large.' %
                {'args': ' '.join(argv[1:3]), 'size': self.max_output,
                 'setting': self.setting_names['max_output']})
        LOG.debug('keylime_tenant %(args)s exited with %(rc)s after '
                  '%(t).2f s', {'args': ' '.join(argv[1:3]),
                                'rc': finished.returncode,
                                't': finished.elapsed})
        return CommandResult(finished.returncode,
                             os.fsdecode(finished.stdout),
                             os.fsdecode(finished.stderr), finished.elapsed)

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
                            tpm_policy='--tpm_policy' in flags,
                            mb_policy='--mb-policy' in flags)
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

    def uses_runtime_policy(self, policy_format=POLICY_AUTO):
        """Say whether ``add`` should be given a runtime policy.

        :param policy_format: ``auto``, ``runtime-policy`` or ``legacy``.
        :returns: True for a runtime policy, False for the legacy
            ``--allowlist`` and ``--exclude`` files.
        :raises: KeylimeError if ``auto`` needs the tenant's help and it
            cannot be read.
        """
        if policy_format == POLICY_AUTO:
            return self.capabilities().runtime_policy
        return policy_format == POLICY_RUNTIME

    @staticmethod
    def _list_args(lists):
        if lists.runtime_policy:
            return ['--runtime-policy', lists.runtime_policy,
                    '--runtime-policy-checksum', lists.runtime_policy_sha256]
        args = ['--allowlist', lists.allowlist]
        if lists.excludelist:
            args += ['--exclude', lists.excludelist]
        return args

    @staticmethod
    @contextlib.contextmanager
    def _payload_args():
        """The ``-f`` argument of a harmless payload, in a private file.

        The file lives in a directory of its own, removed on exit.
        """
        with tempfile.TemporaryDirectory(prefix='ironic-keylime-') as tmp:
            payload = os.path.join(tmp, 'payload')
            fd = os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
            with os.fdopen(fd, 'wb') as f:
                f.write(_PAYLOAD)
            yield ['-f', payload]

    def _check(self, result, command, services):
        text = '%s\n%s' % (result.stdout, result.stderr)
        failure = tenant_output.find_failure(
            text, services, command,
            cert_dir_setting=self.setting_names['cert_dir'])
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

    def _mb_policy_args(self, mb_policy):
        if mb_policy is None:
            return []
        if not self.capabilities().mb_policy:
            raise exception.KeylimeError(
                'This keylime_tenant (%s) has no --mb-policy option '
                '(Keylime before 7.12) and cannot send the node\'s '
                'measured-boot policy; only its PCR policy applies '
                'there.' % self.path)
        return ['--mb-policy', mb_policy]

    def add(self, agent_uuid, agent, verifier, registrar, lists,
            tpm_policy=None, mb_policy=None, ek_sha256=None):
        """Add an agent to the verifier with the lists as its policy.

        :param agent_uuid: the agent's UUID.
        :param agent: the agent's :class:`Endpoint`.
        :param verifier: the verifier's :class:`Endpoint`.
        :param registrar: the registrar's :class:`Endpoint`.
        :param lists: the verified files to give the tenant: an object
            with ``runtime_policy`` and ``runtime_policy_sha256`` (None
            for the legacy files), ``allowlist`` and ``excludelist``
            (None when there is none), such as
            :class:`ironic_keylime.lists.prepare.PreparedLists`. Nothing
            is written next to them.
        :param tpm_policy: a TPM policy, JSON text in the tenant's format
            (``{"<pcr>": ["<digest>", ...]}``), or None for none.
        :param mb_policy: the path of a measured-boot policy file (see
            :mod:`.mb_policy`), or None for none.
        :param ek_sha256: the fingerprint the EK of the tenant's own
            registrar read must have (checked by ``ek_check_script``, see
            :mod:`.ek_check`), or None not to check it.
        :returns: the :class:`CommandResult`.
        :raises: EndorsementKeyChanged when the tenant read another EK;
            EndorsementKeyNotChecked when it did not check it.
        :raises: KeylimeError (a subclass naming the cause) on failure,
            also when a TPM policy is given to a tenant without
            ``--tpm_policy`` or a measured-boot policy to one without
            ``--mb-policy``.
        """
        args = (['-c', 'add', '-t', agent.host, '-tp', agent.port,
                 '-u', agent_uuid]
                + self._service_args(verifier, registrar)
                + self._list_args(lists)
                + self._tpm_policy_args(tpm_policy)
                + self._mb_policy_args(mb_policy))
        with self._payload_args() as payload_args, \
                self._ek_check(ek_sha256) as (env, ek_result):
            if self.path in _needs_payload:
                args += payload_args
            result = self._run_add(args, env, ek_result)
            if _PAYLOAD_REQUIRED in result.stdout + result.stderr:
                with _lock:
                    _needs_payload.add(self.path)
                result = self._run_add(args + payload_args, env, ek_result)
            text = '%s\n%s' % (result.stdout, result.stderr)
            if ek_result:
                ek_check.read_result(
                    ek_result, agent_uuid, ek_sha256,
                    result.returncode == 0 and bool(_ADDED_RE.search(text)))
        services = {'verifier': verifier, 'registrar': registrar,
                    'agent': agent}
        text = self._check(result, 'add', services)
        if result.returncode != 0 or not _ADDED_RE.search(text):
            raise tenant_output.command_failed(text, result.returncode,
                                               'add')
        return result

    @contextlib.contextmanager
    def _ek_check(self, ek_sha256):
        if not ek_sha256:
            yield None, None
            return
        with ek_check.prepared(self.ek_check_script, ek_sha256,
                               self.setting_names['ek_check_script']) as p:
            yield p

    def _run_add(self, args, env, ek_result):
        if ek_result:
            ek_check.forget_result(ek_result)
        return self.run(args, extra_env=env)

    def status(self, agent_uuid, verifier, registrar, since=None):
        """Ask the verifier for an agent's verdict.

        :param agent_uuid: the agent's UUID.
        :param verifier: the verifier's :class:`Endpoint`.
        :param registrar: the registrar's :class:`Endpoint`.
        :param since: when this attempt started, a ``datetime`` (naive
            means UTC) or seconds since the epoch, or None; see
            :func:`ironic_keylime.keylime_client.status.status_from_record`.
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
            return tenant_status.parse_status(result.stdout, agent_uuid,
                                              since=since)
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
