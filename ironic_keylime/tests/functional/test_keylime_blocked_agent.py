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

"""No PASS while the verifier has not verified a quote (real Keylime).

A node can block the verifier: its agent lets the tenant check it, is
added, and then never answers the verifier. The verifier of Keylime
7.14.3 reports "Start" until its first quote request gives up (20 s
here), then "Get Quote", a state it calls a pass, while it retries, with
no verified quote. The harness agent plays
that node: it is stopped (SIGSTOP to its process group) right after the
tenant validated its quote, before the tenant adds it to the verifier, so
that the verifier never gets a quote from it. The verdict read through
the verifier's REST API is no PASS either.
"""

import json
import os
import signal
import sys
import tempfile
import time

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.keylime_client import verifier as kl_verifier
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env

#: How long the verdict is watched for at most: the verifier's first
#: quote request gives up after 20 s here (its request_timeout is 60 s).
WATCH_SECONDS = 100
#: Readings taken after the first one in a pass state.
READINGS_IN_PASS_STATE = 3

#: A keylime_tenant that stops the agent as soon as the real tenant has
#: validated the agent's quote (its own check, before it adds the agent
#: to the verifier). It writes the group it stopped to STOPPED.
_STOPPING_TENANT = '''#!%(python)s
import os, signal, subprocess, sys
process = subprocess.Popen([%(tenant)r] + sys.argv[1:],
                           stdout=subprocess.PIPE)
for line in process.stdout:
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
    if (b'Quote from Agent' in line and b'validated' in line
            and not os.path.exists(%(stopped)r)):
        with open(%(group_file)r) as f:
            group = int(f.read())
        os.killpg(group, signal.SIGSTOP)
        with open(%(stopped)r, 'w') as f:
            f.write(str(group))
sys.exit(process.wait())
'''


class BlockedAgentTestCase(functional_base.KeylimeHarnessMixin,
                           base.BaseTestCase):
    """The verdict on an agent the verifier cannot reach after add."""

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.use_harness_agent()
        self.stopped = os.path.join(self.workdir, 'stopped')
        self.group_file = os.path.join(keylime_env.env('DIR'), 'pids',
                                       'agent')
        self.tenant = self._tenant(self._stopping_tenant())

    def _tenant(self, path):
        return kl_tenant.Tenant(path, config=keylime_env.env('TENANT_CONFIG'),
                                cert_dir=keylime_env.env('CERT_DIR'),
                                timeout=30)

    def _stopping_tenant(self):
        path = os.path.join(self.workdir, 'keylime_tenant')
        with open(path, 'w') as f:
            f.write(_STOPPING_TENANT % {
                'python': sys.executable, 'tenant': keylime_env.env('TENANT'),
                'stopped': self.stopped, 'group_file': self.group_file})
        os.chmod(path, 0o700)
        return path

    def _lists(self):
        directory = tempfile.mkdtemp(dir=self.workdir)
        return keylime_env.prepared_lists(directory)

    def _resume_agent(self):
        # Always: a stopped agent would break every later test.
        with open(self.group_file) as f:
            os.killpg(int(f.read()), signal.SIGCONT)

    def _rest(self):
        return kl_verifier.get_client(
            self.verifier.host, self.verifier.port,
            cert_dir=keylime_env.env('CERT_DIR'),
            tenant_config=keylime_env.env('TENANT_CONFIG'), timeout=30)

    def _assert_no_agent_left(self):
        self.assertEqual([], keylime_env.verifier_agents())

    def _raw_status(self):
        """The real tenant's output of ``-c status``."""
        args = (['-c', 'status', '-u', self.uuid]
                + self.tenant._service_args(self.verifier, self.registrar))
        return self.tenant.run(args).stdout

    def test_blocked_agent_never_passes(self):
        # Clean-ups run last first: resume the agent, delete it from the
        # verifier, give the next test a fresh agent.
        self.addCleanup(keylime_env.harness, 'reset')
        self.addCleanup(self._assert_no_agent_left)
        self.addCleanup(keylime_env.delete_agent, self.uuid)
        self.addCleanup(self._resume_agent)
        # Seconds since the epoch, as the verifier stamps its quotes.
        since = time.time()
        self.tenant.add(self.uuid, self.agent, self.verifier,
                        self.registrar, self._lists())
        self.assertTrue(os.path.exists(self.stopped),
                        'the agent was not stopped before the add')
        self.assertEqual([self.uuid], keylime_env.verifier_agents())

        seen = []
        in_pass_state = 0
        deadline = time.monotonic() + WATCH_SECONDS
        while (in_pass_state < READINGS_IN_PASS_STATE
               and time.monotonic() < deadline):
            result = self.tenant.status(self.uuid, self.verifier,
                                        self.registrar, since=since)
            seen.append(result)
            self.assertNotEqual(status.PASS, result.verdict, result)
            # The verifier's REST API, read as the conductor reads it,
            # gives no PASS either.
            rest = self._rest().status(self.uuid, since=since)
            self.assertNotEqual(status.PASS, rest.verdict, rest)
            self.assertEqual(0, rest.attestation_count, rest)
            self.assertIn(result.verdict, (status.PENDING, status.FAIL))
            # 7.14.3 reports the evidence: none.
            self.assertEqual(0, result.attestation_count, result)
            self.assertIn(result.last_successful_attestation, (0, None))
            if (status.verdict_for_state(status.state_code(result.state))
                    == status.PASS):
                in_pass_state += 1
            time.sleep(2)
        # The hole: the verifier calls this a pass state (Get Quote or its
        # retry) although it never got a quote.
        self.assertEqual(READINGS_IN_PASS_STATE, in_pass_state,
                         [(r.state, r.verdict) for r in seen])

        # A verifier before Keylime 6.5 prints the same record without
        # count and times: still no PASS, whatever the start.
        out = self._raw_status()
        lines = out.splitlines()
        index = max(i for i, line in enumerate(lines)
                    if 'Agent Info from Verifier' in line)
        record = json.loads(lines[index + 1])[self.uuid]
        for name in ('attestation_count', 'last_received_quote',
                     'last_successful_attestation'):
            record.pop(name, None)
        lines[index + 1] = json.dumps({self.uuid: record})
        for start in (since, 0, None):
            self.assertNotEqual(
                status.PASS,
                status.parse_status('\n'.join(lines), self.uuid,
                                    since=start).verdict)
