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

"""A TLS server that answers like a Keylime 7.14.3 registrar.

It replays the answers recorded from a real registrar
(``fixtures/registrar-7.14.3``) over real mutual TLS, with a private CA,
server and client certificates made for each test: the client under test
runs its whole TLS and HTTP path. A real registrar cannot run in the unit
tests (it needs Keylime's own virtualenv and a TPM); the functional tests
use one.
"""

import http.server
import json
import os
import shutil
import ssl
import tempfile
import threading

import fixtures

from ironic_keylime.tests.unit import pki

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        'fixtures', 'registrar-7.14.3')
#: The agent of the recorded answers.
AGENT_UUID = '4e5a1a7e-1c0d-4e11-8b3a-1d0c0ffee001'
#: SHA-256 of the DER public key of that agent's EK (ek-public.der).
AGENT_EK_SHA256 = (
    'bbae2a4895f92f1314c38415f817dfc5b9aac9618b5bb39bdac1035359a4d198')


def recorded(name):
    """The bytes of a recorded answer."""
    with open(os.path.join(FIXTURES, name), 'rb') as f:
        return f.read()


class FakeRegistrar(fixtures.Fixture):
    """A registrar on 127.0.0.1 replaying recorded answers.

    :ivar cert_dir: the client's certificate directory (a cv_ca copy).
    :ivar port: the TLS port.
    :ivar routes: path -> (HTTP status, body bytes); other paths of
        ``/v*/agents/<uuid>`` get the recorded "not found" answer.
    :ivar in_turn: path -> a list of (HTTP status, body bytes), one per
        GET, the last one repeated: a record that changes between reads
        (before ``routes``).
    :ivar requests: the paths requested (GET), in order.
    :ivar deletes: the paths deleted (DELETE), in order.
    :ivar delete_answer: (status, body) every DELETE gets, or None for
        the registrar's own answers.
    :ivar client_certs: whether each request came with a client
        certificate the server verified.
    :param server_ca_dir: a directory made by :func:`.pki.make_ca` whose
        ``server-cert.crt`` (signed by another CA than the client's
        ``cacert.crt``) the registrar presents; None for the one of
        ``cert_dir``.
    """

    def __init__(self, require_client_cert=True, server_ca_dir=None):
        super().__init__()
        self.require_client_cert = require_client_cert
        self.server_ca_dir = server_ca_dir

    def _setUp(self):
        self.base_dir = tempfile.mkdtemp(prefix='ik-registrar-')
        self.addCleanup(shutil.rmtree, self.base_dir)
        self.cert_dir = os.path.join(self.base_dir, 'cv_ca')
        os.mkdir(self.cert_dir)
        pki.make_ca(self.cert_dir)
        self.routes = {
            '/version': (200, recorded('version.json')),
            '/v2.6/agents/%s' % AGENT_UUID: (200, recorded('agent.json')),
        }
        self.in_turn = {}
        self.requests = []
        self.deletes = []
        self.delete_answer = None
        self.client_certs = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_dir = self.server_ca_dir or self.cert_dir
        context.load_cert_chain(
            os.path.join(server_dir, 'server-cert.crt'),
            os.path.join(server_dir, 'server-private.pem'))
        context.load_verify_locations(
            os.path.join(self.cert_dir, 'cacert.crt'))
        context.verify_mode = (ssl.CERT_REQUIRED if self.require_client_cert
                               else ssl.CERT_OPTIONAL)
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                 self._handler())
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)

    def _answer(self, path):
        turns = self.in_turn.get(path)
        if turns:
            # One answer per read; the last one stays.
            return turns.pop(0) if len(turns) > 1 else turns[0]
        if path in self.routes:
            return self.routes[path]
        parts = path.split('/')
        if len(parts) == 4 and parts[2] == 'agents':
            body = json.loads(recorded('agent-unknown.json'))
            body['status'] = "Agent with ID '%s' not found" % parts[3]
            return 404, json.dumps(body).encode()
        return 404, b'{"code": 404, "status": "Not Found", "results": {}}'

    def _handler(self):
        fixture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status, body):
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_DELETE(self):
                fixture.deletes.append(self.path)
                # Keylime 7.14.3's agents_controller.delete: 200
                # "Success" for a known agent (forgotten from then on),
                # 404 "Agent with ID '...' not found" otherwise.
                if fixture.delete_answer is not None:
                    status, body = fixture.delete_answer
                elif fixture.routes.pop(self.path, None) is not None:
                    status, body = 200, (b'{"code": 200, "status": '
                                         b'"Success", "results": {}}')
                else:
                    status, body = fixture._answer(self.path)
                self._send(status, body)

            def do_GET(self):
                fixture.requests.append(self.path)
                fixture.client_certs.append(
                    bool(self.connection.getpeercert()))
                status, body = fixture._answer(self.path)
                self._send(status, body)

            def log_message(self, *args):
                pass

        return Handler
