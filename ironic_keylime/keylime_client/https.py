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

"""HTTPS requests to a Keylime service, with its errors made ours.

One :class:`Connection` is a ``requests`` session with the TLS context of
:mod:`.tls` (our CAs only, the client certificate, no host name check as
in ``keylime_tenant``), which keeps its connections open between
requests. The conductor's environment has no say: no proxy, no CA bundle
from ``REQUESTS_CA_BUNDLE``. Every failure becomes an error of
:mod:`.exception`, with the message the tenant path gives for the same
cause where there is one. An answer is read as it streams in, never more
than ``max_answer`` bytes of it.
"""

import json

import requests
from requests import adapters

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import tls

#: Longest quote of a service's words in a message.
MAX_QUOTE = 300
#: The default bound of an answer (``[keylime]max_verifier_answer_size``).
#: A 7.14.3 verifier's record of an agent is about 1.2 KiB
#: (tests/fixtures/verifier-7.14.3); a bulk read holds one per agent.
DEFAULT_MAX_ANSWER = 64 * 1024 * 1024
_CHUNK = 64 * 1024


def short(text, limit=MAX_QUOTE):
    """Shorten a service's words for a message."""
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def reason(body):
    """The service's words: its status, or JSON:API errors (7.14)."""
    errors = body.get('errors')
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get('detail') or errors[0].get('title'))
    return str(body.get('status') or 'no reason given')


