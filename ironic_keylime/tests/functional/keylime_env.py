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

"""The real Keylime of the functional tests (tools/keylime/harness.sh).

``tools/functional.sh`` starts it and exports ``RUNDIR/keylime.env``;
these helpers read that environment, configure ``[keylime]`` for the real
7.14.3 tenant, write the lists as an administrator would, run the
harness's subcommands (tamper, reset, stop or start a service), ask the
verifier for its agents with the real tenant, and find what a test may
have left behind.
"""

import functools
import json
import os
import signal
import subprocess
import tempfile

from ironic_keylime.harness import keylime_env_file
from ironic_keylime.lists import policy
from ironic_keylime.lists import prepare


_HARNESS = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                        'tools', 'keylime', 'harness.sh')
_AGENT_LIST_MARKER = 'Agent list from Verifier'


def available():
    """Say whether a harness Keylime was started for these tests."""
    return all(os.environ.get(name) for name in keylime_env_file.REQUIRED)


def env(name):
    """One value of keylime.env.

    :param name: the name without the ``KEYLIME_HARNESS_`` prefix.
    """
    return os.environ['KEYLIME_HARNESS_' + name]


def configure(test, **overrides):
    """Point ``[keylime]`` at the real tenant and the harness's certs.

    The tenant's own KEYLIME_DIR holds no certificates: it only reaches
    Keylime through ``[keylime]tenant_cert_dir``.

    :param test: an Ironic TestCase.
    :param overrides: more ``[keylime]`` options.
    """
    options = dict(tenant_path=env('TENANT'),
                   tenant_config=env('TENANT_CONFIG'),
                   tenant_cert_dir=env('CERT_DIR'),
                   command_timeout=30,
                   status_poll_interval=1,
                   attestation_timeout=60)
    options.update(overrides)
    test.config(group='keylime', **options)


def write_lists(directory, checksum=None):
    """Copy the harness's lists into ``directory``, as an admin would.

    :param directory: where to write them (:func:`.keylime_env_file.
        write_lists`).
    :param checksum: the allowlist checksum to write; by default the right
        one.
    :returns: a dict of the ``keylime_*`` driver_info keys of the lists.
    """
    paths = keylime_env_file.write_lists(directory, os.environ, checksum)
    return dict(zip(('keylime_allowlist', 'keylime_allowlist_checksum',
                     'keylime_excludelist', 'keylime_excludelist_checksum'),
                    paths))


def prepared_lists(directory):
    """The harness's lists, prepared as the conductor prepares them.

    A runtime policy, for the tests that call the tenant directly.

    :param directory: a private directory of the test.
    :returns: :class:`ironic_keylime.lists.prepare.PreparedLists`.
    """
    info = write_lists(directory)
    runtime_policy = os.path.join(directory, prepare.RUNTIME_POLICY)
    return prepare.PreparedLists(
        info['keylime_allowlist'], info['keylime_excludelist'],
        runtime_policy,
        policy.build_runtime_policy(info['keylime_allowlist'],
                                    info['keylime_excludelist'],
                                    runtime_policy),
        directory)


def driver_info(lists, **overrides):
    """The driver_info of a node attested by the harness's agent.

    :param lists: the ``keylime_*`` keys of the lists (write_lists).
    :param overrides: other keys, e.g. another ``keylime_agent_uuid``.
    """
    info = {'keylime_v': env('VERIFIER'),
            'keylime_vp': int(env('VERIFIER_PORT')),
            'keylime_r': env('REGISTRAR'),
            'keylime_rp': int(env('REGISTRAR_PORT')),
            'keylime_agent_uuid': env('AGENT_UUID'),
            'keylime_agent_address': env('AGENT_ADDRESS'),
            'keylime_agent_port': int(env('AGENT_PORT'))}
    info.update(lists)
    info.update(overrides)
    return info


def agents():
    """Every agent of the harness, agent 1 first.

    ``harness.sh start --agents N`` starts N agents, each on its own
    swtpm; agent 1 is the one of ``AGENT_*``.

    :returns: a list of dicts with ``uuid``, ``address``, ``port``,
        ``tcti`` and ``ima_log``.
    """
    count = int(os.environ.get('KEYLIME_HARNESS_AGENTS', '1'))
    found = []
    for k in range(1, count + 1):
        prefix = 'AGENT_%d_' % k
        if not os.environ.get('KEYLIME_HARNESS_' + prefix + 'UUID'):
            break  # a keylime.env of a single-agent harness
        found.append({'uuid': env(prefix + 'UUID'),
                      'address': env('AGENT_ADDRESS'),
                      'port': int(env(prefix + 'PORT')),
                      'tcti': env(prefix + 'TCTI'),
                      'ima_log': env(prefix + 'IMA_LOG')})
    return found or [{'uuid': env('AGENT_UUID'),
                      'address': env('AGENT_ADDRESS'),
                      'port': int(env('AGENT_PORT')), 'tcti': tcti(),
                      'ima_log': env('IMA_LOG')}]


def verifier_ports():
    """The ports of the harness's verifiers (one or two), first first."""
    ports = [int(env('VERIFIER_PORT'))]
    if os.environ.get('KEYLIME_HARNESS_VERIFIER2_PORT'):
        ports.append(int(env('VERIFIER2_PORT')))
    return ports


