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

"""Time one node's deploy and clean with and without Keylime attestation.

Starts a real all-in-one Ironic (``ironic_env.IronicEnv``, as the
functional tests) against the harness's Keylime (its ``keylime.env``),
enrolls one fake-hardware node and measures, for each attestation
setting, the wall time of ``provide`` (automated cleaning, manageable to
available) and of ``deploy`` (available to active), ``--runs`` times:

* ``no-attestation``;
* ``keylime`` with ``[keylime]verifier_api = tenant``;
* ``keylime`` with ``[keylime]verifier_api = rest``.

Between runs the node is undeployed (its cleaning not timed) and made
manageable again. It prints a table of medians and asserts nothing::

    python tools/keylime/node-benchmark.py RUNDIR [--runs N]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file

#: (label, attestation interface, [keylime] overrides)
SETTINGS = (
    ('no-attestation', 'no-attestation', {'verifier_api': 'tenant'}),
    ('keylime (tenant)', 'keylime', {'verifier_api': 'tenant'}),
    ('keylime (rest)', 'keylime', {'verifier_api': 'rest'}),
)
TIMEOUT = 180
POLL = 0.1


def timed(ironic, node_id, target, expected):
    """Seconds from asking for ``target`` to the node in ``expected``."""
    conn = ironic.conn.baremetal
    start = time.monotonic()
    conn.set_node_provision_state(node_id, target)
    deadline = start + TIMEOUT
    while True:
        node = conn.get_node(node_id)
        state = node.provision_state
        if (state not in ironic_env.TRANSITIONAL
                and (not node.target_provision_state
                     or state.endswith('failed'))):
            elapsed = time.monotonic() - start
            if state != expected:
                raise SystemExit('node %s ended in %s, not %s: %s'
                                 % (node_id, state, expected,
                                    node.last_error))
            return elapsed
        if time.monotonic() > deadline:
            raise SystemExit('node %s still in %s after %s s'
                             % (node_id, state, TIMEOUT))
        time.sleep(POLL)


def measure(keylime, label, interface, overrides, runs):
    """Run ``runs`` provide + deploy cycles on a fresh Ironic."""
    workdir = tempfile.mkdtemp(prefix='ik-node-bench-')
    ironic = ironic_env.IronicEnv(workdir, keylime,
                                  {'keylime': overrides})
    try:
        ironic.start()
        info = ironic.keylime_driver_info(keylime_env_file.write_lists(
            os.path.join(workdir, 'lists'), keylime))
        info['attestation_interface'] = interface
        node = ironic.create_node('bench', info)
        cleans, deploys = [], []
        for _ in range(runs):
            cleans.append(timed(ironic, node.id, 'provide', 'available'))
            deploys.append(timed(ironic, node.id, 'active', 'active'))
            # Back to manageable; this cleaning is not timed.
            timed(ironic, node.id, 'deleted', 'available')
            timed(ironic, node.id, 'manage', 'manageable')
        print('  %s: deploy %s, clean %s' % (
            label, ' '.join('%.1f' % t for t in deploys),
            ' '.join('%.1f' % t for t in cleans)), file=sys.stderr)
        return statistics.median(deploys), statistics.median(cleans)
    finally:
        ironic.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run_dir', help='the harness run directory')
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    keylime = keylime_env_file.read(args.run_dir)
    os.environ.update(keylime)
    results = []
    for label, interface, overrides in SETTINGS:
        results.append((label,) + measure(keylime, label, interface,
                                          overrides, args.runs))
    base_deploy, base_clean = results[0][1:]
    print('one fake-hardware node, %d runs, medians (s), status_poll_'
          'interval 2 s' % args.runs)
    print('%-18s %8s %8s %8s %8s' % ('interface', 'deploy', '+added',
                                     'clean', '+added'))
    for label, deploy, clean in results:
        print('%-18s %8.1f %8.1f %8.1f %8.1f' % (
            label, deploy, deploy - base_deploy, clean, clean - base_clean))


if __name__ == '__main__':
    main()
