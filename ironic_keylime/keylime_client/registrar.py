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

"""Reading an agent's record from the Keylime registrar.

One HTTPS request to the registrar's TLS port, with the tenant's client
certificate (mutual TLS), for each question: ``GET /version`` to agree on
an API version, then ``GET /v<major>.<minor>/agents/<uuid>``. The answer
carries the agent's EK as ``ek_tpm`` in every registrar from Keylime 6.x
to 7.14; ``keylime_tenant -c regstatus`` prints it in a different shape
in each version and costs a whole tenant process.

Like ``keylime_tenant``, the client trusts the registrar's certificate
when the CA of the certificate directory (``cacert.crt``) signed it, and
only then: the TLS context is :func:`.tls.client_context`, the one of
every Keylime client, which never loads the system's trust store. The
host name is not checked (Keylime's certificates do not name the hosts
they are used on).
"""

import collections
import http.client
import json
import os
import socket
import ssl
from urllib import parse as urlparse

from oslo_log import log as logging

from ironic_keylime.keylime_client import ek
from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import tls

LOG = logging.getLogger(__name__)

#: The files of the certificate directory (the verifier's ``cv_ca``).
CA_FILE = 'cacert.crt'
CERT_FILE = 'client-cert.crt'
KEY_FILE = 'client-private.pem'
#: keylime_tenant's own default certificate directory.
DEFAULT_CERT_DIR = '/var/lib/keylime/cv_ca'
#: The API major version whose agent records carry ``ek_tpm``; 3.x is
#: Keylime's push mode.
API_MAJOR = 2
#: The API versions tried, in turn, with a registrar without
#: ``/version`` on its TLS port (Keylime 6.x: 2.1 from 6.4, else 2.0).
FALLBACK_VERSIONS = ('2.1', '2.0')
#: How a Keylime 6.x registrar refuses an API version (HTTP 400).
_VERSION_REFUSED = 'API Version not supported'
#: An answer larger than this is not a registrar's agent record.
_MAX_BODY = 1024 * 1024


AgentIdentity = collections.namedtuple(
    'AgentIdentity', ['ek_sha256', 'ek_tpm', 'aik_tpm', 'mtls_cert'])
AgentIdentity.__doc__ = """An agent's identity from one registrar read.

:ivar ek_sha256: the fingerprint of its EK (:func:`.ek.fingerprint`).
:ivar ek_tpm: the EK as the registrar holds it (base64 TPM2B_PUBLIC).
:ivar aik_tpm: its attestation key (what the verifier checks quotes
    with).
:ivar mtls_cert: its mTLS certificate (PEM), or None (Keylime 6.x
    without agent mTLS, or ``disabled``).
"""


def _version_key(text):
    major, minor = text.split('.')
    return int(major), int(minor)


def negotiate(supported):
    """Pick the newest ``2.x`` API version of a registrar.

    :param supported: the registrar's ``supported_versions`` (strings).
    :returns: a version string such as ``'2.6'``.
    :raises: RegistrarError if it supports no 2.x version.
    """
    usable = []
    for item in supported if isinstance(supported, list) else []:
        try:
            key = _version_key(str(item))
        except ValueError:
            continue
        if key[0] == API_MAJOR:
            usable.append(key)
    if not usable:
        raise exception.RegistrarError(
            'the registrar supports none of the API versions 2.x (it '
            'lists %r); use a Keylime 6 or 7 registrar.' % (supported,))
    return '%d.%d' % max(usable)


