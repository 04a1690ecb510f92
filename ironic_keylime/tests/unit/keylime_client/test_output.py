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

"""Failures found in real keylime_tenant outputs."""

from oslotest import base

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import output
from ironic_keylime.tests.unit import tenant_fixture

SERVICES = {'verifier': ('127.0.0.1', 8881),
            'registrar': ('127.0.0.1', 8891)}


class FindFailureTestCase(base.BaseTestCase):

    def test_healthy_output_has_no_failure(self):
        for name in ('tenant-status-ok-1', 'tenant-add', 'tenant-delete',
                     'tenant-status-tampered'):
            self.assertIsNone(output.find_failure(
                tenant_fixture.output(name + '.stdout'), SERVICES, 'status'))

    def test_unregistered_agent(self):
        error = output.find_failure(
            tenant_fixture.output('tenant-status-unknown.stdout'), SERVICES,
            'status')
        self.assertIsInstance(error, exception.AgentNotFound)
        self.assertIn('not registered with the registrar at '
                      '127.0.0.1:8891', str(error))

    def test_agent_not_on_verifier(self):
        error = output.find_failure(
            tenant_fixture.output('tenant-status-after-delete.stdout'),
            SERVICES, 'status')
        self.assertIsInstance(error, exception.AgentNotFound)
        self.assertIn('verifier at 127.0.0.1:8881', str(error))

    def test_missing_client_certificate(self):
        error = output.find_failure(
            tenant_fixture.output('tenant-cvlist-no-client-cert.stdout'),
            SERVICES, 'cvlist')
        self.assertIsInstance(error, exception.TenantCommandFailed)
        self.assertIn('Check the tenant\'s certificate directory', str(error))
        self.assertIn('CERTIFICATE_VERIFY_FAILED', str(error))
        # Only a short quote of the tenant's words.
        self.assertLess(len(str(error)), 2 * output.MAX_QUOTE + 200)

    def test_refused_connection_names_the_service(self):
        text = (
            "2026-11-29 - keylime.tenant - ERROR - HTTPSConnectionPool("
            "host='127.0.0.1', port=8891): Max retries exceeded with url: "
            "/v2.6/agents/x (Caused by NewConnectionError('Failed to "
            "establish a new connection: [Errno 111] Connection "
            "refused'))\n")
        error = output.find_failure(text, SERVICES, 'status')
        self.assertIsInstance(error, exception.ServiceUnreachable)
        self.assertIn('Keylime registrar at 127.0.0.1:8891 did not answer',
                      str(error))

    def test_error_lines(self):
        text = ('a - keylime.tenant - INFO - fine\n'
                'b - keylime.tenant - ERROR - broken\n'
                'c - keylime.registrar_client - CRITICAL - worse\n'
                'requests.exceptions.SSLError: bad\n')
        self.assertEqual(['broken', 'worse',
                          'requests.exceptions.SSLError: bad'],
                         output.error_lines(text))

    def test_quote_is_short(self):
        self.assertEqual(output.MAX_QUOTE, len(output.quote('x' * 1000)))
        self.assertEqual('a b', output.quote('a\n  b'))

    def test_command_failed_quotes_last_error(self):
        error = output.command_failed(
            'x - keylime.tenant - ERROR - first\n'
            'x - keylime.tenant - ERROR - second\n', 1, 'add')
        self.assertEqual('keylime_tenant -c add failed (exit code 1): '
                         'second', str(error))


class RealServiceFailuresTestCase(base.BaseTestCase):
    """Outputs of the real tenant with a service stopped."""

    def failure(self, name, command):
        text = '%s\n%s' % (tenant_fixture.output(name + '.stdout'),
                           tenant_fixture.output(name + '.stderr'))
        return output.find_failure(text, SERVICES, command)

    def test_verifier_down(self):
        for command in ('add', 'status', 'delete'):
            error = self.failure('tenant-%s-verifier-down' % command,
                                 command)
            self.assertIsInstance(error, exception.ServiceUnreachable)
            self.assertIn('Keylime verifier at 127.0.0.1:8881 did not '
                          'answer', str(error))
            self.assertIn('port=8881', str(error))

    def test_registrar_down(self):
        for command in ('add', 'status'):
            error = self.failure('tenant-%s-registrar-down' % command,
                                 command)
            self.assertIsInstance(error, exception.ServiceUnreachable)
            self.assertIn('Keylime registrar at 127.0.0.1:8891 did not '
                          'answer', str(error))

    def test_registrar_down_quotes_the_connection_error(self):
        error = self.failure('tenant-status-registrar-down', 'status')
        self.assertNotIn('does not exist', str(error))

    def test_add_of_unregistered_agent(self):
        error = self.failure('tenant-add-unknown', 'add')
        self.assertIsInstance(error, exception.AgentNotFound)

    def test_tenant_without_tls_dir(self):
        error = self.failure('tenant-cvlist-no-tls-dir', 'cvlist')
        self.assertIsInstance(error, exception.TenantCommandFailed)
        self.assertIn('Check the tenant\'s certificate directory', str(error))
