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

"""Clean N nodes at once on a real Ironic against the harness's Keylime.

Starts a real all-in-one Ironic (``ironic-attest``, sqlite, fake-hardware
nodes with the ``keylime`` attestation interface) per verifier API, gives
node K the harness's agent K, and for each fleet size N makes N nodes
manageable, asks ``provide`` for all of them at once and waits until the
last one is ``available``. It prints per size and API: the wall time from
the first ``provide`` to the last node ``available`` and its ratio to N =
1, the CPU seconds of the Ironic process group (conductor and API in one
process) and of the tenants it ran, the ``keylime_tenant`` processes
started per node (a wrapper logs each start), and the peak number of
nodes whose attestation work held a task at the same time (from the
conductor's lock log lines) and of tenants running at the same time.
With ``--apis none`` among the APIs, the same Ironic runs nodes with
the ``no-attestation`` interface (same driver_info otherwise) as the
baseline, and it prints per size the Ironic CPU each keylime node adds
over it. Then it runs ``benchmark.py --reads`` for the cost of one
status read, tenant beside REST. It prints figures and asserts nothing::

    python tools/keylime/fleet_benchmark.py RUNDIR [--sizes 1,5,10,20]
        [--apis none,tenant,rest] [--set keylime.max_concurrent_checks=8]

RUNDIR is a harness started with at least max(sizes) agents.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file

import proc_cpu

HERE = os.path.dirname(os.path.abspath(__file__))
#: The --apis value for the baseline: no-attestation nodes.
NONE = 'none'

#: The tenant the conductor runs: logs its start and end, then the
#: harness's tenant (argv only, no shell evaluation of the arguments).
WRAPPER = """#!/bin/sh
echo "start $(date +%%s.%%N) $$ $*" >>%(log)s
%(tenant)s "$@"
rc=$?
echo "end $(date +%%s.%%N) $$" >>%(log)s
exit $rc
"""
_LOCK_RE = re.compile(
    r'^(\S+ \S+) .*(?:Attempting to get \w+ lock on node (\S+) \(for '
    r'([^)]*Keylime[^)]*)\)|Successfully released \w+ lock for '
    r'([^)]*?Keylime.*?) on node (\S+) )')


def peak_overlap(intervals):
    events = sorted([(s, 1) for s, _e in intervals]
                    + [(e, -1) for _s, e in intervals])
    peak = current = 0
    for _t, step in events:
        current += step
        peak = max(peak, current)
    return peak


def lock_intervals(log_file, start_offset):
    """Intervals in which a node's Keylime work held its task."""
    opened = {}
    intervals = []
    with open(log_file, errors='replace') as f:
        f.seek(start_offset)
        for line in f:
            m = _LOCK_RE.match(line)
            if not m:
                continue
            stamp = time.mktime(time.strptime(m.group(1)[:19],
                                              '%Y-%m-%d %H:%M:%S'))
            stamp += float('0' + m.group(1)[19:])
            if m.group(2):
                opened[m.group(2)] = stamp
            elif m.group(5) in opened:
                intervals.append((opened.pop(m.group(5)), stamp))
    return intervals


def tenant_log(path, offset):
    """Tenant starts (not --help) and run intervals after offset."""
    starts, begun, intervals = 0, {}, []
    with open(path) as f:
        f.seek(offset)
        for line in f:
            parts = line.split()
            if parts[0] == 'start':
                if '--help' not in parts[3:]:
                    starts += 1
                begun[parts[2]] = float(parts[1])
            elif parts[0] == 'end' and parts[2] in begun:
                intervals.append((begun.pop(parts[2]), float(parts[1])))
    return starts, intervals