class RegistrarClient(object):
    """A client of one registrar's TLS port.

    :param host: the registrar's address.
    :param port: its TLS port.
    :param cert_dir: the directory of ``cacert.crt``, ``client-cert.crt``
        and ``client-private.pem``; None or empty for keylime_tenant's
        default, ``/var/lib/keylime/cv_ca``.
    :param timeout: seconds for connecting and for each read.
    """

    def __init__(self, host, port, cert_dir=None, timeout=30):
        self.host = host
        self.port = int(port)
        self.cert_dir = cert_dir or DEFAULT_CERT_DIR
        self.timeout = timeout
        self._version = None
        self._fallbacks = []
        self._context = None

    @property
    def where(self):
        """The registrar as messages name it."""
        host = '[%s]' % self.host if ':' in self.host else self.host
        return 'the Keylime registrar at %s:%s' % (host, self.port)

    def _file(self, name):
        path = os.path.join(self.cert_dir, name)
        if not os.access(path, os.R_OK):
            raise exception.RegistrarTLSError(
                'cannot read %s, needed for mutual TLS with %s. Set '
                '[keylime]tenant_cert_dir to the copy of the verifier\'s '
                'cv_ca directory (cacert.crt, client-cert.crt, '
                'client-private.pem) readable by the conductor.'
                % (path, self.where))
        return path

    def _tls_context(self):
        if self._context is not None:
            return self._context
        ca, cert, key = (self._file(CA_FILE), self._file(CERT_FILE),
                         self._file(KEY_FILE))
        certs = tls.Certificates(client_cert=cert, client_key=key,
                                 trusted_ca=(ca,), key_password=None)
        # The one TLS context of every Keylime client: the Keylime CA
        # alone is trusted, never the system's public CAs.
        try:
            context = tls.client_context(certs, '[keylime]tenant_cert_dir')
        except exception.KeylimeError as e:
            raise exception.RegistrarTLSError(
                'mutual TLS with %s cannot be set up: %s' % (self.where, e))
        self._context = context
        return context

    def _get(self, path):
        """GET a path; returns (HTTP status, parsed JSON body or None)."""
        return self._request('GET', path)

    def _request(self, method, path):
        """Send a request; returns (HTTP status, parsed body or None)."""
        context = self._tls_context()
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=context)
        try:
            connection.request(method, path,
                               headers={'Accept': 'application/json'})
            response = connection.getresponse()
            body = response.read(_MAX_BODY + 1)
        except ssl.SSLError as e:
            raise exception.RegistrarTLSError(
                'mutual TLS with %s failed (%s). Check that %s signed the '
                'registrar\'s certificate and that the registrar trusts '
                '%s.' % (self.where, e,
                         os.path.join(self.cert_dir, CA_FILE),
                         os.path.join(self.cert_dir, CERT_FILE)))
        except (socket.timeout, TimeoutError):
            raise exception.RegistrarUnreachable(
                '%s did not answer within %s s. Check that it runs and '
                'that driver_info/keylime_r and keylime_rp name its TLS '
                'port.' % (self.where, self.timeout))
        except (OSError, http.client.HTTPException) as e:
            raise exception.RegistrarUnreachable(
                '%s cannot be reached (%s). Check that it runs and that '
                'driver_info/keylime_r and keylime_rp name its TLS port.'
                % (self.where, e))
        finally:
            connection.close()
        if len(body) > _MAX_BODY:
            raise exception.RegistrarError(
                '%s answered %s with more than %d bytes'
                % (self.where, path, _MAX_BODY))
        try:
            data = json.loads(body.decode('utf-8')) if body else None
        except ValueError:
            data = None
        return response.status, data

    def _check_client_accepted(self, status):
        """Raise RegistrarTLSError when the registrar refused our client."""
        if status in (401, 403):
            raise exception.RegistrarTLSError(
                '%s refused the client certificate %s (HTTP %s). Use the '
                'client certificate of the verifier\'s cv_ca.'
                % (self.where, os.path.join(self.cert_dir, CERT_FILE),
                   status))

    def api_version(self):
        """Agree on an API version with the registrar (``GET /version``).

        A Keylime 6.x registrar has no ``/version`` on its TLS port (it
        answers HTTP 400, "API Version not supported"): then the newest
        version 6.x serves there, 2.1, is used, and 2.0 if the registrar
        refuses 2.1 (see :meth:`_agent_request`).

        :returns: the newest 2.x version it supports, e.g. ``'2.6'``.
        :raises: RegistrarUnreachable, RegistrarTLSError, RegistrarError.
        """
        if self._version is None:
            status, data = self._get('/version')
            self._check_client_accepted(status)
            results = data.get('results') if isinstance(data, dict) else None
            if status == 200 and isinstance(results, dict):
                self._version = negotiate(results.get('supported_versions'))
            elif status == 400:
                self._version = FALLBACK_VERSIONS[0]
                self._fallbacks = list(FALLBACK_VERSIONS[1:])
            else:
                raise exception.RegistrarError(
                    '%s answered GET /version with HTTP %s and no version '
                    'list; is it a Keylime registrar?' % (self.where, status))
            LOG.debug('Using API %(v)s of %(where)s',
                      {'v': self._version, 'where': self.where})
        return self._version

    def _agent_request(self, method, agent_uuid):
        """A request on an agent's record, in the agreed API version.

        :returns: (path, HTTP status, parsed body as a dict).
        """
        while True:
            version = self.api_version()
            path = '/v%s/agents/%s' % (
                version, urlparse.quote(str(agent_uuid), safe=''))
            status, data = self._request(method, path)
            data = data if isinstance(data, dict) else {}
            if (status == 400 and self._fallbacks
                    and _VERSION_REFUSED in str(data.get('status'))):
                # A Keylime 6.x registrar older than 6.4 serves 2.0 only.
                self._version = self._fallbacks.pop(0)
                continue
            return path, status, data

    def agent(self, agent_uuid):
        """The registrar's record of an active agent.

        :param agent_uuid: the agent's UUID.
        :returns: the ``results`` dict (``ek_tpm``, ``ekcert``,
            ``aik_tpm``, ``mtls_cert``, ``ip``, ``port``, ``regcount``,
            ...): the EK, the attestation key and the agent's mTLS
            certificate of one read, bound together.
        :raises: AgentNotRegistered if the registrar does not know it or
            has not activated it.
        :raises: RegistrarUnreachable, RegistrarTLSError, RegistrarError.
        """
        path, status, data = self._agent_request('GET', agent_uuid)
        if status == 404:
            raise exception.AgentNotRegistered(
                'the Keylime agent %s is not registered and activated at '
                '%s (%s). Check that the agent on the node runs with this '
                'UUID and reached the registrar.'
                % (agent_uuid, self.where,
                   data.get('status') or 'HTTP 404'))
        self._check_client_accepted(status)
        results = data.get('results')
        if status != 200 or not isinstance(results, dict):
            raise exception.RegistrarError(
                '%s answered GET %s with HTTP %s: %s'
                % (self.where, path, status,
                   data.get('status') or 'no agent record'))
        return results

    def delete_agent(self, agent_uuid):
        """Delete the registrar's record of an agent.

        Keylime 7.14's registrar refuses an agent that registers again
        under the same UUID with another attestation key, which a
        ramdisk's agent makes at every boot; the record must go first.

        :param agent_uuid: the agent's UUID.
        :returns: True when a record was deleted, False when there was
            none.
        :raises: RegistrarUnreachable, RegistrarTLSError, RegistrarError.
        """
        path, status, data = self._agent_request('DELETE', agent_uuid)
        if status == 200:
            return True
        if status == 404:
            return False
        self._check_client_accepted(status)
        raise exception.RegistrarError(
            '%s answered DELETE %s with HTTP %s: %s'
            % (self.where, path, status, data.get('status') or 'no status'))

    def identity(self, agent_uuid):
        """The agent's EK, attestation key and mTLS certificate, one read.

        What the registrar says of the agent at one moment: checking the
        EK of this answer and using its attestation key and certificate
        leaves no room for a record swapped between two reads.

        :param agent_uuid: the agent's UUID.
        :returns: :class:`AgentIdentity`.
        :raises: AgentNotRegistered, RegistrarUnreachable,
            RegistrarTLSError, RegistrarError (no attestation key),
            InvalidEndorsementKey.
        """
        record = self.agent(agent_uuid)
        fingerprint = self._fingerprint(agent_uuid, record)
        aik = record.get('aik_tpm')
        if not isinstance(aik, str) or not aik.strip():
            raise exception.RegistrarError(
                '%s holds no attestation key (aik_tpm) for the Keylime '
                'agent %s' % (self.where, agent_uuid))
        mtls_cert = record.get('mtls_cert')
        return AgentIdentity(
            ek_sha256=fingerprint, ek_tpm=record.get('ek_tpm'),
            aik_tpm=aik,
            mtls_cert=mtls_cert if isinstance(mtls_cert, str) else None)

    def _fingerprint(self, agent_uuid, record):
        try:
            return ek.fingerprint(record.get('ek_tpm'))
        except exception.InvalidEndorsementKey as e:
            raise exception.InvalidEndorsementKey(
                'agent %s at %s: %s' % (agent_uuid, self.where, e))

    def ek_fingerprint(self, agent_uuid):
        """The fingerprint of an agent's EK, as the registrar knows it.

        :param agent_uuid: the agent's UUID.
        :returns: 64 lower-case hex characters (see
            :func:`ironic_keylime.keylime_client.ek.fingerprint`).
        :raises: AgentNotRegistered, RegistrarUnreachable,
            RegistrarTLSError, RegistrarError, InvalidEndorsementKey.
        """
        return self._fingerprint(agent_uuid, self.agent(agent_uuid))
