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

"""The EK fingerprint, on an EK from a real registrar and TPM."""

import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from oslotest import base as test_base

from ironic_keylime.keylime_client import ek
from ironic_keylime.keylime_client import exception
from ironic_keylime.tests.unit import registrar_fixture

EXPECTED = registrar_fixture.AGENT_EK_SHA256


def _record():
    return json.loads(registrar_fixture.recorded('agent.json'))['results']


def _ecc_tpm2b_public(key, attributes=0x000300b2):
    """A marshalled TPM2B_PUBLIC of an ECC EK (TCG's default template)."""
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    body = struct.pack('>HHI', ek.TPM_ALG_ECC, 0x000B, attributes)
    body += struct.pack('>H', 32) + b'\x83' * 32  # authPolicy
    body += struct.pack('>HHH', 0x0006, 128, 0x0043)  # AES-128-CFB
    body += struct.pack('>H', ek.TPM_ALG_NULL)  # scheme
    body += struct.pack('>H', 0x0003)  # NIST P-256
    body += struct.pack('>H', ek.TPM_ALG_NULL)  # kdf
    for value in (numbers.x, numbers.y):
        body += struct.pack('>H', size) + value.to_bytes(size, 'big')
    return struct.pack('>H', len(body)) + body


class FingerprintTestCase(test_base.BaseTestCase):

    def test_registrar_ek_tpm(self):
        self.assertEqual(EXPECTED, ek.fingerprint(_record()['ek_tpm']))

    def test_same_as_tpm2_readpublic_der(self):
        # What the operator computes on the node (tpm2_readpublic -f der).
        der = registrar_fixture.recorded('ek-public.der')
        self.assertEqual(EXPECTED, hashlib.sha256(der).hexdigest())
        self.assertEqual(EXPECTED, ek.fingerprint(
            base64.b64encode(der).decode()))

    def test_same_as_ek_certificate(self):
        # A Keylime 6.x registrar rebuilds ek_tpm from the EK
        # certificate: the key, and so the fingerprint, is the same.
        cert = x509.load_der_x509_certificate(
            base64.b64decode(_record()['ekcert']))
        self.assertEqual(EXPECTED,
                         ek.fingerprint_of_public_key(cert.public_key()))

    def test_other_attributes_same_fingerprint(self):
        # Registrars differ in the non-key fields of ek_tpm: they must
        # not change the fingerprint (a hash of the raw bytes would).
        raw = bytearray(base64.b64decode(_record()['ek_tpm']))
        raw[6:10] = struct.pack('>I', 0x000300f2)  # objectAttributes
        self.assertNotEqual(
            hashlib.sha256(base64.b64decode(_record()['ek_tpm'])).digest(),
            hashlib.sha256(bytes(raw)).digest())
        self.assertEqual(EXPECTED, ek.fingerprint(
            base64.b64encode(bytes(raw)).decode()))

    def test_other_modulus_other_fingerprint(self):
        raw = bytearray(base64.b64decode(_record()['ek_tpm']))
        raw[-1] ^= 0x01
        self.assertNotEqual(EXPECTED, ek.fingerprint(
            base64.b64encode(bytes(raw)).decode()))

    def test_ecc_ek(self):
        key = ec.generate_private_key(ec.SECP256R1())
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(hashlib.sha256(spki).hexdigest(), ek.fingerprint(
            base64.b64encode(_ecc_tpm2b_public(key)).decode()))

    def test_ecc_point_not_on_curve(self):
        key = ec.generate_private_key(ec.SECP256R1())
        raw = bytearray(_ecc_tpm2b_public(key))
        raw[-1] ^= 0x01
        self.assertRaises(exception.InvalidEndorsementKey, ek.fingerprint,
                          base64.b64encode(bytes(raw)).decode())

    def test_pem_public_key(self):
        key = serialization.load_der_public_key(
            registrar_fixture.recorded('ek-public.der'))
        pem = key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(EXPECTED,
                         ek.fingerprint(base64.b64encode(pem).decode()))

    def test_unreadable(self):
        raw = base64.b64decode(_record()['ek_tpm'])
        for value in (None, '', 42, 'not base64!',
                      base64.b64encode(raw[:-10]).decode(),
                      base64.b64encode(raw + b'\x00').decode(),
                      base64.b64encode(b'\x00\x02\x00\x08').decode()):
            self.assertRaises(exception.InvalidEndorsementKey,
                              ek.fingerprint, value)