def run_size(ironic, env, lists, size, tenant_log_path, interface):
    nodes = []
    for k in range(1, size + 1):
        info = ironic.keylime_driver_info(lists)
        info['attestation_interface'] = interface
        info.update(
            keylime_agent_uuid=env['KEYLIME_HARNESS_AGENT_%d_UUID' % k],
            keylime_agent_port=int(env['KEYLIME_HARNESS_AGENT_%d_PORT'
                                       % k]))
        nodes.append(ironic.create_node('fleet-%d-%d' % (size, k), info))
    pgid = ironic.process.pid
    cpu_before = proc_cpu.group_cpu(pgid)
    log_offset = os.path.getsize(ironic.log_file)
    tenant_offset = os.path.getsize(tenant_log_path)
    start = time.monotonic()
    for node in nodes:
        ironic.conn.baremetal.set_node_provision_state(node.id, 'provide')
    failed = []
    for node in nodes:
        try:
            ironic.wait_state(node.id, 'available', timeout=900)
        except ironic_env.IronicError as e:
            failed.append(str(e))
    wall = time.monotonic() - start
    cpu_after = proc_cpu.group_cpu(pgid)
    starts, tenant_runs = tenant_log(tenant_log_path, tenant_offset)
    figures = {
        'wall': wall,
        'cpu': cpu_after[0] - cpu_before[0],
        'tenant_cpu': cpu_after[1] - cpu_before[1],
        'tenants_per_node': starts / size,
        'peak_checks': peak_overlap(lock_intervals(ironic.log_file,
                                                   log_offset)),
        'peak_tenants': peak_overlap(tenant_runs),
        'failed': failed,
    }
    for node in nodes:
        ironic.conn.baremetal.delete_node(node.id)
    return figures


def run_api(api, env, sizes, settings, workdir):
    ironic_dir = os.path.join(workdir, api)
    os.makedirs(ironic_dir)
    tenant_log_path = os.path.join(ironic_dir, 'tenants.log')
    open(tenant_log_path, 'w').close()
    wrapper = os.path.join(ironic_dir, 'keylime_tenant')
    with open(wrapper, 'w') as f:
        f.write(WRAPPER % {'log': tenant_log_path,
                           'tenant': env['KEYLIME_HARNESS_TENANT']})
    os.chmod(wrapper, 0o700)
    overrides = {'keylime': {'tenant_path': wrapper,
                             'attestation_timeout': '600',
                             'command_timeout': '120'},
                 'DEFAULT': {'debug': 'true'}}
    # none: the same Ironic and driver_info, nodes without attestation.
    interface = 'no-attestation' if api == NONE else 'keylime'
    if api != NONE:
        overrides['keylime']['verifier_api'] = api
    for section, option, value in settings:
        overrides.setdefault(section, {})[option] = value
    harness = {k: env[k] for k in keylime_env_file.REQUIRED}
    ironic = ironic_env.IronicEnv(ironic_dir, harness, overrides)
    ironic.start()
    results = {}
    try:
        lists = keylime_env_file.write_lists(
            os.path.join(ironic.workdir, 'lists'), env)
        for size in sizes:
            results[size] = run_size(ironic, env, lists, size,
                                     tenant_log_path, interface)
            print('  %s N=%d: %.1f s' % (api, size, results[size]['wall']),
                  file=sys.stderr)
    finally:
        ironic.stop()
    return results


def print_table(all_results, sizes):
    print()
    print('%-6s %4s  %8s  %6s  %9s  %9s  %11s  %11s  %12s' % (
        'api', 'N', 'wall s', 'x N=1', 'Ironic', 'tenants', 'tenants',
        'peak nodes', 'peak tenant'))
    print('%-6s %4s  %8s  %6s  %9s  %9s  %11s  %11s  %12s' % (
        '', '', '', '', 'CPU s', 'CPU s', 'per node', 'in checks',
        'processes'))
    for api, results in all_results.items():
        base = results.get(sizes[0], {}).get('wall')
        for size in sizes:
            r = results[size]
            ratio = r['wall'] / base if base else float('nan')
            print('%-6s %4d  %8.1f  %6.2f  %9.1f  %9.1f  %11.1f  %11d  '
                  '%12d%s' % (api, size, r['wall'], ratio, r['cpu'],
                              r['tenant_cpu'], r['tenants_per_node'],
                              r['peak_checks'], r['peak_tenants'],
                              '  FAILED: %d nodes' % len(r['failed'])
                              if r['failed'] else ''))
    for api, results in all_results.items():
        for size in sizes:
            for error in results[size]['failed'][:2]:
                print('%s N=%d failed: %s' % (api, size, error[:300]))
    print('(wall: first provide to last node available; x N=1: ratio to '
          'the first size; Ironic CPU: the all-in-one ironic-attest '
          'process group; tenants CPU: the keylime_tenant processes it '
          'ran; peak nodes in checks: nodes whose Keylime work held their '
          'task at the same time, from the conductor log; peak tenant '
          'processes: tenants running at the same time)')


