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

"""The Swift connection: TLS, retries and error wording.

Against an in-memory Swift at the HTTP edge (see :mod:`.fake_swift`: a
real Swift only runs in the functional tests); everything above
``HTTPAdapter.send`` is the real code.
"""

import fixtures
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from ironic_keylime.conf import CONF
from ironic_keylime.lists import exception
from ironic_keylime.lists import swift
from ironic_keylime.lists import swift_connection
from ironic_keylime.tests import base
from ironic_keylime.tests.unit.lists import fake_swift

SETTINGS = swift_connection.Settings(account='', timeout=5, retries=2,
                                     retry_delay=0)


class HelpersTestCase(base.DbTestCase):

    def test_with_account(self):
        self.assertEqual('http://h:8080/v1/AUTH_b',
                         swift_connection.with_account(
                             'http://h:8080/v1/AUTH_a', 'AUTH_b'))
        self.assertEqual('http://h/swift/v1/AUTH_b',
                         swift_connection.with_account(
                             'http://h/swift/v1/AUTH_a/', 'AUTH_b'))
        self.assertEqual('http://h/v1/AUTH_a',
                         swift_connection.with_account(
                             'http://h/v1/AUTH_a', ''))

    def test_auth_settings_hide_secrets(self):
        self.config(auth_type='password', group='swift')
        text = swift_connection.auth_settings(CONF)
        self.assertIn('[swift] auth_type=password', text)
        for secret in ('password', 'token', 'secret'):
            self.assertNotIn(secret + '=', text)

    def test_settings_from_conf(self):
        self.config(swift_account='AUTH_x', swift_timeout=3.0,
                    swift_retries=4, swift_retry_delay=0.5, group='keylime')
        self.assertEqual(swift_connection.Settings('AUTH_x', 3.0, 4, 0.5),
                         swift_connection.settings_from_conf(CONF))


class ConnectionTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.swift = self.useFixture(fake_swift.FakeSwift())
        self.swift.put('c', 'allowlist', b'data')

    def connection(self, settings=SETTINGS, **session_kwargs):
        session = fake_swift.session(**session_kwargs)
        return swift_connection.SwiftConnection(
            settings, lambda: (session, fake_swift.ACCOUNT_URL),
            'the test settings')

    def head(self, conn):
        return conn.call('container c', lambda c: c.head_container('c'))

    def test_session_tls_applies_to_object_requests(self):
        conn = self.connection(verify='/etc/ca.pem',
                               cert=('/etc/cert.pem', '/etc/key.pem'))
        self.head(conn)
        request = self.swift.requests[-1]
        self.assertEqual('/v1/AUTH_test/c', request['path'])
        self.assertEqual('/etc/ca.pem', request['verify'])
        self.assertEqual(('/etc/cert.pem', '/etc/key.pem'), request['cert'])

    def test_session_insecure_applies_to_object_requests(self):
        self.head(self.connection(verify=False))
        self.assertIs(False, self.swift.requests[-1]['verify'])

    def test_ironic_swift_tls_applies_to_object_requests(self):
        # Ironic's [swift] group, as the conductor reads it. The token
        # plugin needs no authentication request: only the object
        # requests leave the process.
        self.cfg_fixture.register_opts(
            ks_loading.get_auth_plugin_conf_options('admin_token'),
            group='swift')
        self.config(auth_type='admin_token',
                    endpoint=fake_swift.ACCOUNT_URL,
                    token=fake_swift.TOKEN, cafile='/etc/swift-ca.pem',
                    certfile='/etc/swift-cert.pem',
                    keyfile='/etc/swift-key.pem', group='swift')
        source = swift.source_from_conf('c', CONF)
        source.cache.max_bytes = 0
        workdir = self.useFixture(fixtures.TempDir()).path
        source.fetch(workdir)
        self.assertNotEqual([], self.swift.requests)
        for request in self.swift.requests:
            self.assertEqual('/etc/swift-ca.pem', request['verify'])
            self.assertEqual(('/etc/swift-cert.pem', '/etc/swift-key.pem'),
                             request['cert'])

    def test_ironic_swift_insecure_applies_to_object_requests(self):
        self.cfg_fixture.register_opts(
            ks_loading.get_auth_plugin_conf_options('admin_token'),
            group='swift')
        self.config(auth_type='admin_token',
                    endpoint=fake_swift.ACCOUNT_URL,
                    token=fake_swift.TOKEN, insecure=True, group='swift')
        source = swift.source_from_conf('c', CONF)
        source.connection.call('container c',
                               lambda c: c.head_container('c'))
        self.assertIs(False, self.swift.requests[-1]['verify'])

    def test_passing_failure_is_retried(self):
        self.swift.failures = [('HEAD', '/c', 503),
                               ('HEAD', '/c', fake_swift.ConnectionRefused(
                                   'refused'))]
        self.head(self.connection())
        self.assertEqual(3, len(self.swift.requests))

    def test_retries_are_bounded(self):
        self.swift.failures = [('HEAD', '/c', 503)] * 5
        error = self.assertRaises(exception.ListError, self.head,
                                  self.connection())
        self.assertIn('did not serve container c', str(error))
        self.assertIn('after 3 attempt(s)', str(error))
        self.assertIn('Is Swift up', str(error))
        self.assertEqual(3, len(self.swift.requests))

    def test_not_found_is_not_retried(self):
        conn = self.connection()
        self.assertRaises(swift_connection.NotFound, conn.call, 'x',
                          lambda c: c.head_container('missing'))
        self.assertEqual(1, len(self.swift.requests))

    def test_forbidden_read_and_write(self):
        self.swift.failures = [('HEAD', '/c', 403), ('PUT', '/c', 403)]
        conn = self.connection()
        error = self.assertRaises(exception.ListError, self.head, conn)
        self.assertIn('the conductor cannot read container c', str(error))
        self.assertIn('the test settings', str(error))
        error = self.assertRaises(
            exception.ListError, conn.call, 'container c',
            lambda c: c.put_container('c'), writing=True)
        self.assertIn('cannot write container c', str(error))
        self.assertEqual(2, len(self.swift.requests))

    def test_account_replaces_the_projects(self):
        conn = self.connection(settings=SETTINGS._replace(
            account='AUTH_other'))
        # The fake serves AUTH_test only, as Swift refuses another
        # account to this user.
        self.assertRaises(exception.ListError, self.head, conn)
        self.assertEqual('/v1/AUTH_other/c', self.swift.requests[-1]['path'])

    def test_bad_credentials_are_worded(self):
        def refuse():
            raise ks_exc.Unauthorized(http_status=401)
        conn = swift_connection.SwiftConnection(SETTINGS, refuse,
                                                '[swift] auth_type=x')
        error = self.assertRaises(exception.ListError, conn.authenticate)
        self.assertIn('refused the credentials of the conductor', str(error))
        self.assertIn('[swift] auth_type=x', str(error))
        self.assertEqual([], self.swift.requests)
