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

"""The verifier's REST client, over real TLS on 127.0.0.1.

Every test talks to a real HTTPS server (https_verifier) with
certificates made for the test; it replays answers recorded from a real
Keylime 7.14.3 verifier (fixtures/verifier-7.14.3, see capture.py there).
Nothing of the client is mocked. The real verifier itself is exercised by
the functional tests (test_verifier_rest_real).
"""

import os
import shutil
import time

import fixtures
from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import status
from ironic_keylime.keylime_client import tls
from ironic_keylime.keylime_client import verifier
from ironic_keylime.tests.unit.keylime_client import https_verifier

UUID = '4e5a1a7e-1c0d-4e11-8b3a-1d0c0ffee001'
AGENT = '/v2.6/agents/' + UUID
NOT_FOUND = (404, {'code': 404, 'status': 'agent id not found',
                   'results': {}})


class VerifierTestBase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.pki = https_verifier.make_pki(self.dir)
        self.cert_dir = os.path.join(self.dir, 'certs')
        self.server = self.start_server()
        self.addCleanup(verifier.clear_clients)

    def start_server(self, cert='server-cert', key='server-key'):
        server = https_verifier.VerifierServer(
            self.pki[cert], self.pki[key], self.pki['ca']).start()
        self.addCleanup(server.stop)
        server.routes[('GET', '/version')] = 'version'
        return server

    def client(self, port=None, timeout=5, **kwargs):
        return verifier.get_client('127.0.0.1', port or self.server.port,
                                   cert_dir=self.cert_dir, timeout=timeout,
                                   **kwargs)

    def paths(self):
        return [(r['method'], r['path']) for r in self.server.requests]


class AnswerBoundTestCase(VerifierTestBase):
    """The REST answers are read up to their bound, never further."""

    def test_endless_answer_is_cut_at_the_bound(self):
        endless = https_verifier.Endless(500 * 1024 * 1024)
        self.server.routes[('GET', AGENT)] = [(200, endless)]
        client = self.client(
            max_answer=256 * 1024,
            setting_names={'max_answer': '[keylime]max_verifier_answer_size'})
        error = self.assertRaises(exception.OutputTooLarge, client.status,
                                  UUID)
        self.assertIn('answered GET %s with more than 262144 bytes '
                      '([keylime]max_verifier_answer_size); the rest was not '
                      'read' % AGENT, str(error))
        self.assertFalse(endless.finished)
        self.assertLess(endless.sent, 64 * 1024 * 1024)
        # The client still works: the next answer is read on a new
        # connection.
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        self.assertEqual(status.PASS, client.status(UUID).verdict)


