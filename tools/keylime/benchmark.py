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
the tenant processes cost in all. Run it with a Python that has
ironic-keylime installed::

    python tools/keylime/benchmark.py RUNDIR [--runs N]
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.lists import policy
from ironic_keylime.lists import prepare


def read_env(run_dir):
    env = {}
    with open(os.path.join(run_dir, 'keylime.env')) as f:
        for line in f:
            if '=' in line:
                name, value = line.rstrip('\n').split('=', 1)
                env[name[len('KEYLIME_HARNESS_'):]] = value
    return env


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(function, *args, **kwargs):
    start = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - start


def attest_once(tenant, env, workdir):
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
    _result, figures['delete'] = timed(tenant.delete, uuid, verifier)
    figures['tenant CPU'] = children_cpu() - cpu
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_dir', help='the RUNDIR of harness.sh start')
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    env = read_env(args.run_dir)
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
    workdir = tempfile.mkdtemp(prefix='ik-benchmark-')
    try:
        for number in range(1, args.runs + 1):
            figures = attest_once(tenant, env, workdir)
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
    return 0 if all(f['verdict'] == kl_status.PASS for f in runs) else 1


if __name__ == '__main__':
    sys.exit(main())
