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

"""The fingerprint of a TPM's endorsement key (EK).

The fingerprint is the SHA-256 hex digest of the DER encoding of the EK's
public key as an X.509 ``SubjectPublicKeyInfo``: the bytes that
``tpm2_readpublic -c 0x81010001 -f der`` writes and that
``openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER`` gives
from the EK certificate.

The registrar's ``ek_tpm`` is not hashed as it is: it is a base64
``TPM2B_PUBLIC`` whose non-key fields (attributes, policy, symmetric
parameters) differ between registrars for the same TPM. A Keylime 6.x
registrar rebuilds ``ek_tpm`` from the EK certificate with default
attributes; a 7.x registrar stores the one the agent sent. The key itself
(RSA modulus and exponent, or ECC curve and point) is the same in both,
and so is this fingerprint.
"""

import base64
import binascii
import hashlib
import struct

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization

from ironic_keylime.keylime_client import exception

TPM_ALG_RSA = 0x0001
TPM_ALG_ECC = 0x0023
TPM_ALG_NULL = 0x0010
#: TPM_ECC_CURVE identifiers and their curves.
CURVES = {0x0001: ec.SECP192R1, 0x0002: ec.SECP224R1,
          0x0003: ec.SECP256R1, 0x0004: ec.SECP384R1,
          0x0005: ec.SECP521R1}
_DEFAULT_EXPONENT = 65537
#: The ECC schemes whose details carry a count after the hash (ECDAA).
_TPM_ALG_ECDAA = 0x001A


class _Reader(object):
    """Reads the big-endian fields of a marshalled TPM structure."""

    def __init__(self, data):
        self.data = data
        self.offset = 0

    def take(self, size):
        if self.offset + size > len(self.data):
            raise ValueError('truncated at byte %d' % self.offset)
        value = self.data[self.offset:self.offset + size]
        self.offset += size
        return value

    def u16(self):
        return struct.unpack('>H', self.take(2))[0]

    def u32(self):
        return struct.unpack('>I', self.take(4))[0]

    def tpm2b(self):
        return self.take(self.u16())

    def done(self):
        return self.offset == len(self.data)


def _skip_symmetric(reader):
    # TPMT_SYM_DEF_OBJECT: algorithm, then keyBits and mode unless NULL.
    if reader.u16() != TPM_ALG_NULL:
        reader.u16()
        reader.u16()


def _skip_scheme(reader, ecdaa=False):
    # TPMT_*_SCHEME / TPMT_KDF_SCHEME: scheme, then its hash unless NULL.
    scheme = reader.u16()
    if scheme != TPM_ALG_NULL:
        reader.u16()
        if ecdaa and scheme == _TPM_ALG_ECDAA:
            reader.u16()


def public_key_from_tpm2b_public(data):
    """The public key of a marshalled ``TPM2B_PUBLIC`` (RSA or ECC).

    :param data: the bytes of the structure.
    :returns: a ``cryptography`` RSA or elliptic-curve public key.
    :raises: ValueError if the bytes are not such a structure.
    """
    outer = _Reader(data)
    reader = _Reader(outer.tpm2b())
    if not outer.done():
        raise ValueError('bytes after the TPMT_PUBLIC')
    key_type = reader.u16()
    reader.u16()  # nameAlg
    reader.u32()  # objectAttributes
    reader.tpm2b()  # authPolicy
    if key_type == TPM_ALG_RSA:
        _skip_symmetric(reader)
        _skip_scheme(reader)
        key_bits = reader.u16()
        exponent = reader.u32() or _DEFAULT_EXPONENT
        modulus = reader.tpm2b()
        if len(modulus) * 8 != key_bits:
            raise ValueError('a %d-byte modulus for %d bits'
                             % (len(modulus), key_bits))
        key = rsa.RSAPublicNumbers(
            exponent, int.from_bytes(modulus, 'big')).public_key()
    elif key_type == TPM_ALG_ECC:
        _skip_symmetric(reader)
        _skip_scheme(reader, ecdaa=True)
        curve_id = reader.u16()
        _skip_scheme(reader)  # kdf
        if curve_id not in CURVES:
            raise ValueError('unsupported ECC curve 0x%04x' % curve_id)
        x = int.from_bytes(reader.tpm2b(), 'big')
        y = int.from_bytes(reader.tpm2b(), 'big')
        # Raises ValueError when the point is not on the curve.
        key = ec.EllipticCurvePublicNumbers(
            x, y, CURVES[curve_id]()).public_key()
    else:
        raise ValueError('key type 0x%04x is neither RSA nor ECC' % key_type)
    if not reader.done():
        raise ValueError('bytes after the public key')
    return key


def _public_key(data):
    """The key of a TPM2B_PUBLIC, or of a PEM or DER public key."""
    if data.lstrip().startswith(b'-----BEGIN'):
        return serialization.load_pem_public_key(data)
    try:
        return public_key_from_tpm2b_public(data)
    except ValueError as tpm_error:
        try:
            # Not a TPM structure: a SubjectPublicKeyInfo in DER?
            return serialization.load_der_public_key(data)
        except (ValueError, crypto_exceptions.UnsupportedAlgorithm):
            raise tpm_error


def fingerprint_of_public_key(key):
    """The SHA-256 hex digest of a key's DER SubjectPublicKeyInfo.

    :param key: a ``cryptography`` public key.
    :returns: 64 lower-case hex characters.
    """
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def fingerprint(ek_tpm):
    """The fingerprint of the EK in a registrar's ``ek_tpm`` field.

    :param ek_tpm: the field as the registrar returns it: base64 of a
        ``TPM2B_PUBLIC`` (every Keylime 6.x and 7.x registrar), or of a
        PEM or DER public key.
    :returns: 64 lower-case hex characters (see the module's docstring).
    :raises: InvalidEndorsementKey if it holds no RSA or ECC public key.
    """
    if not isinstance(ek_tpm, str) or not ek_tpm.strip():
        raise exception.InvalidEndorsementKey(
            'the registrar returned no EK (ek_tpm is %r)' % (ek_tpm,))
    try:
        data = base64.b64decode(ek_tpm.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise exception.InvalidEndorsementKey(
            'the registrar\'s ek_tpm is not base64')
    try:
        key = _public_key(data)
    except (ValueError, crypto_exceptions.UnsupportedAlgorithm) as e:
        raise exception.InvalidEndorsementKey(
            'the registrar\'s ek_tpm is not a TPM2B_PUBLIC or a public '
            'key the conductor can read: %s' % e)
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise exception.InvalidEndorsementKey(
            'the registrar\'s ek_tpm is neither an RSA nor an ECC key')
    return fingerprint_of_public_key(key)
