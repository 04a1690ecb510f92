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

"""An in-memory Swift behind the HTTP edge, for unit tests.

Unit tests cannot start a Swift (the functional tests run a real one:
tests/functional/test_swift_lists.py). This fixture replaces the one
method where every request of python-swiftclient and keystoneauth1 leaves
the process, ``requests.adapters.HTTPAdapter.send``, so that the code
above it runs unchanged: swiftclient's connection and its headers, our
retries, error wording and streaming. It answers HEAD, GET, PUT and DELETE
on containers and objects of one account, records every request with the
TLS arguments it was sent with, and can be told to fail requests.
"""

import hashlib
import io
from urllib import parse as urlparse

import fixtures
import requests
from requests import adapters
import urllib3

ACCOUNT_URL = 'https://swift.example.com/v1/AUTH_test'
TOKEN = 'token-for-tests'


class FakeSwift(fixtures.Fixture):
    """Containers of ``ACCOUNT_URL``, served in memory.

    :ivar containers: ``{container: {object: bytes}}``.
    :ivar requests: the requests seen, as dicts (method, path, verify,
        cert, headers).
    :ivar failures: a list of (method, path suffix, status or exception)
        applied in turn to the first matching requests.
    :ivar lengths: ``{object: content-length}`` to announce instead of
        the true length (a lying or broken server).
    """

    def _setUp(self):
        self.containers = {}
        self.lengths = {}
        self.requests = []
        self.failures = []
        self.useFixture(fixtures.MockPatchObject(
            adapters.HTTPAdapter, 'send', autospec=True,
            side_effect=self._send))

    def put(self, container, name, data):
        """Store an object directly (test setup)."""
        self.containers.setdefault(container, {})[name] = data

    def _fail(self, method, path):
        for i, (f_method, suffix, what) in enumerate(self.failures):
            if f_method == method and path.endswith(suffix):
                del self.failures[i]
                return what
        return None

    def _send(self, adapter, request, stream=False, timeout=None,
              verify=True, cert=None, proxies=None):
        path = urlparse.unquote(urlparse.urlsplit(request.url).path)
        self.requests.append({'method': request.method, 'path': path,
                              'verify': verify, 'cert': cert,
                              'headers': dict(request.headers)})
        failure = self._fail(request.method, path)
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return self._response(adapter, request, failure, b'')
        body = request.body
        if hasattr(body, 'read'):
            body = body.read()
        elif body is not None and not isinstance(body, (bytes, str)):
            body = b''.join(body)
        if isinstance(body, str):
            body = body.encode()
        return self._answer(adapter, request, path, body or b'')

    def _answer(self, adapter, request, path, body):
        prefix = urlparse.urlsplit(ACCOUNT_URL).path
        if not path.startswith(prefix + '/'):
            return self._response(adapter, request, 403, b'')
        parts = path[len(prefix) + 1:].split('/', 1)
        container = parts[0]
        name = parts[1] if len(parts) > 1 else None
        method = request.method
        if name is None:
            if method == 'PUT':
                self.containers.setdefault(container, {})
                return self._response(adapter, request, 201, b'')
            if container not in self.containers:
                return self._response(adapter, request, 404, b'')
            return self._response(adapter, request, 204, b'')
        objects = self.containers.get(container)
        if objects is None:
            return self._response(adapter, request, 404, b'')
        if method == 'PUT':
            objects[name] = body
            return self._response(adapter, request, 201, b'', {
                'etag': hashlib.md5(body, usedforsecurity=False)
                .hexdigest()})
        if name not in objects:
            return self._response(adapter, request, 404, b'')
        if method == 'DELETE':
            del objects[name]
            return self._response(adapter, request, 204, b'')
        data = objects[name]
        headers = {'etag': hashlib.md5(data, usedforsecurity=False)
                   .hexdigest(),
                   'content-length': self.lengths.get(name, str(len(data)))}
        return self._response(adapter, request, 200,
                              b'' if method == 'HEAD' else data, headers)

    @staticmethod
    def _response(adapter, request, status, data, headers=None):
        headers = dict(headers or {})
        headers.setdefault('content-length', str(len(data)))
        raw = urllib3.HTTPResponse(body=io.BytesIO(data), headers=headers,
                                   status=status, preload_content=False,
                                   decode_content=False,
                                   request_method=request.method,
                                   enforce_content_length=False)
        return adapters.HTTPAdapter.build_response(adapter, request, raw)


def session(verify=True, cert=None):
    """A keystoneauth1 session with a fixed token and storage URL.

    :param verify: the session's TLS verification (True, False, a CA
        file).
    :param cert: its client certificate (a path, or (cert, key)).
    """
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint
    return ks_session.Session(
        auth=token_endpoint.Token(endpoint=ACCOUNT_URL, token=TOKEN),
        verify=verify, cert=cert)


#: What a refused connection raises from the HTTP edge.
ConnectionRefused = requests.ConnectionError
