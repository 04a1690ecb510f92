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

"""A region's table: what 10,000 nodes cost an idle conductor and a start.

Starts a private PostgreSQL (``ironic_keylime.harness.postgres``) and a
real all-in-one ``ironic-attest`` on it (keylime and no-attestation
interfaces enabled, ``[keylime]verifier_api = rest``, power sync off;
``--interface no-attestation``: the baseline, without the keylime
interface),
then, from processes of this script, through Ironic's own objects and DB API
(so the index of bound TPMs is kept as in a conductor):

1. two databases of the cluster: ``ironic`` (the conductor's) with
   ``--nodes`` nodes and ``small`` with 10, each with 5 keylime nodes in
   ``deploy wait`` and the others active keylime nodes, each with its
   own EK pin (as after trust on first use), then ``ANALYZE`` (what
   PostgreSQL's autovacuum does soon after a bulk load);
2. the database work of the start of one attestation (a task with an
   exclusive lock, :func:`agent.check_not_in_use`, and, as in
   ``agent_uuid_mode = image`` on first use, the check of a TPM bound to
   another node), ``--runs`` times, median, in ``--rounds`` rounds that
   take the two databases in turns (one process each, so that the load
   of the machine hits both alike); beside it the read of every node's
   driver_info that the bound-TPM check did before the index;
3. the wait-state nodes made active, ``--settle`` seconds, then the CPU
   of the ``ironic-attest`` process group and of PostgreSQL over
   ``--measure`` seconds (from ``/proc``), in % of one core.

No Keylime runs: no node attests, and the Keylime calls of a start do
not depend on the table. It prints figures and asserts nothing::

    python tools/keylime/region_benchmark.py [--nodes 10000]
        [--runs 20] [--rounds 3] [--settle 30] [--measure 60]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import postgres
from ironic_keylime.harness import services

import proc_cpu

AGENT = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000'
#: The nodes' attestation interface (--interface).
INTERFACE = os.environ.get('IK_REGION_INTERFACE', 'keylime')
#: The parts of a start timed by time_start.
PARTS = ('task', 'agent UUID', 'bound TPM', 'start', 'every node')
FAKE = {'boot_interface': 'fake', 'console_interface': 'no-console',
        'deploy_interface': 'fake', 'inspect_interface': 'no-inspect',
        'management_interface': 'fake', 'network_interface': 'noop',
        'power_interface': 'fake', 'raid_interface': 'no-raid',
        'rescue_interface': 'no-rescue', 'storage_interface': 'noop',
        'vendor_interface': 'no-vendor', 'bios_interface': 'no-bios',
        'firmware_interface': 'no-firmware'}


def cpu(group, tree):
    """CPU seconds of a process group and of a process tree."""
    found = proc_cpu.stats()
    return sum(proc_cpu.group_cpu(group, found)), proc_cpu.tree_cpu(tree,
                                                                    found)


def keylime_placeholders(workdir):
    """The harness variables base_config reads; no Keylime runs."""
    certs = os.path.join(workdir, 'cv_ca')
    os.makedirs(certs, exist_ok=True)
    return {'KEYLIME_HARNESS_TENANT': shutil.which('keylime_tenant')
            or '/usr/bin/keylime_tenant',
            'KEYLIME_HARNESS_TENANT_CONFIG': os.path.join(workdir,
                                                          'tenant.conf'),
            'KEYLIME_HARNESS_CERT_DIR': certs}


def configure(conf_file):
    """Ironic in this process, on the benchmark's configuration."""
    import ironic.command  # noqa: F401  (selects the backend first)

    from ironic_keylime import ironic_integration
    ironic_integration.register_attestation_interface_type()

    from ironic.common import context
    from ironic import objects

    from ironic_keylime.conf import CONF
    CONF(['--config-file', conf_file], project='ironic')
    objects.register_all()
    return context.get_admin_context()


def create_nodes(ctx, count, state='active', start=0):
    """Nodes with the keylime interface, each with its own EK pin."""
    from ironic import objects

    made = []
    for i in range(start, start + count):
        node = objects.Node(
            ctx, driver='fake-hardware', provision_state=state,
            power_state='power on', resource_class='baremetal',
            driver_info={'attestation_interface': INTERFACE,
                         'keylime_v': '127.0.0.1', 'keylime_r': '127.0.0.1',
                         'keylime_ek_sha256': '%064x' % (i + 1)}, **FAKE)
        node.create()
        made.append(node)
    return made


def time_start(ctx, node, runs):
    """Median milliseconds of a start's database work, by part.

    :returns: {part: ms}: the task (exclusive lock, node loaded), the
        agent UUID check, the bound-TPM check, their sum, and the read of
        every node's driver_info the bound-TPM check did before the index.
    """
    from ironic.conductor import task_manager
    from ironic.db import api as dbapi

    from ironic_keylime.drivers.modules.keylime import agent
    from ironic_keylime.drivers.modules.keylime import tpm_binding

    unbound = 'f' * 64
    parts = {p: [] for p in PARTS}
    for _ in range(runs):
        marks = [time.perf_counter()]
        with task_manager.acquire(ctx, node.uuid, purpose='benchmark') as t:
            marks.append(time.perf_counter())
            agent.check_not_in_use(t.node, AGENT)
            marks.append(time.perf_counter())
            tpm_binding._check_not_bound_elsewhere(t.node, unbound, AGENT)
            marks.append(time.perf_counter())
        marks.append(time.perf_counter())
        for _uuid, _info in dbapi.get_instance().get_nodeinfo_list(
                columns=['uuid', 'driver_info']):
            pass
        marks.append(time.perf_counter())
        parts['task'].append(marks[1] - marks[0] + marks[4] - marks[3])
        parts['agent UUID'].append(marks[2] - marks[1])
        parts['bound TPM'].append(marks[3] - marks[2])
        parts['start'].append(marks[4] - marks[0])
        parts['every node'].append(marks[5] - marks[4])
    return {p: 1000 * statistics.median(v) for p, v in parts.items()}


