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

"""A real HTTPS server on 127.0.0.1 that answers as a Keylime verifier.

It replays answers recorded from a real Keylime 7.14.3 verifier
(fixtures/verifier-7.14.3) over real TLS, with certificates generated for
each test: a CA as Keylime's ``cv_ca``, the verifier's certificate, a
client certificate, and a second, unrelated CA. Like the verifier, it asks
for a client certificate, answers 403 without one, and keeps connections
open (HTTP/1.1).
"""

import http.server
import json
import os
import socket
import ssl
import threading
import urllib.parse

from ironic_keylime.tests import base as test_base
from ironic_keylime.tests.unit import pki

RECORDED = os.path.join(test_base.FIXTURES, 'verifier-7.14.3')


def recorded(name):
    """A recorded answer: ``{"method", "path", "status", "body"}``."""
    with open(os.path.join(RECORDED, name + '.json')) as f:
        return json.load(f)


def make_pki(directory):
    """Write a CA, a server and a client certificate, and a rogue CA.

    ``directory/certs`` holds what the tenant has (cacert.crt,
    client-cert.crt, client-private.pem); ``directory/server`` the
    verifier's certificate and key, whose only name is
    ``verifier.example`` (not 127.0.0.1); ``directory/rogue`` a CA of its
    own with a server certificate and a client certificate.
    """
    paths = {}
    for sub in ('certs', 'server', 'rogue'):
        os.makedirs(os.path.join(directory, sub), mode=0o700)
    paths.update(pki.make_ca(os.path.join(directory, 'certs'), 'Keylime CA',
                             server_dir=os.path.join(directory, 'server'),
                             server_names=['verifier.example']))
    for key, path in pki.make_ca(os.path.join(directory, 'rogue'),
                                 'rogue-Keylime CA', prefix='rogue-').items():
        paths['rogue-' + key] = path
    return paths


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _answer(self):
        server = self.server
        peer = self.connection.getpeercert()
        length = int(self.headers.get('Content-Length') or 0)
        sent = self.rfile.read(length) if length else None
        with server.lock:
            server.requests.append({'method': self.command,
                                    'path': self.path,
                                    'client': self.client_address,
                                    'peer': peer,
                                    'body': sent})
        if not peer:
            answer = recorded('agent-no-client-cert')
            status, body = answer['status'], answer['body']
        else:
            status, body = server.answer(self.command, self.path)
        if isinstance(body, Endless):
            return self._endless(status, body)
        data = (body if isinstance(body, bytes)
                else json.dumps(body).encode())
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _endless(self, status, body):
        # No length: the answer streams until the reader stops.
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.close_connection = True
        chunk = b'A' * 65536
        try:
            self.wfile.write(b'{"code": 200, "status": "Success", '
                             b'"results": {"x": "')
            for _ in range(body.size // len(chunk)):
                self.wfile.write(chunk)
                body.sent += len(chunk)
            self.wfile.write(b'"}}')
            body.finished = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    do_GET = do_DELETE = do_POST = _answer


class Endless(object):
    """The body of an answer of ``size`` bytes, streamed without a length.

    :ivar sent: how many bytes the reader let the server send.
    :ivar finished: whether all of it was sent.
    """

    def __init__(self, size):
        self.size = size
        self.sent = 0
        self.finished = False


class VerifierServer(http.server.ThreadingHTTPServer):
    """The server; ``routes`` maps ``(method, path)`` to answers.

    An answer is a recorded fixture name, a ``(status, body)`` tuple (the
    body a JSON value, bytes or :class:`Endless`), or a list of those,
    given out one after the other (the last one stays).
    A path is matched with its query, parsed (``?bulk=True&verifier=x``).
    """

    daemon_threads = True

    def __init__(self, cert, key, ca):
        super().__init__(('127.0.0.1', 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(cafile=ca)
        # As the verifier: a client certificate is asked for, and the
        # handler answers 403 without one.
        context.verify_mode = ssl.CERT_OPTIONAL
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.requests = []
        self.connections = []
        self.routes = {}
        self.port = self.server_address[1]

    def answer(self, method, path):
        parts = urllib.parse.urlsplit(path)
        key = (method, parts.path,
               tuple(sorted(urllib.parse.parse_qsl(parts.query))))
        with self.lock:
            answers = self.routes.get(key) or self.routes.get(
                (method, parts.path))
            if answers is None:
                return 404, {'code': 404, 'status': 'Not Found',
                             'results': {}}
            if isinstance(answers, list):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
            else:
                answer = answers
        if isinstance(answer, str):
            answer = recorded(answer)
            return answer['status'], answer['body']
        return answer

    def start(self):
        thread = threading.Thread(target=self.serve_forever,
                                  kwargs={'poll_interval': 0.05},
                                  daemon=True)
        thread.start()
        return self

    def get_request(self):
        conn, address = super().get_request()
        with self.lock:
            self.connections.append(conn)
        return conn, address

    def stop(self):
        """Stop, closing the kept connections too (a dead verifier)."""
        self.shutdown()
        self.server_close()
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def silent_port():
    """A listening socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(8)
    return sock