class StatusTestCase(VerifierTestBase):
    """Verdicts from recorded answers of a real 7.14.3 verifier."""

    def test_healthy_agent_passes(self):
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        result = self.client().status(UUID)
        self.assertEqual(status.PASS, result.verdict)
        # operational_state is a number in REST answers (5).
        self.assertEqual('Provide V', result.state)
        self.assertEqual(1, result.attestation_count)
        self.assertIsNone(result.last_event_id)

    def test_tampered_agent_fails_with_event(self):
        self.server.routes[('GET', AGENT)] = 'agent-fail'
        result = self.client().status(UUID)
        self.assertEqual(status.FAIL, result.verdict)
        self.assertEqual('Invalid Quote', result.state)
        self.assertEqual('ima.validation.ima-ng.not_in_allowlist',
                         result.last_event_id)

    def test_agent_just_added_is_pending(self):
        # Read while keylime_tenant added the agent: "Start", no quote.
        self.server.routes[('GET', AGENT)] = 'agent-just-added'
        result = self.client().status(UUID)
        self.assertEqual(status.PENDING, result.verdict)
        self.assertEqual('Start', result.state)

    def test_no_verified_quote_is_pending(self):
        # The verifier says PASS for "Get Quote" before it verified any
        # quote: the fail-closed rule of status.py applies to REST too.
        answer = https_verifier.recorded('agent-pass')
        answer['body']['results']['attestation_count'] = 0
        self.server.routes[('GET', AGENT)] = (200, answer['body'])
        result = self.client().status(UUID)
        self.assertEqual(status.PENDING, result.verdict)

    def test_terminated_agent_is_pending(self):
        self.server.routes[('GET', AGENT)] = 'agent-terminated'
        self.assertEqual(status.PENDING, self.client().status(UUID).verdict)

    def test_unknown_agent(self):
        self.server.routes[('GET', AGENT)] = 'agent-unknown'
        error = self.assertRaises(exception.AgentNotFound,
                                  self.client().status, UUID)
        self.assertIn('not known to the verifier at 127.0.0.1:%d'
                      % self.server.port, str(error))

    def test_record_of_wrong_type_is_an_error(self):
        answer = https_verifier.recorded('agent-pass')
        answer['body']['results']['attestation_count'] = '1'
        self.server.routes[('GET', AGENT)] = (200, answer['body'])
        error = self.assertRaises(exception.UnparsableOutput,
                                  self.client().status, UUID)
        self.assertIn('the Keylime verifier at 127.0.0.1:%d reported '
                      'attestation_count' % self.server.port, str(error))

    def test_push_mode_record_is_an_error(self):
        # Push mode: no operational state, attestation_status TIMEOUT.
        answer = https_verifier.recorded('agent-pass')
        answer['body']['results'].update(operational_state=None,
                                         attestation_status='TIMEOUT')
        self.server.routes[('GET', AGENT)] = (200, answer['body'])
        self.assertRaises(exception.UnparsableOutput,
                          self.client().status, UUID)

    def test_answer_without_json_is_an_error(self):
        self.server.routes[('GET', AGENT)] = (500, b'')
        error = self.assertRaises(exception.UnparsableOutput,
                                  self.client().status, UUID)
        self.assertIn('answered GET %s with 500 and no JSON' % AGENT,
                      str(error))

    def test_agent_uuid_cannot_leave_the_agents_path(self):
        for bad in ('../version', '.', '..', 7, '', 'x?bulk=True', 'a b',
                    'x%2f..', 'x#y', None):
            self.assertRaises(exception.UnparsableOutput,
                              self.client().status, bad)
        self.assertEqual([], [p for p in self.paths()
                              if p[1].startswith('/v2.6/agents')])


class VersionTestCase(VerifierTestBase):

    def test_highest_2x_version_is_used(self):
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        client = self.client()
        self.assertEqual('2.6', client.api_version())
        client.status(UUID)
        client.status(UUID)
        # /version once; never the v3 routes (500 on 7.14.3: recorded).
        self.assertEqual([('GET', '/version'), ('GET', AGENT),
                          ('GET', AGENT)], self.paths())

    def test_older_verifier(self):
        self.server.routes[('GET', '/version')] = (
            200, {'code': 200, 'status': 'Success',
                  'results': {'current_version': '2.1',
                              'supported_versions': ['1.0', '2.0', '2.1']}})
        self.server.routes[('GET', '/v2.1/agents/' + UUID)] = 'agent-pass'
        self.assertEqual(status.PASS, self.client().status(UUID).verdict)

    def test_verifier_without_2x_is_refused(self):
        self.server.routes[('GET', '/version')] = (
            200, {'code': 200, 'status': 'Success',
                  'results': {'current_version': '3.0',
                              'supported_versions': ['3.0']}})
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.client().status, UUID)
        self.assertIn('needs a 2.x version', str(error))

    def test_verifier_without_version_route(self):
        self.server.routes[('GET', '/version')] = (
            405, {'code': 405, 'status': 'Not Implemented', 'results': {}})
        self.assertRaises(exception.UnparsableOutput,
                          self.client().status, UUID)

    def test_verifier_that_drops_the_version_is_asked_again(self):
        self.server.routes[('GET', AGENT)] = (
            400, {'code': 400, 'status': 'API Version not supported',
                  'results': {}})
        client = self.client()
        self.assertRaises(exception.TenantCommandFailed, client.status, UUID)
        self.server.routes[('GET', '/version')] = (
            200, {'code': 200, 'status': 'Success',
                  'results': {'current_version': '2.5',
                              'supported_versions': ['2.0', '2.5']}})
        self.server.routes[('GET', '/v2.5/agents/' + UUID)] = 'agent-pass'
        self.assertEqual(status.PASS, client.status(UUID).verdict)
        self.assertEqual([('GET', '/version'), ('GET', AGENT),
                          ('GET', '/version'),
                          ('GET', '/v2.5/agents/' + UUID)], self.paths())

    def test_negotiate(self):
        self.assertEqual('2.6', verifier.negotiate(
            ['1.0', '2.0', '2.6', '3.0']))
        self.assertEqual('2.10', verifier.negotiate(['2.9', '2.10', '2.2']))
        self.assertIsNone(verifier.negotiate(['1.0', '3.0']))
        self.assertIsNone(verifier.negotiate(['2', None, 'x.y', '']))