def sql(url, statement):
    """Run a statement outside a transaction (ANALYZE, CREATE DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(url.replace('postgresql+psycopg2', 'postgresql'))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _child(*args):
    """Run a step of this script in its own process (one Ironic DB each).

    :returns: its last line of output, parsed as JSON.
    """
    out = subprocess.run([sys.executable, '-W', 'ignore', __file__]
                         + [str(a) for a in args], check=True, timeout=1200,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_main(step, conf_file, *args):
    """``fill CONF COUNT``, ``time CONF UUID RUNS``, ``idle CONF``."""
    ctx = configure(conf_file)
    if step == 'fill':
        count = int(args[0])
        began = time.monotonic()
        create_nodes(ctx, 5, state='deploy wait')
        target = create_nodes(ctx, count - 5, start=5)[0]
        print(json.dumps([target.uuid, time.monotonic() - began]))
    elif step == 'time':
        from ironic import objects
        node = objects.Node.get_by_uuid(ctx, args[0])
        print(json.dumps(time_start(ctx, node, int(args[1]))))
    elif step == 'idle':
        from ironic import objects
        for node in objects.Node.list(
                ctx, filters={'provision_state': 'deploy wait'}):
            node.provision_state = 'active'
            node.save()
        print(json.dumps(None))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nodes', type=int, default=10000)
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--settle', type=int, default=30)
    parser.add_argument('--measure', type=int, default=60)
    parser.add_argument('--interface', default='keylime',
                        choices=('keylime', 'no-attestation'),
                        help='the nodes\' attestation interface; with '
                             'no-attestation, the only one enabled (the '
                             'baseline)')
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='ik-region-')
    os.chmod(workdir, 0o711)
    db = postgres.PostgresCluster(workdir)
    ironic = None
    try:
        db.start()
        ironic_dir = os.path.join(workdir, 'ironic')
        os.makedirs(ironic_dir)
        ironic = ironic_env.IronicEnv(
            ironic_dir, keylime_placeholders(workdir),
            {'DEFAULT': {'debug': 'false'},
             'database': {'connection': db.url},
             'conductor': {'sync_power_state_interval': '-1'},
             'keylime': {'verifier_api': 'rest'}})
        if args.interface != 'keylime':
            ironic.config['DEFAULT']['enabled_attestation_interfaces'] = (
                args.interface)
        os.environ['IK_REGION_INTERFACE'] = args.interface
        ironic.start()
        # The 10 nodes in a second database of the same cluster, with
        # no conductor: the two sizes are timed in turns.
        small_url = db.url.rsplit('/', 1)[0] + '/small'
        sql(db.url, 'CREATE DATABASE small')
        small_conf = os.path.join(workdir, 'small.conf')
        config = dict(ironic.config, database={'connection': small_url})
        services.write_config(small_conf, config)
        services.dbsync(ironic_env.BIN_DIR, small_conf, 'create_schema',
                        log=os.path.join(workdir, 'dbsync-small.log'))
        small_node, _t = _child('fill', small_conf, 10)
        large_node, filled = _child('fill', ironic.conf_file, args.nodes)
        sql(small_url, 'ANALYZE')
        sql(db.url, 'ANALYZE')
        times = {'10': [], str(args.nodes): []}
        for _ in range(args.rounds):
            times['10'].append(_child('time', small_conf, small_node,
                                      args.runs))
            times[str(args.nodes)].append(_child(
                'time', ironic.conf_file, large_node, args.runs))
        _child('idle', ironic.conf_file)
        time.sleep(args.settle)
        before = cpu(ironic.process.pid, db.pid)
        time.sleep(args.measure)
        after = cpu(ironic.process.pid, db.pid)
    finally:
        if ironic is not None:
            ironic.stop()
        db.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print('machine: %d cores, load average %.2f %.2f %.2f at the end'
          % ((os.cpu_count(),) + os.getloadavg()))
    print('%d nodes made through Ironic\'s objects in %.0f s'
          % (args.nodes, filled))
    print()
    print('start of one attestation, database work, ms (median of %d '
          'per round, %d rounds in turns; tables ANALYZEd):'
          % (args.runs, args.rounds))
    print('%-8s' % 'nodes' + ''.join('%12s' % p for p in PARTS))
    medians = {}
    for label, rounds in times.items():
        medians[label] = {p: statistics.median(r[p] for r in rounds)
                          for p in PARTS}
        for row in rounds:
            print('%-8s' % label + ''.join('%12.1f' % row[p]
                                           for p in PARTS))
    small, large = medians['10'], medians[str(args.nodes)]
    print('ratio %d / 10 (medians of the rounds): start %.2fx, every node '
          '%.1fx' % (args.nodes, large['start'] / small['start'],
                     large['every node'] / small['every node']))
    print()
    print('idle conductor, %d %s nodes, %d s after %d s to settle '
          '(%% of one core):' % (args.nodes, args.interface, args.measure,
                                 args.settle))
    print('ironic-attest %.2f %%   PostgreSQL %.2f %%' % tuple(
        100.0 * (b - a) / args.measure for a, b in zip(before, after)))
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] in ('fill', 'time', 'idle'):
        sys.exit(child_main(*sys.argv[1:]))
    sys.exit(main())
