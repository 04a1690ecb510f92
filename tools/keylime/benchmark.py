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

"""Time attestations against the harness's Keylime.

Runs the same tenant commands as the ``keylime`` interface, through
ironic-keylime's own client, against a Keylime started by
``tools/keylime/harness.sh start RUNDIR``, and prints per attestation the
seconds of ``add``, from the end of ``add`` to the first verdict, of one
``status`` and of ``delete``, and the CPU seconds (user + system) that
the tenant processes cost in all. Then it sets the cost of one status
read through ``keylime_tenant -c status`` beside the same read through the
verifier's REST API (``keylime_client.verifier``, an in-process session
that keeps its connection), alternating the two on the attested agent:
CPU seconds (the tenant process's, or this process's own) and wall
seconds, medians. It prints figures and asserts nothing. Run it with a
Python that has ironic-keylime installed::

    python tools/keylime/benchmark.py RUNDIR [--runs N] [--reads N]
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

from ironic_keylime.harness import keylime_env_file
from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.keylime_client import verifier as kl_verifier
from ironic_keylime.lists import policy
from ironic_keylime.lists import prepare


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(function, *args, **kwargs):
    start = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - start


def self_cpu():
    return time.process_time()


def status_reads(tenant, client, env, reads, samples):
    """Read the verdict ``reads`` times each way, alternating.

    Appends ``(kind, cpu, wall)`` to ``samples``; kind is ``tenant``,
    ``REST`` (kept session) or ``REST new`` (a new session: TLS handshake
    and version negotiation included).
    """
    verifier = kl_tenant.Endpoint(env['VERIFIER'],
                                  int(env['VERIFIER_PORT']))
    registrar = kl_tenant.Endpoint(env['REGISTRAR'],
                                   int(env['REGISTRAR_PORT']))
    uuid = env['AGENT_UUID']
    for _ in range(reads):
        cpu, start = children_cpu(), time.monotonic()
        tenant.status(uuid, verifier, registrar)
        samples.append(('tenant', children_cpu() - cpu,
                        time.monotonic() - start))
        cpu, start = self_cpu(), time.monotonic()
        client.status(uuid)
        samples.append(('REST', self_cpu() - cpu, time.monotonic() - start))
        fresh = kl_verifier.VerifierClient(
            env['VERIFIER'], env['VERIFIER_PORT'], client.certs,
            timeout=60)
        cpu, start = self_cpu(), time.monotonic()
        fresh.status(uuid)
        samples.append(('REST new', self_cpu() - cpu,
                        time.monotonic() - start))
        fresh.close()


def print_status_costs(samples):
    print()
    print('one status read (median of %d each; CPU: user + system)'
          % (len(samples) // 3))
    print('%-44s  %9s  %9s' % ('', 'CPU s', 'wall s'))
    medians = {}
    for kind, label in (
            ('tenant', 'keylime_tenant -c status (a process)'),
            ('REST', 'REST GET, kept session (in-process)'),
            ('REST new', 'REST GET, new session (+TLS, /version)')):
        cpu = statistics.median(c for k, c, _w in samples if k == kind)
        wall = statistics.median(w for k, _c, w in samples if k == kind)
        medians[kind] = (cpu, wall)
        print('%-44s  %9.4f  %9.4f' % (label, cpu, wall))
    tenant_cpu, tenant_wall = medians['tenant']
    for kind in ('REST', 'REST new'):
        cpu, wall = medians[kind]
        print('tenant / %-8s: %6.0fx the CPU, %6.0fx the wall time'
              % (kind, tenant_cpu / max(cpu, 1e-6),
                 tenant_wall / max(wall, 1e-6)))


def attest_once(tenant, env, workdir, client=None, reads=0, samples=None):
    """One attestation: add, status until a verdict, status, delete."""
    verifier = kl_tenant.Endpoint(env['VERIFIER'],
                                  int(env['VERIFIER_PORT']))
    registrar = kl_tenant.Endpoint(env['REGISTRAR'],
                                   int(env['REGISTRAR_PORT']))
    agent = kl_tenant.Endpoint(env['AGENT_ADDRESS'], int(env['AGENT_PORT']))
    uuid = env['AGENT_UUID']
    shutil.copyfile(env['ALLOWLIST'], os.path.join(workdir, 'allowlist'))
    shutil.copyfile(env['EXCLUDELIST'], os.path.join(workdir, 'excludelist'))
    policy_path = os.path.join(workdir, prepare.RUNTIME_POLICY)
    if os.path.exists(policy_path):
        os.unlink(policy_path)
    lists = prepare.PreparedLists(
        os.path.join(workdir, 'allowlist'),
        os.path.join(workdir, 'excludelist'), policy_path,
        policy.build_runtime_policy(os.path.join(workdir, 'allowlist'),
                                    os.path.join(workdir, 'excludelist'),
                                    policy_path), workdir)
    cpu = children_cpu()
    figures = {}
    _result, figures['add'] = timed(tenant.add, uuid, agent, verifier,
                                    registrar, lists)
    start = time.monotonic()
    polls = 0
    while True:
        polls += 1
        status = tenant.status(uuid, verifier, registrar)
        if status.verdict != kl_status.PENDING:
            break
    figures['first verdict'] = time.monotonic() - start
    figures['polls'] = polls
    figures['verdict'] = status.verdict
    _status, figures['status'] = timed(tenant.status, uuid, verifier,
                                       registrar)
    figures['tenant CPU'] = children_cpu() - cpu
    if reads:
        # Not counted in the attestation's figures.
        status_reads(tenant, client, env, reads, samples)
    cpu = children_cpu()
    _result, figures['delete'] = timed(tenant.delete, uuid, verifier)
    figures['tenant CPU'] += children_cpu() - cpu
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_dir', help='the RUNDIR of harness.sh start')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--reads', type=int, default=5,
                        help='status reads each way per run (0: none)')
    args = parser.parse_args()
    env = keylime_env_file.without_prefix(
        keylime_env_file.read(args.run_dir))
    tenant = kl_tenant.Tenant(path=env['TENANT'],
                              config=env['TENANT_CONFIG'],
                              cert_dir=env['CERT_DIR'], timeout=60)
    cpu = children_cpu()
    _caps, help_time = timed(tenant.capabilities)
    print('keylime_tenant --help (once per conductor): %.2f s, '
          '%.2f CPU s' % (help_time, children_cpu() - cpu))
    columns = ('add', 'first verdict', 'status', 'delete', 'tenant CPU')
    print('run  verdict  polls  ' + '  '.join('%13s' % c for c in columns))
    runs = []
    samples = []
    client = kl_verifier.get_client(env['VERIFIER'], env['VERIFIER_PORT'],
                                    cert_dir=env['CERT_DIR'],
                                    tenant_config=env['TENANT_CONFIG'],
                                    timeout=60)
    workdir = tempfile.mkdtemp(prefix='ik-benchmark-')
    try:
        for number in range(1, args.runs + 1):
            figures = attest_once(tenant, env, workdir, client, args.reads,
                                  samples)
            runs.append(figures)
            print('%3d  %7s  %5d  ' % (number, figures['verdict'],
                                       figures['polls'])
                  + '  '.join('%13.2f' % figures[c] for c in columns))
    finally:
        shutil.rmtree(workdir)
    print('median            ' + '  '.join(
        '%13.2f' % statistics.median(f[c] for f in runs) for c in columns))
    print('(seconds; first verdict: from the end of add to the first '
          'status that is not PENDING; tenant CPU: user + system of the '
          'add, status and delete processes of the run)')
    if samples:
        print_status_costs(samples)
    return 0 if all(f['verdict'] == kl_status.PASS for f in runs) else 1


if __name__ == '__main__':
    sys.exit(main())
