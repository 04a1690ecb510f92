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

"""Enrollment by the tenant and over REST agree (real Keylime 7.14.3).

The harness's agent is added once with ``keylime_tenant -c add`` and once
with ``POST /v2.6/agents/{uuid}`` built from one registrar read
(:mod:`ironic_keylime.keylime_client.enroll`); each way the verifier must
reach the same verdict: PASS on the clean node, FAIL with the same event
on a tampered IMA log, and nothing is left on the verifier after the
delete. The same tests run for both ways (one base, two subclasses).
"""

import json
import os
import tempfile
import time

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import enroll
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import registrar as kl_registrar
from ironic_keylime.keylime_client import status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.keylime_client import verifier
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.unit import registrar_fixture

#: Seconds to wait for the first verdict after add (1-3 s measured).
VERDICT_SECONDS = 40


class _EnrollBase(object):
    """The verdicts of one way of adding the agent."""

    def setUp(self):
        super().setUp()
        if not keylime_env.available():
            # Fail, not skip: a missing harness must not pass unnoticed.
            self.fail('no harness Keylime (run tools/functional.sh)')
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.uuid = keylime_env.env('AGENT_UUID')
        self.verifier = kl_tenant.Endpoint(
            keylime_env.env('VERIFIER'),
            int(keylime_env.env('VERIFIER_PORT')))
        self.registrar = kl_tenant.Endpoint(
            keylime_env.env('REGISTRAR'),
            int(keylime_env.env('REGISTRAR_PORT')))
        self.agent = kl_tenant.Endpoint(
            keylime_env.env('AGENT_ADDRESS'),
            int(keylime_env.env('AGENT_PORT')))
        self.addCleanup(verifier.clear_clients)
        # Last: whatever happened, no agent is left on the verifier.
        self.addCleanup(self._assert_no_agent_left)
        self.addCleanup(keylime_env.delete_agent, self.uuid)

    def _rest(self):
        return verifier.get_client(
            self.verifier.host, self.verifier.port,
            cert_dir=keylime_env.env('CERT_DIR'),
            tenant_config=keylime_env.env('TENANT_CONFIG'), timeout=30)

    def _assert_no_agent_left(self):
        self.assertEqual([], keylime_env.verifier_agents())

    def _enrollment(self, identity=None):
        lists = keylime_env.prepared_lists(
            tempfile.mkdtemp(dir=self.workdir))
        return enroll.Enrollment(
            agent_uuid=self.uuid, agent=self.agent, verifier=self.verifier,
            registrar=self.registrar, lists=lists, tpm_policy=None,
            mb_policy=None, ek_sha256=None, identity=identity)

    def _verdict(self, since):
        deadline = time.monotonic() + VERDICT_SECONDS
        while True:
            result = self._rest().status(self.uuid, since=since)
            if result.verdict != status.PENDING:
                return result
            self.assertLess(time.monotonic(), deadline,
                            'no verdict within %s s: %s'
                            % (VERDICT_SECONDS, (result,)))
            time.sleep(1)

    def _add_and_read(self):
        since = time.time()
        self.add()
        self.assertEqual([self.uuid], keylime_env.verifier_agents())
        result = self._verdict(since)
        self._rest().delete(self.uuid)
        self.assertEqual([], keylime_env.verifier_agents())
        return result

    def test_clean_node_passes(self):
        result = self._add_and_read()
        self.assertEqual(status.PASS, result.verdict, result)
        self.assertIsNone(result.last_event_id)
        self.assertGreaterEqual(result.attestation_count, 1)

    def test_tampered_node_fails(self):
        self.addCleanup(keylime_env.harness, 'reset')
        keylime_env.harness('tamper', '/usr/local/bin/ik-not-allowed')
        result = self._add_and_read()
        self.assertEqual(status.FAIL, result.verdict, result)
        self.assertEqual('Invalid Quote', result.state)
        self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                         result.last_event_id)


class TenantEnrollRealTestCase(_EnrollBase, base.BaseTestCase):
    """``keylime_tenant -c add``."""

    def add(self):
        kl_tenant.Tenant(keylime_env.env('TENANT'),
                         config=keylime_env.env('TENANT_CONFIG'),
                         cert_dir=keylime_env.env('CERT_DIR'),
                         timeout=60).add(
            self.uuid, self.agent, self.verifier, self.registrar,
            self._enrollment().lists)


class RestEnrollRealTestCase(_EnrollBase, base.BaseTestCase):
    """``POST /v2.6/agents/{uuid}`` from one registrar read."""

    def _identity(self):
        return kl_registrar.RegistrarClient(
            self.registrar.host, self.registrar.port,
            cert_dir=keylime_env.env('CERT_DIR'),
            timeout=30).identity(self.uuid)

    def add(self):
        self.identity = self._identity()
        client = self._rest()
        client.add(self.uuid, enroll.body(self._enrollment(self.identity)))
        record = client.agent_record(self.uuid)
        self.assertTrue(record['has_runtime_policy'])
        self.assertEqual({'mask': hex(1 << enroll.IMA_PCR)},
                         json.loads(record['tpm_policy']))

    def test_tpm_and_mb_policy_accepted(self):
        # The encodings of a TPM policy and a measured-boot policy (as
        # the tenant's process_policy) are taken by the real verifier.
        mb = os.path.join(self.workdir, 'mb.json')
        with open(mb, 'w') as f:
            f.write('{"has_secureboot": false, "scrtm_and_bios": []}')
        enrollment = self._enrollment(self._identity())._replace(
            tpm_policy='{"17": ["%s"]}' % ('AB' * 32), mb_policy=mb)
        client = self._rest()
        client.add(self.uuid, enroll.body(enrollment))
        record = client.agent_record(self.uuid)
        client.delete(self.uuid)
        self.assertTrue(record['has_mb_refstate'])
        policy = json.loads(record['tpm_policy'])
        self.assertEqual(['ab' * 32], policy['17'])
        self.assertEqual(hex(0x2ffff), policy['mask'])

    def test_another_attestation_key_fails(self):
        # The verifier checks every quote against the ak_tpm it was
        # given: the AK of another TPM (a recorded registrar answer)
        # never passes, so the verdict rests on the registrar read.
        other = json.loads(registrar_fixture.recorded('agent.json'))
        identity = self._identity()._replace(
            aik_tpm=other['results']['aik_tpm'])
        self.assertNotEqual(self._identity().aik_tpm, identity.aik_tpm)
        since = time.time()
        self._rest().add(self.uuid,
                         enroll.body(self._enrollment(identity)))
        result = self._verdict(since)
        self._rest().delete(self.uuid)
        self.assertEqual(status.FAIL, result.verdict, result)

    def test_second_add_is_refused(self):
        self.add()
        error = self.assertRaises(
            kl_exception.TenantCommandFailed, self._rest().add, self.uuid,
            enroll.body(self._enrollment(self.identity)))
        self.assertIn('already holds agent', str(error))
        self._rest().delete(self.uuid)