def tcti():
    """The TCTI of the harness's swtpm, for tpm2-tools."""
    return os.environ.get('KEYLIME_HARNESS_TPM2TOOLS_TCTI',
                          'swtpm:host=127.0.0.1,port=2321')


def pcr_extend(pcr, digest):
    """Extend a PCR of the harness's swtpm (SHA-256 bank), as firmware would.

    Irreversible until the swtpm restarts: ``harness('reset')``.
    """
    subprocess.run(['tpm2_pcrextend', '%d:sha256=%s' % (pcr, digest)],
                   env=dict(os.environ, TPM2TOOLS_TCTI=tcti()), check=True,
                   timeout=30, capture_output=True)


def pcr_read(pcrs):
    """The SHA-256 PCRs of the harness's swtpm, read with tpm2_pcrread.

    Read in binary (``-o``: the digests one after the other, in PCR
    order), not through the text parser the extension uses.

    :param pcrs: PCR numbers, in increasing order.
    :returns: ``{"<pcr>": "<lower-case hex>"}``.
    """
    with tempfile.TemporaryDirectory(prefix='ik-pcrs-') as tmp:
        out = os.path.join(tmp, 'pcrs')
        subprocess.run(['tpm2_pcrread', '-o', out,
                        'sha256:%s' % ','.join(map(str, pcrs))],
                       env=dict(os.environ, TPM2TOOLS_TCTI=tcti()),
                       check=True, timeout=30, capture_output=True)
        with open(out, 'rb') as f:
            data = f.read()
    assert len(data) == 32 * len(pcrs), len(data)
    return {str(pcr): data[32 * i:32 * (i + 1)].hex()
            for i, pcr in enumerate(pcrs)}


def harness(*args):
    """Run a subcommand of the harness on the running Keylime.

    :param args: the subcommand and its arguments after RUNDIR, e.g.
        ``('tamper', '/usr/local/bin/evil')``.
    """
    argv = [_HARNESS, args[0], env('DIR')] + list(args[1:])
    subprocess.run(argv, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


def freeze(service):
    """Freeze a service of the harness (SIGSTOP to its process group).

    It still accepts connections but never answers. Returns the function
    that lets it go on.

    :param service: ``verifier``, ``registrar`` or ``agent``.
    """
    with open(os.path.join(env('DIR'), 'pids', service)) as f:
        group = int(f.read())
    os.killpg(group, signal.SIGSTOP)
    return functools.partial(os.killpg, group, signal.SIGCONT)


def tenant_environment():
    """The environment the conductor gives the tenant, for the helpers."""
    environ = dict(os.environ)
    environ.update({
        'KEYLIME_TENANT_CONFIG': env('TENANT_CONFIG'),
        'KEYLIME_TENANT_TLS_DIR': env('CERT_DIR'),
        'KEYLIME_TENANT_TRUSTED_SERVER_CA': repr(
            [os.path.join(env('CERT_DIR'), 'cacert.crt')])})
    return environ


def verifier_agents(port=None):
    """The UUIDs of the agents a verifier holds (tenant ``-c cvlist``).

    :param port: the verifier's port; by default the first verifier.
    :raises: AssertionError when the tenant prints no list.
    """
    result = subprocess.run(
        [env('TENANT'), '-c', 'cvlist', '-v', env('VERIFIER'),
         '-vp', str(port or env('VERIFIER_PORT'))],
        env=tenant_environment(), capture_output=True, text=True,
        timeout=60)
    lines = result.stdout.splitlines()
    for index, line in enumerate(lines[:-1]):
        if _AGENT_LIST_MARKER in line:
            uuids = json.loads(lines[index + 1])['uuids']
            # 7.x prints a list of lists.
            return sorted(u[0] if isinstance(u, list) else u for u in uuids)
    raise AssertionError('keylime_tenant -c cvlist printed no agent list '
                         '(exit code %s):\n%s' % (result.returncode,
                                                  result.stdout[-2000:]))


def delete_agent(uuid=None):
    """Remove an agent from the verifier with the real tenant."""
    subprocess.run(
        [env('TENANT'), '-c', 'delete', '-u', uuid or env('AGENT_UUID'),
         '-v', env('VERIFIER'), '-vp', env('VERIFIER_PORT')],
        env=tenant_environment(), capture_output=True, timeout=60)


def processes_with(marker):
    """PIDs of live processes that hold ``marker``.

    Looks in the command line and the environment; zombies are dead.
    """
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    continue
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                data = f.read()
            with open('/proc/%s/environ' % name, 'rb') as f:
                data += f.read()
        except OSError:
            continue
        if marker.encode() in data:
            found.append(int(name))
    return found


def tenant_processes():
    """PIDs of tenants run with the harness's tenant wrapper."""
    return processes_with('KEYLIME_DIR=%s' % os.path.join(env('DIR'),
                                                          'tenant-home'))


def registrar_endpoint():
    """The registrar's TLS endpoint (host, port) of the harness."""
    return (env('REGISTRAR'), int(env('REGISTRAR_PORT')))