class _Adapter(adapters.HTTPAdapter):
    """Connections with our TLS context and no host name check."""

    def __init__(self, context):
        self._context = context
        # Up to 10 requests at once to one service keep their
        # connections (more are made, and closed after use).
        super().__init__(pool_connections=1, pool_maxsize=10, max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs['ssl_context'] = self._context
        # urllib3 checks the name itself unless told not to; the chain is
        # still verified against our CAs only (keylime_tenant does so).
        kwargs['assert_hostname'] = False
        return super().init_poolmanager(*args, **kwargs)


class Connection(object):
    """Requests to one Keylime service over mutual TLS.

    :param service: what it is, for messages, e.g. ``verifier``.
    :param host: its address.
    :param port: its port.
    :param certs: :class:`.tls.Certificates`.
    :param timeout: seconds to connect, and seconds to wait for an answer.
    :param setting_names: how the caller's configuration names
        ``cert_dir``, ``timeout`` and ``max_answer``, for messages.
    :param max_answer: the largest answer read, in bytes.
    :raises: TenantCommandFailed if a certificate file cannot be used.
    """

    DEFAULT_SETTING_NAMES = {'cert_dir': 'the tenant\'s certificate '
                                         'directory',
                             'timeout': 'the command timeout',
                             'max_answer': 'the answer bound'}

    def __init__(self, service, host, port, certs, timeout=60,
                 setting_names=None, max_answer=DEFAULT_MAX_ANSWER):
        self.service = service
        self.certs = certs
        self.timeout = timeout
        self.max_answer = max_answer
        self.setting_names = dict(self.DEFAULT_SETTING_NAMES,
                                  **(setting_names or {}))
        port = int(port)
        self.address = '%s:%d' % (host, port)
        self.base_url = 'https://%s:%d' % (
            '[%s]' % host if ':' in host else host, port)
        context = tls.client_context(certs, self.setting_names['cert_dir'])
        self._session = requests.Session()
        # Our CA only, also for urllib3's own loading (never certifi's).
        self._session.verify = certs.trusted_ca[0]
        self._session.trust_env = False
        self._session.mount('https://', _Adapter(context))

    def close(self):
        """Close the connections."""
        self._session.close()

    def request(self, method, path, params=None, body=None):
        """One request.

        :param method: ``GET``, ``DELETE`` or ``POST``.
        :param path: the path, e.g. ``/v2.6/agents/<uuid>``.
        :param params: the query, a dict, or None.
        :param body: a JSON value to send, or None.
        :returns: the status code and the JSON object of the answer.
        :raises: ServiceUnreachable (refused, unreachable, no connection
            within the timeout), TenantTimeout (no answer within it),
            TenantCommandFailed (TLS, or another failure of the request),
            OutputTooLarge (more than ``max_answer`` bytes; the rest is
            not read), UnparsableOutput (the answer is no JSON object).
        """
        try:
            response = self._session.request(
                method, self.base_url + path, params=params,
                data=None if body is None else json.dumps(body),
                headers=None if body is None else {
                    'Content-Type': 'application/json'},
                timeout=self.timeout, stream=True)
            try:
                data = self._read(response, method, path)
            finally:
                response.close()
        except requests.exceptions.SSLError as e:
            if 'timed out' in str(e):
                # A service that accepts connections but never answers,
                # caught during the handshake.
                raise self.timeout_error(method, path)
            raise self.tls_error(e)
        except (requests.exceptions.ConnectTimeout,
                requests.exceptions.ConnectionError) as e:
            # Refused, unreachable, or no connection within the timeout.
            raise exception.ServiceUnreachable(
                'The Keylime %(service)s at %(addr)s did not answer '
                '(%(method)s %(path)s: %(err)s).' %
                {'service': self.service, 'addr': self.address,
                 'method': method, 'path': path, 'err': short(str(e))})
        except requests.exceptions.Timeout:
            # Connected, but no answer within the timeout.
            raise self.timeout_error(method, path)
        except requests.exceptions.RequestException as e:
            raise exception.TenantCommandFailed(
                'The request %(method)s %(path)s to the Keylime %(service)s '
                'at %(addr)s failed: %(err)s' %
                {'service': self.service, 'addr': self.address,
                 'method': method, 'path': path, 'err': short(str(e))})
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise exception.UnparsableOutput(
                'The Keylime %(service)s at %(addr)s answered %(method)s '
                '%(path)s with %(code)s and no JSON object.' %
                {'service': self.service, 'addr': self.address,
                 'method': method, 'path': path,
                 'code': response.status_code})
        return response.status_code, body

    def _read(self, response, method, path):
        """The body of an answer, read up to ``max_answer`` bytes."""
        chunks = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > self.max_answer:
                raise exception.OutputTooLarge(
                    'The Keylime %(service)s at %(addr)s answered %(method)s '
                    '%(path)s with more than %(max)d bytes (%(setting)s); '
                    'the rest was not read and the answer was not used.' %
                    {'service': self.service, 'addr': self.address,
                     'method': method, 'path': path, 'max': self.max_answer,
                     'setting': self.setting_names['max_answer']})
            chunks.append(chunk)
        return b''.join(chunks)

    def tls_error(self, error):
        """The error for a failed TLS handshake, naming the files."""
        text = str(error)
        if 'CERTIFICATE_VERIFY_FAILED' in text:
            hint = ('the %s\'s certificate is not signed by %s'
                    % (self.service, ', '.join(self.certs.trusted_ca)))
        else:
            hint = ('the %s may have refused the client certificate %s'
                    % (self.service, self.certs.client_cert))
        return exception.TenantCommandFailed(
            'Could not set up TLS with the Keylime %(service)s at %(addr)s: '
            '%(hint)s (%(err)s). Check %(setting)s: it must hold the '
            'verifier\'s cacert.crt, client-cert.crt and '
            'client-private.pem.' %
            {'service': self.service, 'addr': self.address, 'hint': hint,
             'err': short(text), 'setting': self.setting_names['cert_dir']})

    def timeout_error(self, method, path):
        """The error for a request without an answer in time."""
        return exception.TenantTimeout(
            'The Keylime %(service)s at %(addr)s did not answer %(method)s '
            '%(path)s within %(setting)s (%(timeout)s s). Check that the '
            'Keylime %(service)s answers.' %
            {'service': self.service, 'addr': self.address,
             'method': method, 'path': path,
             'setting': self.setting_names['timeout'],
             'timeout': self.timeout})

    def failed(self, method, path, code, body):
        """The error for an answer with an unexpected status code."""
        if code == 403:
            why = ('it refused the client certificate %s; check %s'
                   % (self.certs.client_cert,
                      self.setting_names['cert_dir']))
        else:
            why = short(reason(body))
        return exception.TenantCommandFailed(
            'The Keylime %(service)s at %(addr)s answered %(method)s '
            '%(path)s with %(code)s: %(why)s' %
            {'service': self.service, 'addr': self.address,
             'method': method, 'path': path, 'code': code, 'why': why})
