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

"""The verifier's REST client and the tenant agree (real Keylime 7.14.3).

The agent of the harness is added with the real ``keylime_tenant``; then
its verdict is read both ways, through ``keylime_tenant -c status`` and
through ``GET /v2.x/agents/{uuid}`` (and the bulk read), and the two must
agree: PASS on the clean node, FAIL with the same event on a tampered IMA
log, the same error class when the verifier is down or frozen or does not
know the agent. The REST delete leaves nothing on the verifier, also
while the verifier is attesting the agent (202, followed to the end).
"""

import tempfile
import time

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.keylime_client import verifier
from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import keylime_env

UNKNOWN_UUID = '00000000-dead-4bee-8000-000000000000'
#: Seconds to wait for the first verdict after add (1-3 s measured).
VERDICT_SECONDS = 40


class VerifierRestRealTestCase(functional_base.KeylimeHarnessMixin,
                               base.BaseTestCase):
    """Verdicts and deletes through REST and through the tenant."""

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.use_harness_agent()
        self.tenant = self._tenant(30)
        self.addCleanup(verifier.clear_clients)
        # Last: whatever happened, no agent is left on the verifier.
        self.addCleanup(self._assert_no_agent_left)
        self.addCleanup(keylime_env.delete_agent, self.uuid)

    def _tenant(self, timeout):
        return kl_tenant.Tenant(keylime_env.env('TENANT'),
                                config=keylime_env.env('TENANT_CONFIG'),
                                cert_dir=keylime_env.env('CERT_DIR'),
                                timeout=timeout)

    def _rest(self, timeout=30):
        # The certificates as the conductor has them: tenant_cert_dir and
        # the tenant's tenant.conf.
        return verifier.get_client(
            self.verifier.host, self.verifier.port,
            cert_dir=keylime_env.env('CERT_DIR'),
            tenant_config=keylime_env.env('TENANT_CONFIG'), timeout=timeout)

    def _assert_no_agent_left(self):
        self.assertEqual([], keylime_env.verifier_agents())

    def _add(self):
        directory = tempfile.mkdtemp(dir=self.workdir)
        lists = keylime_env.prepared_lists(directory)
        since = time.time()
        self.tenant.add(self.uuid, self.agent, self.verifier,
                        self.registrar, lists)
        self.assertEqual([self.uuid], keylime_env.verifier_agents())
        return since

    def _rest_verdict(self, since):
        """Read through REST until the verdict is not PENDING."""
        deadline = time.monotonic() + VERDICT_SECONDS
        while True:
            result = self._rest().status(self.uuid, since=since)
            if result.verdict != status.PENDING:
                return result
            self.assertLess(time.monotonic(), deadline,
                            'no verdict within %s s: %s'
                            % (VERDICT_SECONDS, (result,)))
            time.sleep(1)

    def _both(self, since):
        """The verdict by REST, by the tenant, and from the bulk read."""
        rest = self._rest_verdict(since)
        by_tenant = self.tenant.status(self.uuid, self.verifier,
                                       self.registrar, since=since)
        client = self._rest()
        records = client.agent_records()
        self.assertIn(self.uuid, records)
        # The verifier ID it reports selects it in a bulk read too.
        own = client.agent_records(records[self.uuid]['verifier_id'])
        self.assertEqual([self.uuid], list(own))
        self.assertEqual({}, client.agent_records('no-such-verifier-id'))
        bulk = client.status_in(records, self.uuid, since=since)
        return rest, by_tenant, bulk

    def _assert_gone_after_rest_delete(self):
        self._rest().delete(self.uuid)
        self.assertEqual([], keylime_env.verifier_agents())
        self.assertRaises(exception.AgentNotFound, self._rest().status,
                          self.uuid)
        self.assertRaises(exception.AgentNotFound, self.tenant.status,
                          self.uuid, self.verifier, self.registrar)
        # Deleting it again is fine.
        self._rest().delete(self.uuid)

    def test_clean_node_passes_both_ways(self):
        since = self._add()
        rest, by_tenant, bulk = self._both(since)
        for result in (rest, by_tenant, bulk):
            self.assertEqual(status.PASS, result.verdict, result)
            self.assertIn(result.state, ('Get Quote', 'Provide V'))
            self.assertIsNone(result.last_event_id)
            self.assertGreaterEqual(result.attestation_count, 1)
        self.assertEqual('2.6', self._rest().api_version())
        # The verifier is attesting the agent: the delete is answered 202
        # or 200, and is followed until the agent is gone.
        self._assert_gone_after_rest_delete()

    def test_tampered_node_fails_both_ways(self):
        # A tampered IMA log stays tampered: the next test needs a clean
        # node (runs after the delete of the clean-up).
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.harness('tamper', '/usr/local/bin/ik-not-allowed')
        since = self._add()
        rest, by_tenant, bulk = self._both(since)
        for result in (rest, by_tenant, bulk):
            self.assertEqual(status.FAIL, result.verdict, result)
            self.assertEqual('Invalid Quote', result.state)
            self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                             result.last_event_id)
        self._assert_gone_after_rest_delete()

    def test_unknown_agent_both_ways(self):
        self.assertRaises(exception.AgentNotFound, self._rest().status,
                          UNKNOWN_UUID)
        self.assertRaises(exception.AgentNotFound, self.tenant.status,
                          UNKNOWN_UUID, self.verifier, self.registrar)
        self.assertNotIn(UNKNOWN_UUID, self._rest().agent_records())
        self._rest().delete(UNKNOWN_UUID)

    def test_verifier_down_both_ways(self):
        # Negotiated and connected before the verifier goes away.
        self.assertEqual('2.6', self._rest().api_version())
        keylime_env.harness('stop-service', 'verifier')
        self.addCleanup(keylime_env.harness, 'start-service', 'verifier')
        expected = ('The Keylime verifier at %s:%s did not answer'
                    % self.verifier)
        for call in (
                lambda: self._rest().status(self.uuid),
                lambda: self._rest().agent_records(),
                lambda: self._rest().delete(self.uuid),
                lambda: self.tenant.status(self.uuid, self.verifier,
                                           self.registrar)):
            error = self.assertRaises(exception.ServiceUnreachable, call)
            self.assertIn(expected, str(error))
        # A new client, which must negotiate first, says the same.
        verifier.clear_clients()
        error = self.assertRaises(exception.ServiceUnreachable,
                                  self._rest().status, self.uuid)
        self.assertIn(expected, str(error))

    def test_frozen_verifier_both_ways(self):
        # It accepts connections but never answers: both give up on
        # their own, within their timeouts.
        self._rest(timeout=4).api_version()
        self.addCleanup(keylime_env.freeze('verifier'))
        start = time.monotonic()
        error = self.assertRaises(exception.TenantTimeout,
                                  self._rest(timeout=4).status, self.uuid)
        self.assertLess(time.monotonic() - start, 8)
        self.assertIn('did not answer GET /v2.6/agents/%s within the '
                      'command timeout (4 s)' % self.uuid, str(error))
        self.assertRaises(exception.TenantTimeout, self._tenant(4).status,
                          self.uuid, self.verifier, self.registrar)