class BulkTestCase(VerifierTestBase):

    def test_bulk_read(self):
        self.server.routes[('GET', '/v2.6/agents/',
                            (('bulk', 'True'),))] = 'bulk-one'
        client = self.client()
        records = client.agent_records()
        self.assertEqual([UUID], list(records))
        self.assertEqual(status.PASS, client.status_in(records, UUID).verdict)
        error = self.assertRaises(exception.AgentNotFound, client.status_in,
                                  records, 'other-agent')
        self.assertIn('127.0.0.1:%d' % self.server.port, str(error))
        self.assertEqual(('GET', '/v2.6/agents/?bulk=True'),
                         self.paths()[-1])

    def test_bulk_read_of_one_verifier_id(self):
        self.server.routes[('GET', '/v2.6/agents/',
                            (('bulk', 'True'), ('verifier', 'default')))] = (
            'bulk-verifier')
        self.server.routes[('GET', '/v2.6/agents/',
                            (('bulk', 'True'), ('verifier', 'other')))] = (
            'bulk-other-verifier')
        client = self.client()
        self.assertEqual([UUID], list(client.agent_records('default')))
        self.assertEqual({}, client.agent_records('other'))

    def test_bulk_of_a_failed_agent(self):
        self.server.routes[('GET', '/v2.6/agents/')] = 'bulk-fail'
        client = self.client()
        result = client.status_in(client.agent_records(), UUID)
        self.assertEqual(status.FAIL, result.verdict)

    def test_verifier_without_bulk(self):
        # A verifier that ignores bulk=True lists the UUIDs only.
        self.server.routes[('GET', '/v2.6/agents/')] = 'list-one'
        self.assertRaises(exception.BulkUnsupported,
                          self.client().agent_records)

    def test_bulk_record_of_wrong_shape(self):
        self.server.routes[('GET', '/v2.6/agents/')] = (
            200, {'code': 200, 'results': {UUID: 'Get Quote'}})
        self.assertRaises(exception.UnparsableOutput,
                          self.client().agent_records)


