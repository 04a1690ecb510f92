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

"""Certificates made for each test: a CA, a server and a client.

The one builder for the fake registrar (``registrar_fixture``) and the
fake verifier (``keylime_client/https_verifier``): elliptic-curve keys,
a CA as Keylime's ``cv_ca``, a server and a client certificate signed
by it, valid from an hour ago for a day.
"""

import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from ironic_keylime.tests import utils

_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True,
    crl_sign=True, encipher_only=False, decipher_only=False)
_ROLES = (('server', ExtendedKeyUsageOID.SERVER_AUTH),
          ('client', ExtendedKeyUsageOID.CLIENT_AUTH))


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, ca=False, usage=None,
                 names=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                              critical=True))
    if ca:
        builder = builder.add_extension(_CA_USAGE, critical=True)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]),
                                        critical=False)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(directory, ca_name='keylime-ca', prefix='', server_dir=None,
            server_names=None):
    """A CA with a server and a client certificate, as in a cv_ca.

    Writes ``cacert.crt``, ``client-cert.crt`` and
    ``client-private.pem`` into ``directory``, and
    ``server-cert.crt`` and ``server-private.pem`` into
    ``server_dir`` (by default ``directory``).

    :param ca_name: the CA's common name.
    :param prefix: put before the server's and client's common names.
    :param server_names: DNS names of the server certificate, if any.
    :returns: the paths: ``ca``, ``server-cert``, ``server-key``,
        ``client-cert``, ``client-key``.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    paths = {'ca': utils.write_file(directory, 'cacert.crt', _pem_cert(ca))}
    for role, usage in _ROLES:
        where = (server_dir or directory) if role == 'server' else directory
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            prefix + role, key, ca_name, ca_key, usage=usage,
            names=server_names if role == 'server' else None)
        paths[role + '-cert'] = utils.write_file(
            where, '%s-cert.crt' % role, _pem_cert(cert))
        paths[role + '-key'] = utils.write_file(
            where, '%s-private.pem' % role, _pem_key(key))
    return paths
