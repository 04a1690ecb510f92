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

"""The enrollment body, encoded as Keylime 7.14.3's tenant encodes it."""

import base64
import hashlib
import json
import os

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import enroll
from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import registrar
from ironic_keylime.keylime_client import tenant
from ironic_keylime.lists import prepare

POLICY = b'{"meta": {"version": 1}, "digests": {}}'
#: What 7.14.3's process_policy gives for {"0": "AB"} with a runtime
#: policy and a measured-boot policy (every measured-boot PCR and IMA's).
MB_MASK = hex(sum(1 << p for p in enroll.MEASUREDBOOT_PCRS) | 1 << 10)


class EnrollBodyTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(self.dir, 'policy.json')
        with open(path, 'wb') as f:
            f.write(POLICY)
        self.lists = prepare.PreparedLists(
            None, None, path, hashlib.sha256(POLICY).hexdigest(), self.dir)
        self.identity = registrar.AgentIdentity('ab' * 32, 'ek', 'aik',
                                                'PEM')

    def enrollment(self, **kwargs):
        values = dict(agent_uuid='u', agent=tenant.Endpoint('10.0.0.5', 9002),
                      verifier=tenant.Endpoint('10.0.0.1', 8881),
                      registrar=tenant.Endpoint('10.0.0.1', 8891),
                      lists=self.lists, tpm_policy=None, mb_policy=None,
                      ek_sha256=None, identity=self.identity)
        values.update(kwargs)
        return enroll.Enrollment(**values)

    def test_body(self):
        body = enroll.body(self.enrollment())
        self.assertEqual(POLICY, base64.b64decode(body['runtime_policy']))
        self.assertEqual('aik', body['ak_tpm'])
        self.assertEqual('PEM', body['mtls_cert'])
        self.assertEqual({'mask': hex(1 << 10)},
                         json.loads(body['tpm_policy']))
        self.assertEqual(('10.0.0.5', 9002),
                         (body['cloudagent_ip'], body['cloudagent_port']))
        self.assertEqual(('10.0.0.1', 8881),
                         (body['verifier_ip'], body['verifier_port']))
        self.assertIsNone(body['v'])
        self.assertIsNone(body['mb_policy'])
        self.assertEqual(['sha512', 'sha384', 'sha256'],
                         body['accept_tpm_hash_algs'])

    def test_tpm_and_mb_policy_as_the_tenant_encodes_them(self):
        mb = os.path.join(self.dir, 'mb.json')
        with open(mb, 'w') as f:
            f.write('{"has_secureboot": true, "scrtm_and_bios": []}')
        body = enroll.body(self.enrollment(tpm_policy='{"17": "AB"}',
                                           mb_policy=mb))
        self.assertEqual({'17': ['ab'], 'mask': hex(int(MB_MASK, 16)
                                                    | 1 << 17)},
                         json.loads(body['tpm_policy']))
        self.assertEqual({'has_secureboot': True, 'scrtm_and_bios': []},
                         json.loads(body['mb_policy']))

    def test_pcrs_the_tenant_refuses(self):
        for policy, mb in (('{"10": ["aa"]}', False),
                           ('{"16": ["aa"]}', False),
                           ('{"25": ["aa"]}', False),
                           ('{"0": ["aa"]}', True),
                           ('[1]', False), ('{"1": 5}', False)):
            self.assertRaises(exception.KeylimeError,
                              enroll.tpm_policy_field, policy,
                              mb_policy=mb)

    def test_changed_runtime_policy_refused(self):
        with open(self.lists.runtime_policy, 'ab') as f:
            f.write(b' ')
        error = self.assertRaises(exception.KeylimeError, enroll.body,
                                  self.enrollment())
        self.assertIn('changed after it was checked', str(error))

    def test_legacy_lists_refused(self):
        lists = self.lists._replace(runtime_policy=None)
        self.assertRaises(exception.KeylimeError, enroll.body,
                          self.enrollment(lists=lists))

    def test_no_attestation_key_refused(self):
        self.assertRaises(exception.KeylimeError, enroll.body,
                          self.enrollment(identity=None))