def print_added(all_results, sizes):
    """Per size: the CPU a keylime node adds over a no-attestation one."""
    base = all_results.get(NONE)
    if not base:
        return
    print()
    print('%-6s %4s  %9s  %9s  %12s  %12s' % (
        'api', 'N', 'Ironic', 'none', 'Ironic CPU s', 'with tenants'))
    print('%-6s %4s  %9s  %9s  %12s  %12s' % (
        '', '', 'CPU s', 'CPU s', 'added / node', 'added / node'))
    for api, results in all_results.items():
        if api == NONE:
            continue
        for size in sizes:
            r, b = results[size], base[size]
            added = (r['cpu'] - b['cpu']) / size
            print('%-6s %4d  %9.2f  %9.2f  %12.3f  %12.3f' % (
                api, size, r['cpu'], b['cpu'], added,
                added + (r['tenant_cpu'] - b['tenant_cpu']) / size))
    print('(Ironic CPU added per node vs none: (Ironic CPU with keylime '
          'nodes - Ironic CPU with no-attestation nodes, same size, same '
          'run) / N; with tenants: the keylime_tenant CPU added too)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_dir', help='the RUNDIR of harness.sh start')
    parser.add_argument('--sizes', default='1,5,10,20')
    parser.add_argument('--apis', default='none,tenant,rest',
                        help='verifier APIs to run, and none: the '
                             'no-attestation baseline')
    parser.add_argument('--set', action='append', default=[],
                        metavar='SECTION.OPTION=VALUE',
                        help='an ironic.conf option for every run, e.g. '
                             'keylime.max_concurrent_checks=8')
    parser.add_argument('--reads', type=int, default=5,
                        help='status reads each way (0: none)')
    args = parser.parse_args()
    env = keylime_env_file.read(args.run_dir)
    sizes = [int(s) for s in args.sizes.split(',')]
    agents = int(env.get('KEYLIME_HARNESS_AGENTS', '1'))
    if max(sizes) > agents:
        parser.error('the harness has %d agents; --sizes needs %d'
                     % (agents, max(sizes)))
    settings = []
    for item in args.set:
        key, _sep, value = item.partition('=')
        section, _dot, option = key.partition('.')
        if not (section and option and _sep):
            parser.error('--set SECTION.OPTION=VALUE, not %s' % item)
        settings.append((section, option, value))
    os.environ.update(env)
    os.environ.pop('TOX_ENV_NAME', None)
    workdir = tempfile.mkdtemp(prefix='ik-fleet-')
    all_results = {}
    try:
        for api in args.apis.split(','):
            all_results[api] = run_api(api, env, sizes, settings, workdir)
    finally:
        if os.environ.get('IRONIC_KEYLIME_KEEP_IRONIC'):
            print('Ironic logs kept in %s' % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(all_results, sizes)
    print_added(all_results, sizes)
    if args.reads:
        print()
        subprocess.run([sys.executable, os.path.join(HERE, 'benchmark.py'),
                        args.run_dir, '--runs', '1', '--reads',
                        str(args.reads)], check=False)
    failed = any(r['failed'] for res in all_results.values()
                 for r in res.values())
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
