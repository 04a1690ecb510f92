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

"""``ironic-keylime-status upgrade check`` against the real services.

The command runs as the operators run it, an executable of the test
virtualenv with the configuration file of a real ``ironic-attest`` (its
database, its ``[keylime]`` options), and asks the real verifier and
registrar of the Keylime harness with the harness's ``cv_ca``.
"""

import json
import os
import socket
import subprocess

from ironic_keylime.harness import services
from ironic_keylime.tests.functional import base as functional_base

SUCCESS, WARNING, FAILURE = 0, 1, 2


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class StatusCommandTestCase(functional_base.IronicTestCase):

    def status(self):
        """Run the command; returns (exit status, {check name: result})."""
        result = subprocess.run(
            [os.path.join(services.BIN_DIR, 'ironic-keylime-status'),
             '--config-file', self.ironic.conf_file,
             'upgrade', 'check', '--json'],
            capture_output=True, text=True, timeout=120)
        self.addDetailUniqueName('status-output', _text(result.stdout
                                                        + result.stderr))
        checks = json.loads(result.stdout)['checks']
        return result.returncode, {c['check']: c for c in checks}

    def test_real_services_pass_and_a_dead_verifier_fails(self):
        node = self.keylime_node('status')
        code, checks = self.status()
        services = checks['Keylime verifiers and registrars']
        self.assertEqual(SUCCESS, services['result'], services['details'])
        # Both services answered with the API version they speak.
        self.assertIn('verifier at 127.0.0.1:%s'
                      % self.keylime['KEYLIME_HARNESS_VERIFIER_PORT'],
                      services['details'])
        self.assertIn('registrar at', services['details'])
        self.assertIn('API 2.', services['details'])
        for name in ('ironic-keylime configuration', 'Keylime tenant',
                     'Ironic internals', 'Attestations in flight'):
            self.assertEqual(SUCCESS, checks[name]['result'],
                             '%s: %s' % (name, checks[name]['details']))
        # The harness's certificates may be short-lived: a warning at
        # worst, never a failure.
        self.assertIn(checks['Keylime certificates']['result'],
                      (SUCCESS, WARNING))
        self.assertIn(code, (SUCCESS, WARNING))

        port = _closed_port()
        self.ironic.baremetal('node', 'set', node.id, '--driver-info',
                              'keylime_vp=%d' % port)
        code, checks = self.status()
        self.assertEqual(FAILURE, code)
        services = checks['Keylime verifiers and registrars']
        self.assertEqual(FAILURE, services['result'])
        self.assertIn('verifier at 127.0.0.1:%d (nodes %s)'
                      % (port, node.name), services['details'])


def _text(value):
    from testtools import content
    return content.text_content(value)
