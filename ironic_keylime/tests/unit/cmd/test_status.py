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

"""ironic-keylime-status upgrade check, on Ironic's database.

The registrar is the recorded registrar of
:mod:`ironic_keylime.tests.unit.registrar_fixture` over real mutual TLS,
the tenant the replaying one of
:mod:`ironic_keylime.tests.unit.tenant_fixture`; the functional tests run
the command against a real Keylime.
"""

import datetime
import os
import shutil

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import NameOID
import fixtures
from ironic.common import states
from ironic.tests.unit.objects import utils as obj_utils
from oslo_upgradecheck import upgradecheck
from oslo_utils import timeutils
from oslo_utils import uuidutils

from ironic_keylime.cmd import status
from ironic_keylime.cmd import status_checks
from ironic_keylime.drivers.modules.keylime import record
from ironic_keylime.tests import base
from ironic_keylime.tests.unit import registrar_fixture
from ironic_keylime.tests.unit import tenant_fixture

Code = upgradecheck.Code


def _closed_port():
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _write_certificate(path, days_from_now, days_valid=365):
    """A self-signed certificate whose validity ends ``days_from_now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'client')])
    end = (datetime.datetime.now(datetime.timezone.utc)
           + datetime.timedelta(days=days_from_now))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(end - datetime.timedelta(days=days_valid))
            .not_valid_after(end)
            .sign(key, hashes.SHA256()))
    with open(path, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


class StatusTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())
        self.config(tenant_cert_dir=self.registrar.cert_dir,
                    command_timeout=5, group='keylime')

    def _node(self, interface='keylime', name=None,
              provision_state=states.AVAILABLE, **info):
        driver_info = {'keylime_v': '127.0.0.1',
                       'keylime_vp': _closed_port(),
                       'keylime_r': '127.0.0.1',
                       'keylime_rp': self.registrar.port,
                       'keylime_container': 'lists'}
        if interface:
            driver_info['attestation_interface'] = interface
        driver_info.update(info)
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(), name=name,
            provision_state=provision_state, driver='fake-hardware',
            driver_info=driver_info)


class ConfigurationTestCase(StatusTestCase):

    def test_defaults_pass(self):
        result = status_checks.check_configuration()
        self.assertEqual(Code.SUCCESS, result.code, result.details)

    def test_missing_list_directory_fails(self):
        missing = os.path.join(self.tempdir, 'nowhere')
        self.config(allowed_list_directories=[missing], group='keylime')
        result = status_checks.check_configuration()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('[keylime]allowed_list_directories', result.details)
        self.assertIn(missing, result.details)

    def test_relative_list_directory_fails(self):
        self.config(allowed_list_directories=['lists'], group='keylime')
        result = status_checks.check_configuration()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('not an absolute path', result.details)

    def test_existing_list_directory_passes(self):
        self.config(allowed_list_directories=[self.tempdir],
                    group='keylime')
        result = status_checks.check_configuration()
        self.assertEqual(Code.SUCCESS, result.code, result.details)


class CertificatesTestCase(StatusTestCase):

    def _copy(self):
        copy = os.path.join(self.tempdir, 'cv_ca')
        shutil.copytree(self.registrar.cert_dir, copy)
        self.config(tenant_cert_dir=copy, group='keylime')
        return copy

    def test_valid_certificates_pass(self):
        # The fixture's certificates are valid for an hour only.
        result = status_checks.check_certificates(warning_days=0)
        self.assertEqual(Code.SUCCESS, result.code, result.details)
        self.assertIn('client-cert.crt', result.details)

    def test_no_certificate_setting_fails(self):
        self.config(tenant_cert_dir='', tenant_config='', group='keylime')
        result = status_checks.check_certificates()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('[keylime]tenant_cert_dir', result.details)

    def test_missing_key_fails(self):
        copy = self._copy()
        os.unlink(os.path.join(copy, 'client-private.pem'))
        result = status_checks.check_certificates()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('client-private.pem', result.details)

    def test_expired_client_certificate_fails(self):
        copy = self._copy()
        _write_certificate(os.path.join(copy, 'client-cert.crt'), -1)
        result = status_checks.check_certificates()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('expired', result.details)
        self.assertIn('client-cert.crt', result.details)

    def test_expiring_ca_warns(self):
        copy = self._copy()
        _write_certificate(os.path.join(copy, 'cacert.crt'), 10)
        result = status_checks.check_certificates()
        self.assertEqual(Code.WARNING, result.code, result.details)
        self.assertIn('cacert.crt', result.details)
        self.assertIn('rotate', result.details)

    def test_mismatched_key_fails(self):
        copy = self._copy()
        _write_certificate(os.path.join(copy, 'client-cert.crt'), 100)
        result = status_checks.check_certificates()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('client certificate and key', result.details)


class TenantTestCase(StatusTestCase):
    # The replaying tenant is a real executable.
    block_execute = False

    def test_replaying_tenant_passes(self):
        tenant = self.useFixture(
            tenant_fixture.FakeTenant(tenant_fixture.plan()))
        self.config(tenant_path=tenant.path, group='keylime')
        result = status_checks.check_tenant()
        self.assertEqual(Code.SUCCESS, result.code, result.details)

    def test_missing_tenant_fails(self):
        missing = os.path.join(self.tempdir, 'keylime_tenant')
        self.config(tenant_path=missing, group='keylime')
        result = status_checks.check_tenant()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('[keylime]tenant_path', result.details)


class ServicesTestCase(StatusTestCase):

    def test_no_keylime_node(self):
        self._node(interface=None)
        result = status_checks.check_services(status_checks.keylime_nodes())
        self.assertEqual(Code.SUCCESS, result.code)
        self.assertIn('no node uses', result.details)

    def test_nodes_by_default_interface(self):
        self._node(interface=None)
        self.config(default_attestation_interface='keylime')
        self.assertEqual(1, len(status_checks.keylime_nodes()))

    def test_registrar_answers_verifier_down(self):
        node = self._node(name='node-1')
        result = status_checks.check_services(status_checks.keylime_nodes())
        self.assertEqual(Code.FAILURE, result.code)
        port = node.driver_info['keylime_vp']
        self.assertIn('verifier at 127.0.0.1:%s (nodes node-1)' % port,
                      result.details)
        # The registrar answered with its API version.
        self.assertIn('registrar at 127.0.0.1:%s (nodes node-1): API 2.6'
                      % self.registrar.port, result.details)

    def test_invalid_driver_info_fails_naming_node(self):
        self._node(name='bad', keylime_vp='not-a-port')
        result = status_checks.check_services(status_checks.keylime_nodes())
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('node bad', result.details)
        self.assertIn('keylime_vp', result.details)

    def test_services_asked_once_each(self):
        for i in range(3):
            self._node(name='node-%d' % i)
        status_checks.check_services(status_checks.keylime_nodes())
        self.assertEqual(1, self.registrar.requests.count('/version'))


class InFlightTestCase(StatusTestCase):

    def _attesting(self, started, name):
        node = self._node(name=name, provision_state=states.CLEANWAIT)
        node.driver_internal_info = {record.STATE_KEY: {
            'attempt': uuidutils.generate_uuid(), 'operation': 'clean',
            'agent_uuid': node.uuid, 'verifier': ['127.0.0.1', 8881],
            'registrar': ['127.0.0.1', 8891],
            'started_at': started.isoformat()}}
        node.save()
        return node

    def test_recent_attestation_passes(self):
        self._attesting(timeutils.utcnow(), 'fresh')
        result = status_checks.check_in_flight(status_checks.keylime_nodes())
        self.assertEqual(Code.SUCCESS, result.code, result.details)

    def test_old_attestation_warns(self):
        self.config(attestation_timeout=300, group='keylime')
        self._attesting(timeutils.utcnow() - datetime.timedelta(hours=1),
                        'stuck')
        self._attesting(timeutils.utcnow(), 'fresh')
        result = status_checks.check_in_flight(status_checks.keylime_nodes())
        self.assertEqual(Code.WARNING, result.code)
        self.assertIn('stuck (clean wait', result.details)
        self.assertNotIn('fresh', result.details)


class CommandTestCase(StatusTestCase):
    # The replaying tenant is a real executable.
    block_execute = False

    def test_ironic_internals_pass(self):
        result = status_checks.check_ironic()
        self.assertEqual(Code.SUCCESS, result.code, result.details)

    def test_check_exit_code_is_worst_result(self):
        tenant = self.useFixture(
            tenant_fixture.FakeTenant(tenant_fixture.plan()))
        self.config(tenant_path=tenant.path, group='keylime')
        self.useFixture(fixtures.MonkeyPatch(
            'ironic_keylime.cmd.status_checks.EXPIRY_WARNING_DAYS', 0))
        self.assertEqual(Code.SUCCESS, status.Checks().check())
        self._node()   # its verifier does not answer
        self.assertEqual(Code.FAILURE, status.Checks().check())


class StepPolicyTestCase(StatusTestCase):
    """On Ironic's own enforcer, with the policy file of the fixture."""

    def setUp(self):
        super().setUp()
        status_checks.prepare()
        self.config(auth_strategy='keystone')

    def _policy_file(self, text):
        with open(self.policy.policy_file_name, 'w') as f:
            f.write(text)
        from ironic.common import policy as ironic_policy
        ironic_policy.get_enforcer().load_rules(force_reload=True)

    def test_default_rule_passes(self):
        result = status_checks.check_step_policy()
        self.assertEqual(Code.SUCCESS, result.code, result.details)
        self.assertIn('attestation.enroll_boot_state', result.details)

    def test_policy_file_letting_the_lessee_fails(self):
        self._policy_file('"baremetal:step:execute:attestation.'
                          'enroll_boot_state": "role:admin"\n')
        result = status_checks.check_step_policy()
        self.assertEqual(Code.FAILURE, result.code)
        self.assertIn('lets a node\'s lessee run the step', result.details)
        self.assertIn(self.policy.policy_file_name, result.details)

    def test_narrower_policy_file_passes(self):
        self._policy_file('"baremetal:step:execute:attestation.'
                          'enroll_boot_state": "role:admin and '
                          'system_scope:all"\n')
        result = status_checks.check_step_policy()
        self.assertEqual(Code.SUCCESS, result.code, result.details)

    def test_noauth_warns(self):
        self.config(auth_strategy='noauth')
        result = status_checks.check_step_policy()
        self.assertEqual(Code.WARNING, result.code)
        self.assertIn('auth_strategy is noauth', result.details)
