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

"""A real Keystone, and a real Ironic that uses it, for functional tests.

:class:`KeystoneEnv` starts a Keystone with ``tools/keystone/harness.sh``
(PyPI ``keystone`` in its own virtualenv, sqlite, Fernet tokens, gunicorn
on 127.0.0.1 and a free port, every file in the test's directory), makes
projects, users and role assignments through Keystone's REST API as the
system admin of ``keystone-manage bootstrap`` (keystoneauth1), and issues
tokens. :class:`KeystoneIronicEnv` is an
:class:`~ironic_keylime.harness.ironic_env.IronicEnv` with
``auth_strategy = keystone`` and keystonemiddleware's
``[keystone_authtoken]`` pointing at that Keystone: every request needs a
token and Ironic's policy is enforced.
"""

import os
import secrets
import subprocess
import time

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
import requests

from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import services

HARNESS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'tools',
                       'keystone', 'harness.sh')


class KeystoneError(Exception):
    """Keystone did not start."""


class KeystoneEnv(object):
    """A running Keystone of the harness.

    :param workdir: an empty directory for this Keystone.
    """

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = services.free_port()
        self.url = None
        self.admin = None
        self._admin_password = None
        self._roles = {}

    def start(self, timeout=600):
        """Start it (installing it once) and log in as its system admin.

        :raises: KeystoneError with the harness's output when it fails.
        """
        os.makedirs(self.workdir, exist_ok=True)
        result = subprocess.run(
            [HARNESS, 'start', self.workdir, str(self.port)],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise KeystoneError('tools/keystone/harness.sh start failed '
                                '(%s):\n%s%s' % (result.returncode,
                                                 result.stdout,
                                                 result.stderr))
        env = {}
        with open(os.path.join(self.workdir, 'keystone.env')) as f:
            for line in f:
                key, _sep, value = line.strip().partition('=')
                env[key] = value
        self.url = env['KEYSTONE_HARNESS_AUTH_URL']
        self._admin_password = env['KEYSTONE_HARNESS_ADMIN_PASSWORD']
        self.admin = self.session(env['KEYSTONE_HARNESS_ADMIN_USER'],
                                  self._admin_password, system=True)
        self._roles = {r['name']: r['id'] for r in
                       self._call('GET', '/roles')['roles']}

    def stop(self):
        """Stop the Keystone started here (by its recorded PID)."""
        subprocess.run([HARNESS, 'stop', self.workdir], capture_output=True,
                       timeout=60)

    def session(self, username, password, project=None, system=False):
        """A keystoneauth1 session of a user.

        :param project: name of the project to scope the token to.
        :param system: scope the token to the system instead.
        """
        auth = v3.Password(
            auth_url=self.url, username=username, password=password,
            user_domain_id='default',
            project_name=project,
            project_domain_id='default' if project else None,
            system_scope='all' if system else None)
        return ks_session.Session(auth=auth)

    def token(self, username, password, project=None, system=False):
        """A token of a user (see :meth:`session`)."""
        return self.session(username, password, project,
                            system).get_token()

    def admin_token(self):
        """A system-scoped token of the bootstrap admin."""
        return self.admin.get_token()

    def _call(self, method, path, **kwargs):
        resp = self.admin.request(self.url + path, method, **kwargs)
        return resp.json() if resp.content else None

    def create_project(self, name):
        """Create a project of the default domain.

        :returns: its ID.
        """
        return self._call('POST', '/projects', json={'project': {
            'name': name, 'domain_id': 'default'}})['project']['id']

    def create_user(self, name, project_id, role):
        """Create a user with a role on a project.

        :returns: its (random) password.
        """
        password = secrets.token_urlsafe(16)
        user = self._call('POST', '/users', json={'user': {
            'name': name, 'domain_id': 'default',
            'password': password}})['user']
        self._call('PUT', '/projects/%s/users/%s/roles/%s' % (
            project_id, user['id'], self._roles[role]))
        return password


def ironic_overrides(keystone, service_password):
    """The ironic.conf options of keystone mode with this Keystone.

    :param keystone: a started :class:`KeystoneEnv`.
    :param service_password: the password of the user ``ironic`` of the
        project ``service`` (role ``service``), which validates tokens.
    """
    return {
        'DEFAULT': {'auth_strategy': 'keystone'},
        'keystone_authtoken': {
            'www_authenticate_uri': keystone.url,
            'auth_url': keystone.url,
            'auth_type': 'password',
            'username': 'ironic',
            'password': service_password,
            'user_domain_id': 'default',
            'project_name': 'service',
            'project_domain_id': 'default',
        },
    }


class KeystoneIronicEnv(ironic_env.IronicEnv):
    """A real ironic-attest under ``auth_strategy = keystone``.

    :param keystone: the started :class:`KeystoneEnv` whose tokens it
        checks.
    """

    def __init__(self, workdir, keylime, keystone, overrides=None):
        super().__init__(workdir, keylime, overrides)
        self.keystone = keystone

    def _wait_up(self, timeout):
        # As IronicEnv's, with a token: the API answers 401 without one.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ironic_env.IronicError(
                    'ironic-attest exited with %s:\n%s' % (
                        self.process.returncode, self.log_tail()))
            try:
                resp = self.request(self.keystone.admin_token(), 'GET',
                                    '/drivers')
                names = [d['name'] for d in resp.json().get('drivers', [])]
                if 'fake-hardware' in names:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.3)
        raise ironic_env.IronicError(
            'ironic-attest did not come up within %s s:\n%s'
            % (timeout, self.log_tail()))

    def request(self, token, method, path, version='latest', **kwargs):
        """A call to the API with a token.

        :param version: the API version (default: the newest).
        :returns: the requests response.
        """
        headers = {'X-OpenStack-Ironic-API-Version': version,
                   'X-Auth-Token': token}
        return requests.request(method, self.url + '/v1' + path,
                                headers=headers, timeout=30, **kwargs)
