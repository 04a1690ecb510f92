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

"""Two conductors whose conductor 'a' reads verdicts through a tenant
that can be held: the plumbing of test_conductors_real and
test_upgrade_real.

:class:`HeldReadsTestCase` writes conductor 'a''s ``keylime_tenant``
(:data:`WRAPPER`) for the class; the test class starts its cluster in
``cls.cluster`` with :meth:`HeldReadsTestCase.conductor_overrides` ('a''s
``[keylime]tenant_path`` is the wrapper). It stops the cluster, attaches
its logs on failure, and lets held tenants go.
"""

import os
import signal
import stat
import tempfile
import time

import testtools
from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env

TIMEOUT = 180
#: Conductor 'a''s keylime_tenant. While HOLD exists, a verdict read never
#: answers (nothing else keeps a real attestation in flight long enough to
#: kill or stop the conductor there reliably); while HOLD_AFTER_ADD
#: exists, add runs the real tenant and then does not return (the
#: conductor is stopped in the attest step, the agent on the verifier).
#: Otherwise add, delete and --help are the real tenant's. Each held
#: tenant records its PID, for the test's cleanup.
WRAPPER = """#!/bin/sh
case " $* " in
    *" -c add "*)
        if [ -e %(dir)s/HOLD_AFTER_ADD ]; then
            %(tenant)s "$@"
            echo $$ >>%(dir)s/held.pids
            exec sleep 600
        fi ;;
    *" -c delete "*|*" --help "*) ;;
    *) if [ -e %(dir)s/HOLD ]; then
           echo $$ >>%(dir)s/held.pids
           exec sleep 600
       fi ;;
esac
exec %(tenant)s "$@"
"""


class HeldReadsTestCase(testtools.TestCase):
    """A cluster of conductors 'a' and 'b', 'a''s tenant holdable."""

    #: The prefix of the class's work directory.
    workdir_prefix = 'ik-cluster-'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keylime = ironic_env.keylime_env()
        cls.agents = keylime_env.agents()
        cls.verifier_ports = keylime_env.verifier_ports()
        cls.check_harness()
        cls.workdir = tempfile.mkdtemp(prefix=cls.workdir_prefix)
        cls.hold_dir = os.path.join(cls.workdir, 'hold')
        os.makedirs(cls.hold_dir)
        cls.tenant_wrapper = os.path.join(cls.workdir, 'tenant-a')
        with open(cls.tenant_wrapper, 'w') as f:
            f.write(WRAPPER % {'dir': cls.hold_dir,
                               'tenant': cls.keylime[
                                   'KEYLIME_HARNESS_TENANT']})
        os.chmod(cls.tenant_wrapper, stat.S_IRWXU)

    @classmethod
    def conductor_overrides(cls):
        """'a' reads verdicts through the holdable tenant, 'b' over REST."""
        return {'a': {'keylime': {'tenant_path': cls.tenant_wrapper,
                                  'verifier_api': 'tenant'}},
                'b': {'keylime': {'verifier_api': 'rest'}}}

    @classmethod
    def check_harness(cls):
        """Raise IronicError when the harness lacks what the class needs."""

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        functional_base.remove_workdir(cls.workdir,
                                       'cluster of %s' % cls.__name__)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(self._attach_logs)

    def _attach_logs(self, exc_info):
        self.addDetail('cluster-logs', content.text_content(
            self.cluster.log_tail(150)))

    def conductor_of(self, node_id):
        """The hostname of the conductor the API maps the node to."""
        resp = self.cluster.api('GET', '/nodes/%s' % node_id)
        resp.raise_for_status()
        return resp.json()['conductor']

    def release_held_reads(self):
        """Remove the hold files and kill the tenants held so far."""
        for name in ('HOLD', 'HOLD_AFTER_ADD'):
            path = os.path.join(self.hold_dir, name)
            if os.path.exists(path):
                os.unlink(path)
        path = os.path.join(self.hold_dir, 'held.pids')
        if os.path.exists(path):
            with open(path) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            os.unlink(path)

    def wait_all(self, node_ids, states, timeout=TIMEOUT):
        """Wait until every node is in one of ``states``; return them.

        A node in a failed state counts once its ``last_error`` is written
        too: Ironic's takeover saves the state first and the error just
        after (seen: ``clean failed`` with no error yet).
        """
        deadline = time.monotonic() + timeout
        done = {}
        while len(done) < len(node_ids):
            for node_id in set(node_ids) - set(done):
                node = self.cluster.conn.baremetal.get_node(node_id)
                if node.provision_state in states and (
                        not node.provision_state.endswith('failed')
                        or node.last_error):
                    done[node_id] = node
            if time.monotonic() > deadline:
                self.fail('nodes %s not in %s after %s s' % (
                    sorted(set(node_ids) - set(done)), states, timeout))
            time.sleep(0.5)
        return [done[n] for n in node_ids]
