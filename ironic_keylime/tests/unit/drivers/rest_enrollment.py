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

"""A registrar and HTTPS verifiers of one CA, for enrollment over REST.

With ``[keylime]verifier_api = rest`` the conductor reads the agent's
identity from the registrar and POSTs the agent to the verifier: both
are real HTTPS servers on 127.0.0.1 replaying recorded 7.14.3 answers
(a real registrar and verifier need the Keylime installation of the
functional tests).
"""

import os

from ironic_keylime.tests.unit.keylime_client import https_verifier
from ironic_keylime.tests.unit import registrar_fixture

#: The verifier's answer to an accepted POST (7.14.3's words).
ADDED = (200, {'code': 200, 'status': 'Success', 'results': {}})


def start(test, count=1):
    """Start a registrar and ``count`` verifiers; configure REST.

    :returns: (the :class:`registrar_fixture.FakeRegistrar`, a list of
        :class:`https_verifier.VerifierServer`).
    """
    registrar = test.useFixture(registrar_fixture.FakeRegistrar())
    certs = registrar.cert_dir
    servers = []
    for _ in range(count):
        server = https_verifier.VerifierServer(
            os.path.join(certs, 'server-cert.crt'),
            os.path.join(certs, 'server-private.pem'),
            os.path.join(certs, 'cacert.crt')).start()
        test.addCleanup(server.stop)
        server.routes[('GET', '/version')] = 'version'
        servers.append(server)
    test.config(verifier_api='rest', tenant_cert_dir=certs,
                group='keylime')
    return registrar, servers


def register(registrar, server, agent_uuid):
    """The registrar knows ``agent_uuid``; the verifier accepts it."""

    registrar.routes['/v2.6/agents/%s' % agent_uuid] = (
        200, registrar_fixture.recorded('agent.json'))
    path = '/v2.6/agents/%s' % agent_uuid
    server.routes[('POST', path)] = ADDED
    # The delete before the add finds no agent.
    server.routes.setdefault(('DELETE', path), 'delete-unknown')
