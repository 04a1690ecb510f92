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

"""The tenant's certificates, for mutual TLS with the Keylime verifier.

The verifier's REST API is reached with the same files ``keylime_tenant``
uses: its client certificate and key, and the CA that signed the
verifier's certificate. Their names follow Keylime's ``tenant.conf``
(``tls_dir``, ``client_cert``, ``client_key``, ``client_key_password``,
``trusted_server_ca``) and its rules (``keylime.web_util.get_tls_options``).
Peer verification cannot be turned off: ``trusted_server_ca = all`` is
refused, and only the CAs named are trusted, never the system's. As
Keylime's own tenant does, the verifier's host name is not checked
against its certificate (Keylime's generated certificates name only the
address the verifier was configured with).
"""

import ast
import collections
import configparser
import os
import ssl

from ironic_keylime.keylime_client import exception

#: Keylime's files in a ``tls_dir`` (``default`` in tenant.conf).
CLIENT_CERT = 'client-cert.crt'
CLIENT_KEY = 'client-private.pem'
TRUSTED_CA = 'cacert.crt'
#: Keylime's work directory when ``KEYLIME_DIR`` is not set; the tenant
#: the conductor runs never sees ``KEYLIME_DIR`` (tenant.Tenant).
DEFAULT_WORK_DIR = '/var/lib/keylime'

Certificates = collections.namedtuple(
    'Certificates', ['client_cert', 'client_key', 'trusted_ca',
                     'key_password'])
Certificates.__doc__ = """The files of mutual TLS with the verifier.

:ivar client_cert: path of the client certificate.
:ivar client_key: path of its private key.
:ivar trusted_ca: tuple of paths of the CAs trusted to sign the
    verifier's certificate.
:ivar key_password: the key's password, or None.
"""


def _read_tenant_config(path, setting):
    """The ``[tenant]`` options of a tenant.conf that name certificates."""
    parser = configparser.RawConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise exception.KeylimeError(
            'The tenant configuration %(path)s given by %(setting)s cannot '
            'be read: %(err)s' % {'path': path, 'setting': setting,
                                  'err': e})
    options = {}
    for name in ('tls_dir', 'client_cert', 'client_key',
                 'client_key_password', 'trusted_server_ca'):
        if parser.has_option('tenant', name):
            # Keylime strips quotes and blanks around every value.
            options[name] = parser.get('tenant', name).strip('" ')
    return options


def _ca_list(value, setting):
    """The files of ``trusted_server_ca`` (a Python list literal)."""
    try:
        files = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        files = None
    if not isinstance(files, list) or not all(
            isinstance(f, str) and f.strip() for f in files) or not files:
        raise exception.KeylimeError(
            'trusted_server_ca = %(value)s in %(setting)s is not a list of '
            'files, e.g. [\'cacert.crt\'].'
            % {'value': value, 'setting': setting})
    return [f.strip() for f in files]


def find_certificates(cert_dir=None, tenant_config=None,
                      setting_names=None):
    """Find the client certificate, its key and the verifier's CA.

    With ``cert_dir``, the files are read from it, as the tenant the
    conductor runs reads them: ``cacert.crt`` is the CA, the client
    certificate and key are ``client-cert.crt`` and
    ``client-private.pem`` unless ``tenant_config`` names others. Without
    it, ``tenant_config`` says where they are, as Keylime reads it.

    :param cert_dir: the tenant's certificate directory, or None.
    :param tenant_config: a Keylime tenant.conf, or None.
    :param setting_names: a dict naming ``cert_dir`` and ``config`` as
        the caller's configuration does, for messages.
    :returns: :class:`Certificates`; the files are not opened yet.
    :raises: KeylimeError if neither is given, if tenant.conf cannot be
        read, or if it turns peer verification off.
    """
    names = {'cert_dir': 'the tenant\'s certificate directory',
             'config': 'the tenant configuration'}
    names.update(setting_names or {})
    options = {}
    if tenant_config:
        options = _read_tenant_config(tenant_config, names['config'])
    if not cert_dir and not tenant_config:
        raise exception.KeylimeError(
            'No certificates for the Keylime verifier: set %s to the '
            'directory holding the verifier\'s cacert.crt, '
            'client-cert.crt and client-private.pem.' % names['cert_dir'])
    if cert_dir:
        tls_dir = os.path.abspath(cert_dir)
        trusted = [os.path.join(tls_dir, TRUSTED_CA)]
    else:
        tls_dir = options.get('tls_dir', 'default')
        if tls_dir in ('default', 'generate', ''):
            tls_dir = os.path.join(DEFAULT_WORK_DIR, 'cv_ca')
        else:
            tls_dir = os.path.join(DEFAULT_WORK_DIR, tls_dir)
        ca = options.get('trusted_server_ca', 'default')
        where = '%s (%s)' % (names['config'], tenant_config)
        if ca == 'all':
            raise exception.KeylimeError(
                'trusted_server_ca = all in %s turns off the verification '
                'of the verifier\'s certificate, which ironic-keylime does '
                'not allow: name the verifier\'s CA.' % where)
        if ca == 'default':
            trusted = [os.path.join(DEFAULT_WORK_DIR, 'cv_ca', TRUSTED_CA)]
        else:
            trusted = [os.path.join(tls_dir, f) for f in _ca_list(ca, where)]

    def _file(option, default):
        value = options.get(option) or 'default'
        return os.path.join(tls_dir, default if value == 'default'
                            else value)

    return Certificates(client_cert=_file('client_cert', CLIENT_CERT),
                        client_key=_file('client_key', CLIENT_KEY),
                        trusted_ca=tuple(trusted),
                        key_password=options.get('client_key_password')
                        or None)


def _load_error(kind, path, error, setting):
    return exception.TenantCommandFailed(
        'The %(kind)s %(path)s for the Keylime verifier cannot be used '
        '(%(err)s). Check %(setting)s.' %
        {'kind': kind, 'path': path, 'err': error, 'setting': setting})


def client_context(certs, setting='the tenant\'s certificate directory'):
    """Build the TLS context of a client of a Keylime service.

    The one context of every Keylime client (the verifier's REST client
    and the registrar's). The CAs of ``certs`` are the only ones trusted
    (never the system's trust store); the peer's certificate is required
    and verified; TLS 1.2 at least.

    :param certs: :class:`Certificates`.
    :param setting: how the caller names where they come from.
    :returns: an ``ssl.SSLContext``.
    :raises: TenantCommandFailed naming the file that cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    # The chain is verified; the host name is not, as in keylime_tenant.
    context.check_hostname = False
    for ca in certs.trusted_ca:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as e:
            raise _load_error('CA certificate', ca, e, setting)
    for path, kind in ((certs.client_cert, 'client certificate'),
                       (certs.client_key, 'client key')):
        if not os.path.isfile(path):
            raise _load_error(kind, path, 'no such file', setting)
    try:
        context.load_cert_chain(certs.client_cert, certs.client_key,
                                password=certs.key_password)
    except (OSError, ssl.SSLError) as e:
        raise _load_error('client certificate and key',
                          '%s, %s' % (certs.client_cert, certs.client_key),
                          e, setting)
    return context


def file_stamps(certs):
    """What changes when a certificate file is replaced (for caches)."""
    stamps = []
    for path in (certs.client_cert, certs.client_key) + certs.trusted_ca:
        try:
            info = os.stat(path)
            stamps.append((path, info.st_mtime_ns, info.st_size))
        except OSError:
            stamps.append((path, None, None))
    return tuple(stamps)
