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

"""The registrar client, over real mutual TLS, on recorded answers."""

import json
import os
import socket
import tempfile
import threading

import fixtures
from oslotest import base as test_base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import registrar
from ironic_keylime.tests.unit import pki
from ironic_keylime.tests.unit import registrar_fixture

AGENT = registrar_fixture.AGENT_UUID
#: What a Keylime 6.8.0 registrar answers on its TLS port for /version and
#: for an API version it does not serve (web_util.validate_api_version).
_REFUSED_6X = (b'{"code": 400, "status": "API Version not supported", '
               b'"results": {}}')


class NegotiateTestCase(test_base.BaseTestCase):

    def test_newest_2x(self):
        versions = json.loads(registrar_fixture.recorded('version.json'))
        self.assertEqual('2.6', registrar.negotiate(
            versions['results']['supported_versions']))

    def test_keylime_6(self):
        self.assertEqual('2.1', registrar.negotiate(['1.0', '2.0', '2.1']))

    def test_minor_numbers_not_strings(self):
        self.assertEqual('2.10', registrar.negotiate(['2.9', '2.10']))

    def test_no_2x(self):
        for value in (['1.0', '3.0'], [], None, 'garbage', ['x.y']):
            self.assertRaises(exception.RegistrarError,
                              registrar.negotiate, value)


class RegistrarClientTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())

    def _client(self, **kwargs):
        kwargs.setdefault('cert_dir', self.registrar.cert_dir)
        kwargs.setdefault('timeout', 5)
        return registrar.RegistrarClient('127.0.0.1', self.registrar.port,
                                         **kwargs)

    def test_fingerprint(self):
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         self._client().ek_fingerprint(AGENT))
        self.assertEqual(['/version', '/v2.6/agents/%s' % AGENT],
                         self.registrar.requests)
        # Mutual TLS: the client presented its certificate.
        self.assertEqual([True, True], self.registrar.client_certs)

    def test_oversized_answer_refused_while_read(self):
        # The client reads at most 1 MiB and a byte of an answer, whatever
        # length the registrar announces; the rest is never read.
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (
            200, b'{"results": "' + b'A' * (8 * 1024 * 1024) + b'"}')
        error = self.assertRaises(exception.RegistrarError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn('with more than 1048576 bytes', str(error))

    def test_version_asked_once(self):
        client = self._client()
        client.ek_fingerprint(AGENT)
        client.ek_fingerprint(AGENT)
        self.assertEqual(1, self.registrar.requests.count('/version'))

    def test_keylime_6_registrar(self):
        # Not recorded: the shape of keylime 6.6's registrar_common
        # (GET /version), which only serves API 1.0, 2.0 and 2.1.
        self.registrar.routes['/version'] = (200, json.dumps(
            {'code': 200, 'status': 'Success',
             'results': {'current_version': '2.1',
                         'supported_versions': ['1.0', '2.0', '2.1']}}
        ).encode())
        self.registrar.routes['/v2.1/agents/%s' % AGENT] = (
            self.registrar.routes['/v2.6/agents/%s' % AGENT])
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         self._client().ek_fingerprint(AGENT))
        self.assertEqual('/v2.1/agents/%s' % AGENT,
                         self.registrar.requests[-1])

    def test_keylime_6_8_registrar_without_version(self):
        # Keylime 6.8.0's registrar serves /version on its plain HTTP port
        # only; its TLS port answers it as below (web_util.
        # validate_api_version), and serves API 2.1 and 2.0.
        self.registrar.routes['/version'] = (400, _REFUSED_6X)
        self.registrar.routes['/v2.1/agents/%s' % AGENT] = (
            self.registrar.routes.pop('/v2.6/agents/%s' % AGENT))
        client = self._client()
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         client.ek_fingerprint(AGENT))
        self.assertEqual(['/version', '/v2.1/agents/%s' % AGENT],
                         self.registrar.requests)
        self.assertTrue(client.delete_agent(AGENT))
        self.assertEqual(['/v2.1/agents/%s' % AGENT], self.registrar.deletes)

    def test_keylime_6_registrar_of_api_2_0(self):
        self.registrar.routes['/version'] = (400, _REFUSED_6X)
        self.registrar.routes['/v2.1/agents/%s' % AGENT] = (400, _REFUSED_6X)
        self.registrar.routes['/v2.0/agents/%s' % AGENT] = (
            self.registrar.routes.pop('/v2.6/agents/%s' % AGENT))
        client = self._client()
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         client.ek_fingerprint(AGENT))
        self.assertEqual(['/version', '/v2.1/agents/%s' % AGENT,
                          '/v2.0/agents/%s' % AGENT],
                         self.registrar.requests)
        # Agreed once.
        client.ek_fingerprint(AGENT)
        self.assertEqual('/v2.0/agents/%s' % AGENT,
                         self.registrar.requests[-1])

    def test_version_refused_everywhere(self):
        self.registrar.routes['/version'] = (400, _REFUSED_6X)
        for version in ('2.1', '2.0'):
            self.registrar.routes['/v%s/agents/%s' % (version, AGENT)] = (
                400, _REFUSED_6X)
        error = self.assertRaises(exception.RegistrarError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn('/v2.0/agents/%s with HTTP 400' % AGENT, str(error))

    def test_identity_of_one_read(self):
        identity = self._client().identity(AGENT)
        record = json.loads(registrar_fixture.recorded('agent.json'))
        self.assertEqual(registrar_fixture.AGENT_EK_SHA256,
                         identity.ek_sha256)
        self.assertEqual(record['results']['aik_tpm'], identity.aik_tpm)
        self.assertEqual(record['results']['ek_tpm'], identity.ek_tpm)
        self.assertEqual(record['results']['mtls_cert'], identity.mtls_cert)
        self.assertEqual(1, len([p for p in self.registrar.requests
                                 if '/agents/' in p]))

    def test_identity_without_aik(self):
        body = json.loads(registrar_fixture.recorded('agent.json'))
        body['results']['aik_tpm'] = None
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (
            200, json.dumps(body).encode())
        error = self.assertRaises(exception.RegistrarError,
                                  self._client().identity, AGENT)
        self.assertIn('aik_tpm', str(error))

    def test_no_version(self):
        self.registrar.routes['/version'] = (404, b'')
        error = self.assertRaises(exception.RegistrarError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn('GET /version', str(error))

    def test_delete_agent(self):
        client = self._client()
        self.assertTrue(client.delete_agent(AGENT))
        self.assertEqual(['/v2.6/agents/%s' % AGENT], self.registrar.deletes)
        # Gone: a second delete finds nothing, a read says not found.
        self.assertFalse(client.delete_agent(AGENT))
        self.assertRaises(exception.AgentNotRegistered,
                          client.ek_fingerprint, AGENT)

    def test_delete_refused(self):
        self.registrar.delete_answer = (500, b'{"code": 500, "status": '
                                             b'"Internal Server Error"}')
        error = self.assertRaises(exception.RegistrarError,
                                  self._client().delete_agent, AGENT)
        self.assertIn('DELETE /v2.6/agents/%s with HTTP 500' % AGENT,
                      str(error))
        self.registrar.delete_answer = (403, b'{}')
        self.assertRaises(exception.RegistrarTLSError,
                          self._client().delete_agent, AGENT)

    def test_unknown_agent(self):
        other = '00000000-dead-4bee-8000-000000000000'
        error = self.assertRaises(exception.AgentNotRegistered,
                                  self._client().ek_fingerprint, other)
        self.assertIn(other, str(error))
        self.assertIn('not found', str(error))
        self.assertIsInstance(error, exception.AgentNotFound)

    def test_not_activated(self):
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (
            404, registrar_fixture.recorded('agent-not-activated.json'))
        error = self.assertRaises(exception.AgentNotRegistered,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn('has not been activated', str(error))

    def test_forbidden(self):
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (
            403, registrar_fixture.recorded('agent-no-client-cert.json'))
        error = self.assertRaises(exception.RegistrarTLSError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn(os.path.join(self.registrar.cert_dir,
                                   'client-cert.crt'), str(error))

    def test_no_ek(self):
        body = json.loads(registrar_fixture.recorded('agent.json'))
        body['results']['ek_tpm'] = None
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (
            200, json.dumps(body).encode())
        error = self.assertRaises(exception.InvalidEndorsementKey,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn(AGENT, str(error))

    def test_not_json(self):
        self.registrar.routes['/v2.6/agents/%s' % AGENT] = (200, b'<html>')
        self.assertRaises(exception.RegistrarError,
                          self._client().ek_fingerprint, AGENT)

    def test_uuid_cannot_change_the_path(self):
        # The UUID may come from the node's ramdisk: it stays one path
        # segment.
        self.assertRaises(exception.AgentNotRegistered,
                          self._client().ek_fingerprint, '../../version')
        self.assertEqual('/v2.6/agents/..%2F..%2Fversion',
                         self.registrar.requests[-1])

    def test_missing_client_key_names_the_file(self):
        os.unlink(os.path.join(self.registrar.cert_dir,
                               'client-private.pem'))
        error = self.assertRaises(exception.RegistrarTLSError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn(os.path.join(self.registrar.cert_dir,
                                   'client-private.pem'), str(error))
        self.assertIn('[keylime]tenant_cert_dir', str(error))
        self.assertEqual([], self.registrar.requests)

    def test_default_cert_dir(self):
        self.assertEqual('/var/lib/keylime/cv_ca',
                         registrar.RegistrarClient('h', 1).cert_dir)

    def test_server_of_another_ca_refused(self):
        # The conductor's CA did not sign the registrar's certificate: a
        # registrar impersonated by a machine in between is refused.
        other = tempfile.mkdtemp(prefix='ik-other-ca-')
        self.addCleanup(self._remove, other)
        pki.make_ca(other, 'other-ca')
        os.replace(os.path.join(other, 'cacert.crt'),
                   os.path.join(self.registrar.cert_dir, 'cacert.crt'))
        error = self.assertRaises(exception.RegistrarTLSError,
                                  self._client().ek_fingerprint, AGENT)
        self.assertIn('cacert.crt', str(error))
        self.assertIn('CERTIFICATE_VERIFY_FAILED', str(error))
        self.assertEqual([], self.registrar.requests)

    def test_publicly_trusted_server_refused(self):
        # A registrar whose certificate a CA of the system's trust store
        # signed (a public CA, simulated by SSL_CERT_FILE, which OpenSSL
        # reads for its default trust store) is not the Keylime
        # registrar: only cacert.crt of the certificate directory counts.
        public = tempfile.mkdtemp(prefix='ik-public-ca-')
        self.addCleanup(self._remove, public)
        pki.make_ca(public, ca_name='public-ca')
        self.useFixture(fixtures.EnvironmentVariable(
            'SSL_CERT_FILE', os.path.join(public, 'cacert.crt')))
        self.useFixture(fixtures.EnvironmentVariable('SSL_CERT_DIR', public))
        impostor = self.useFixture(registrar_fixture.FakeRegistrar(
            server_ca_dir=public))
        # The conductor's certificate directory is the registrar's own
        # (it accepts the client certificate); only the server certificate
        # comes from the public CA.
        client = registrar.RegistrarClient(
            '127.0.0.1', impostor.port, cert_dir=impostor.cert_dir,
            timeout=5)
        error = self.assertRaises(exception.RegistrarTLSError,
                                  client.ek_fingerprint, AGENT)
        self.assertIn('CERTIFICATE_VERIFY_FAILED', str(error))
        self.assertEqual([], impostor.requests)

    def _remove(self, path):
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)

    def test_unreachable(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        client = registrar.RegistrarClient(
            '127.0.0.1', port, cert_dir=self.registrar.cert_dir, timeout=5)
        error = self.assertRaises(exception.RegistrarUnreachable,
                                  client.ek_fingerprint, AGENT)
        self.assertIn('127.0.0.1:%d' % port, str(error))
        self.assertIsInstance(error, exception.ServiceUnreachable)

    def test_timeout(self):
        # A registrar that accepts the connection and never answers.
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        held = []
        thread = threading.Thread(
            target=lambda: held.append(listener.accept()), daemon=True)
        thread.start()
        client = registrar.RegistrarClient(
            '127.0.0.1', listener.getsockname()[1],
            cert_dir=self.registrar.cert_dir, timeout=0.5)
        error = self.assertRaises(exception.RegistrarUnreachable,
                                  client.ek_fingerprint, AGENT)
        self.assertIn('did not answer within 0.5 s', str(error))
        thread.join(5)
        for connection, _ in held:
            connection.close()