class DeleteTestCase(VerifierTestBase):

    def test_delete_of_a_failed_agent(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-failed'
        self.client().delete(UUID)
        self.assertEqual(('DELETE', AGENT), self.paths()[-1])

    def test_delete_of_an_unknown_agent_is_fine(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-unknown'
        self.client().delete(UUID)

    def test_deletion_in_progress_is_followed(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-attesting'
        self.server.routes[('GET', AGENT)] = [
            'agent-terminated', 'agent-terminated', 'agent-after-delete']
        self.client().delete(UUID)
        self.assertEqual([('DELETE', AGENT)] + [('GET', AGENT)] * 3,
                         self.paths()[1:])

    def test_deletion_in_progress_not_waited_for(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-attesting'
        self.assertFalse(self.client().delete(UUID, wait=False))
        self.assertEqual([('DELETE', AGENT)], self.paths()[1:])

    def test_delete_without_wait_of_a_failed_agent_is_done(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-failed'
        self.assertTrue(self.client().delete(UUID, wait=False))

    def test_removal_state(self):
        client = self.client()
        self.server.routes[('GET', AGENT)] = 'agent-terminated'
        self.assertEqual(verifier.TERMINATING, client.removal_state(UUID))
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        self.assertEqual(verifier.PRESENT, client.removal_state(UUID))
        self.server.routes[('GET', AGENT)] = 'agent-after-delete'
        self.assertEqual(verifier.GONE, client.removal_state(UUID))

    def test_removal_state_of_another_verifier_id_is_an_error(self):
        # 404 for an agent of another verifier ID: not gone.
        self.server.routes[('GET', AGENT)] = (
            404, {'code': 404, 'status': 'agent id associated to this '
                  'verifier', 'results': {}})
        self.assertRaises(exception.TenantCommandFailed,
                          self.client().removal_state, UUID)

    def test_deletion_that_never_ends_is_bounded(self):
        self.server.routes[('DELETE', AGENT)] = 'delete-attesting'
        self.server.routes[('GET', AGENT)] = 'agent-terminated'
        start = time.monotonic()
        error = self.assertRaises(exception.TenantTimeout,
                                  self.client(timeout=2).delete, UUID)
        self.assertLess(time.monotonic() - start, 4)
        self.assertIn('did not finish deleting agent %s within the command '
                      'timeout (2 s)' % UUID, str(error))

    def test_agent_of_another_verifier_id_is_not_deleted(self):
        # Keylime answers 404 for an agent held by another verifier ID of
        # the same database: it is still there.
        self.server.routes[('DELETE', AGENT)] = (
            404, {'code': 404, 'status': 'agent id associated to this '
                  'verifier', 'results': {}})
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.client().delete, UUID)
        self.assertNotIsInstance(error, exception.AgentNotFound)
        self.assertIn('answered DELETE %s with 404: agent id associated'
                      % AGENT, str(error))

    def test_delete_refused(self):
        self.server.routes[('DELETE', AGENT)] = (
            500, {'code': 500, 'status': 'Internal Server Error',
                  'results': {}})
        self.assertRaises(exception.TenantCommandFailed,
                          self.client().delete, UUID)


class ConnectionTestCase(VerifierTestBase):

    def test_connection_is_reused(self):
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        for _ in range(3):
            self.client().status(UUID)
        self.assertEqual(1, len({r['client'] for r in self.server.requests}))
        self.assertIs(self.client(), self.client())

    def test_replaced_certificate_makes_a_new_client(self):
        first = self.client()
        cert = os.path.join(self.cert_dir, 'client-cert.crt')
        stat = os.stat(cert)
        os.utime(cert, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
        self.assertIsNot(first, self.client())

    def test_verifier_down(self):
        port = self.server.port
        self.server.stop()
        error = self.assertRaises(exception.ServiceUnreachable,
                                  self.client(port=port).status, UUID)
        self.assertIn('The Keylime verifier at 127.0.0.1:%d did not answer'
                      % port, str(error))

    def test_verifier_that_never_answers(self):
        sock = https_verifier.silent_port()
        self.addCleanup(sock.close)
        start = time.monotonic()
        error = self.assertRaises(
            exception.TenantTimeout,
            self.client(port=sock.getsockname()[1], timeout=1).status, UUID)
        self.assertLess(time.monotonic() - start, 3)
        self.assertIn('did not answer GET /version within the command '
                      'timeout (1 s)', str(error))

    def test_client_certificate_is_presented(self):
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        self.client().status(UUID)
        subject = dict(x[0] for x in self.server.requests[-1]['peer'][
            'subject'])
        self.assertEqual('client', subject['commonName'])

    def test_host_name_is_not_checked(self):
        # As keylime_tenant: the certificate names verifier.example only;
        # its chain to the configured CA is what counts.
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        self.assertEqual(status.PASS, self.client().status(UUID).verdict)


class TLSTestCase(VerifierTestBase):
    """Certificate checks are always on; failures name the file."""

    def test_verifier_signed_by_another_ca_is_refused(self):
        server = self.start_server('rogue-server-cert', 'rogue-server-key')
        server.routes[('GET', AGENT)] = 'agent-pass'
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.client(port=server.port).status, UUID)
        self.assertIn('not signed by %s' % self.pki['ca'], str(error))
        self.assertIn('the tenant\'s certificate directory', str(error))
        self.assertEqual([], server.requests)

    def test_environment_adds_no_trusted_ca_nor_proxy(self):
        # requests would trust REQUESTS_CA_BUNDLE and go through
        # HTTPS_PROXY; the conductor's environment must not decide whom
        # the verdicts come from.
        server = self.start_server('rogue-server-cert', 'rogue-server-key')
        server.routes[('GET', AGENT)] = 'agent-pass'
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', self.pki['rogue-ca']))
        self.useFixture(fixtures.EnvironmentVariable(
            'CURL_CA_BUNDLE', self.pki['rogue-ca']))
        self.assertRaises(exception.TenantCommandFailed,
                          self.client(port=server.port).status, UUID)
        self.assertEqual([], server.requests)
        self.useFixture(fixtures.EnvironmentVariable(
            'HTTPS_PROXY', 'http://127.0.0.1:9'))
        self.server.routes[('GET', AGENT)] = 'agent-pass'
        self.assertEqual(status.PASS, self.client().status(UUID).verdict)

    def test_client_certificate_of_another_ca_is_refused(self):
        shutil.copy(self.pki['rogue-client-cert'],
                    os.path.join(self.cert_dir, 'client-cert.crt'))
        shutil.copy(self.pki['rogue-client-key'],
                    os.path.join(self.cert_dir, 'client-private.pem'))
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.client().status, UUID)
        self.assertIn('Could not set up TLS with the Keylime verifier at '
                      '127.0.0.1:%d' % self.server.port, str(error))
        self.assertIn(os.path.join(self.cert_dir, 'client-cert.crt'),
                      str(error))
        self.assertEqual([], self.server.requests)

    def test_verifier_refuses_without_client_certificate(self):
        # A recorded 403 of 7.14.3, as a server that got no certificate.
        self.server.routes[('GET', '/version')] = 'agent-no-client-cert'
        error = self.assertRaises(exception.UnparsableOutput,
                                  self.client().status, UUID)
        self.assertIn('GET /version answered 403', str(error))
        self.server.routes[('GET', '/version')] = 'version'
        self.server.routes[('GET', AGENT)] = 'agent-no-client-cert'
        error = self.assertRaises(exception.TenantCommandFailed,
                                  self.client().status, UUID)
        self.assertIn('refused the client certificate', str(error))

    def test_missing_files_are_named(self):
        for name, kind in (('cacert.crt', 'CA certificate'),
                           ('client-cert.crt', 'client certificate'),
                           ('client-private.pem', 'client key')):
            path = os.path.join(self.cert_dir, name)
            os.rename(path, path + '.away')
            error = self.assertRaises(
                exception.TenantCommandFailed, self.client,
                setting_names={'cert_dir': '[keylime]tenant_cert_dir'})
            self.assertIn('The %s %s for the Keylime verifier cannot be '
                          'used' % (kind, path), str(error))
            self.assertIn('Check [keylime]tenant_cert_dir', str(error))
            os.rename(path + '.away', path)

    def test_key_of_another_certificate_is_named(self):
        shutil.copy(self.pki['rogue-client-key'],
                    os.path.join(self.cert_dir, 'client-private.pem'))
        error = self.assertRaises(exception.TenantCommandFailed, self.client)
        self.assertIn(os.path.join(self.cert_dir, 'client-private.pem'),
                      str(error))

    def test_no_certificates_at_all(self):
        error = self.assertRaises(
            exception.KeylimeError, verifier.get_client, '127.0.0.1',
            self.server.port, setting_names={
                'cert_dir': '[keylime]tenant_cert_dir'})
        self.assertIn('set [keylime]tenant_cert_dir', str(error))


class TenantConfigTestCase(base.BaseTestCase):
    """Certificates named as Keylime's tenant.conf names them."""

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def conf(self, **options):
        path = os.path.join(self.dir, 'tenant.conf')
        with open(path, 'w') as f:
            f.write('[tenant]\n')
            for name, value in options.items():
                f.write('%s = %s\n' % (name, value))
        return path

    def test_cert_dir_with_default_names(self):
        certs = tls.find_certificates(cert_dir='/etc/ik/certs')
        self.assertEqual(('/etc/ik/certs/client-cert.crt',
                          '/etc/ik/certs/client-private.pem',
                          ('/etc/ik/certs/cacert.crt',), None), certs)

    def test_cert_dir_with_names_of_tenant_conf(self):
        # As the tenant the conductor runs: tls_dir is the cert_dir, the
        # CA is its cacert.crt, the client files are named by tenant.conf.
        conf = self.conf(tls_dir='/elsewhere', client_cert='my.crt',
                         client_key='"my.pem"', client_key_password='pw',
                         trusted_server_ca="['other.crt']")
        certs = tls.find_certificates('/etc/ik/certs', conf)
        self.assertEqual(('/etc/ik/certs/my.crt', '/etc/ik/certs/my.pem',
                          ('/etc/ik/certs/cacert.crt',), 'pw'), certs)

    def test_tenant_conf_alone(self):
        conf = self.conf(tls_dir='/etc/keylime/tls', client_cert='default',
                         client_key='default',
                         trusted_server_ca="['ca1.crt', '/abs/ca2.crt']")
        certs = tls.find_certificates(tenant_config=conf)
        self.assertEqual(('/etc/keylime/tls/client-cert.crt',
                          '/etc/keylime/tls/client-private.pem',
                          ('/etc/keylime/tls/ca1.crt', '/abs/ca2.crt'),
                          None), certs)

    def test_tenant_conf_defaults(self):
        certs = tls.find_certificates(tenant_config=self.conf(
            tls_dir='default', trusted_server_ca='default'))
        self.assertEqual(('/var/lib/keylime/cv_ca/client-cert.crt',
                          '/var/lib/keylime/cv_ca/client-private.pem',
                          ('/var/lib/keylime/cv_ca/cacert.crt',), None),
                         certs)

    def test_verification_cannot_be_turned_off(self):
        conf = self.conf(trusted_server_ca='all')
        error = self.assertRaises(exception.KeylimeError,
                                  tls.find_certificates, tenant_config=conf)
        self.assertIn('trusted_server_ca = all in the tenant configuration '
                      '(%s) turns off the verification' % conf, str(error))

    def test_bad_ca_list(self):
        for value in ('ca.crt', '[]', '[1]', "['']"):
            self.assertRaises(exception.KeylimeError, tls.find_certificates,
                              tenant_config=self.conf(
                                  trusted_server_ca=value))

    def test_unreadable_tenant_conf(self):
        error = self.assertRaises(
            exception.KeylimeError, tls.find_certificates,
            tenant_config=os.path.join(self.dir, 'missing.conf'),
            setting_names={'config': '[keylime]tenant_config'})
        self.assertIn('given by [keylime]tenant_config cannot be read',
                      str(error))
