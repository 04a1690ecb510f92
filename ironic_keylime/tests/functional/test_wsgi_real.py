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

"""The operators' commands against Ironic's API served by uWSGI.

The API is ``ironic_keylime.wsgi.api:application`` under a real uWSGI,
the conductor a separate ``ironic-attest-conductor`` (see
:mod:`.wsgi_env`), as kolla-ansible and OpenStack-Ansible run Ironic; the
verdicts come from the harness's real Keylime.
"""

from ironic_keylime.tests.functional import base as functional_base
from ironic_keylime.tests.functional import wsgi_env


class WsgiApiTestCase(functional_base.IronicTestCase):

    ironic_env_class = wsgi_env.WsgiIronicEnv

    def test_served_by_uwsgi(self):
        # The process answering is uWSGI, with the application loaded.
        self.assertIn('uwsgi', self.ironic.processes['uwsgi'].args[0])
        driver = self.ironic.api('GET', '/drivers/fake-hardware').json()
        self.assertEqual('no-attestation',
                         driver['default_attestation_interface'])
        self.assertEqual(['keylime', 'no-attestation'], sorted(
            driver['enabled_attestation_interfaces']))

    def test_operators_commands_and_an_attested_cleaning(self):
        # node create / set / show with --attestation-interface.
        created = self.ironic.openstack(
            'baremetal', 'node', 'create', '--driver', 'fake-hardware',
            '--name', self.name('wsgi'), '--attestation-interface',
            'no-attestation', '-f', 'value', '-c', 'uuid').stdout.strip()
        info = self.ironic.keylime_driver_info(self.lists)
        args = []
        for key, value in sorted(info.items()):
            if key != 'attestation_interface':
                args += ['--driver-info', '%s=%s' % (key, value)]
        self.ironic.openstack('baremetal', 'node', 'set', created,
                              '--attestation-interface', 'keylime', *args)
        shown = self.ironic.openstack(
            'baremetal', 'node', 'show', created, '-f', 'value', '-c',
            'attestation_interface').stdout.strip()
        self.assertEqual('keylime', shown)

        # A name the conductors do not have: Ironic's 400.
        bad = self.ironic.openstack('baremetal', 'node', 'set', created,
                                    '--attestation-interface', 'bogus',
                                    check=False)
        self.assertNotEqual(0, bad.returncode)
        self.assertIn('bogus', bad.stderr)

        # Automated cleaning through the uWSGI API and the separate
        # conductor attests against the real verifier.
        self.ironic.provision(created, 'manage', 'manageable')
        node = self.provide(self.ironic.conn.baremetal.get_node(created))
        self.assertAllPassed(node, 1)

        # The API guard: deploy steps that leave out attest are refused.
        resp = self.ironic.api(
            'PUT', '/nodes/%s/states/provision' % created,
            json={'target': 'active', 'deploy_steps': [
                {'interface': 'attestation', 'step': 'attest',
                 'args': {}, 'priority': 0}]})
        self.assertEqual(400, resp.status_code, resp.text)
        self.assertIn('cannot be skipped', resp.json()['error_message'])

        shown = self.attestation('show', created)
        self.assertEqual('PASS', shown['last_verdict'])
