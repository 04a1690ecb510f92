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

"""The lessee cannot enroll a node's boot state through the API.

Ironic's own API application under ``auth_strategy = keystone``, with its
policy enforcer and its runbooks, on its sqlite test database. Keystone's
token check (keystonemiddleware's ``process_request``) is replaced, as in
Ironic's own ACL tests, by the identity headers it would set: a real
Keystone cannot run in a unit test (test_step_policy_real runs one).
"""

from ironic_keylime.tests.unit import api_base  # noqa: I100

import json
import os
from unittest import mock

import fixtures
from ironic.common import policy as ironic_policy
from ironic.common import states
from ironic import objects
from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_utils import uuidutils

from ironic_keylime.tests.unit import personas

OWNER = personas.OWNER
LESSEE = personas.LESSEE
ENROLL = {'interface': 'attestation', 'step': 'enroll_boot_state',
          'args': {}}
TRAIT = 'CUSTOM_ENROLL_BOOT_STATE'


def headers(role, project=None, system=False):
    """What keystonemiddleware sets for a token of this role."""
    h = {'X-Auth-Token': 'token-%s' % role,
         'X-Roles': ','.join(personas.ROLES[role]),
         'X-User-Id': 'user-%s' % role}
    if system:
        h['OpenStack-System-Scope'] = 'all'
    else:
        h['X-Project-Id'] = project
    return h


class StepPolicyApiTestCase(api_base.GuardedApiTestCase):

    conductor = 'attest-conductor'
    attests = True

    def setUp(self):
        super().setUp()
        # None: the request goes on with the headers as they are.
        p = mock.patch.object(auth_token.AuthProtocol, 'process_request',
                              autospec=True, return_value=None)
        p.start()
        self.addCleanup(p.stop)
        self.tempdir = self.useFixture(fixtures.TempDir()).path

    def _make_app(self):
        cfg.CONF.set_override('auth_strategy', 'keystone')
        return super()._make_app()

    def _leased_node(self):
        return self._node(state=states.MANAGEABLE, owner=OWNER,
                          lessee=LESSEE)

    def _put(self, node, body, who, status):
        h = dict(api_base.HEADERS, **who)
        resp = self.put_json('/nodes/%s/states/provision' % node.uuid, body,
                             headers=h, expect_errors=status >= 400)
        self.assertEqual(status, resp.status_int, resp.body)
        if status >= 400:
            return json.loads(resp.json['error_message'])['faultstring']

    def _clean(self, node, who, status):
        return self._put(node, {'target': 'clean', 'clean_steps': [ENROLL]},
                         who, status)


class ManualCleanTestCase(StepPolicyApiTestCase):

    def test_lessee_admin_refused(self):
        node = self._leased_node()
        message = self._clean(node, headers('admin', LESSEE), 403)
        self.assertIn('enroll_boot_state', message)
        self.assertEqual([], self._sent())

    def test_lessee_manager_refused(self):
        node = self._leased_node()
        self._clean(node, headers('manager', LESSEE), 403)
        self.assertEqual([], self._sent())

    def test_owner_admin_goes_through(self):
        node = self._leased_node()
        self._clean(node, headers('admin', OWNER), 202)
        self.assertEqual(['do_node_clean'], self._sent())

    def test_owner_manager_goes_through(self):
        node = self._leased_node()
        self._clean(node, headers('manager', OWNER), 202)
        self.assertEqual(['do_node_clean'], self._sent())

    def test_system_admin_goes_through(self):
        node = self._leased_node()
        self._clean(node, headers('admin', system=True), 202)
        self.assertEqual(['do_node_clean'], self._sent())

    def test_lessee_other_steps_go_through(self):
        node = self._leased_node()
        self._put(node, {'target': 'clean', 'clean_steps': [
            {'interface': 'attestation', 'step': 'attest', 'args': {}}]},
            headers('admin', LESSEE), 202)
        self.assertEqual(['do_node_clean'], self._sent())


class RunbookTestCase(StepPolicyApiTestCase):

    def _runbook(self, owner=None, public=False):
        return self.dbapi.create_runbook({
            'version': objects.Runbook.VERSION,
            'uuid': uuidutils.generate_uuid(), 'name': 'CUSTOM_ENROLL',
            'traits': [TRAIT], 'steps': [dict(ENROLL, order=1)],
            'disable_ramdisk': False, 'extra': {}, 'public': public,
            'owner': owner})

    def _node_with_trait(self):
        node = self._leased_node()
        self.dbapi.set_node_traits(node.id, [TRAIT], '1.0')
        return node

    def _use(self, node, runbook, who, status):
        return self._put(node, {'target': 'clean',
                                'runbook': runbook.uuid}, who, status)

    def test_lessee_cannot_create_runbook_with_step(self):
        resp = self.post_json(
            '/runbooks', {'name': 'CUSTOM_MINE',
                          'steps': [dict(ENROLL, order=1)]},
            headers=dict(api_base.HEADERS,
                         **headers('manager', LESSEE)),
            expect_errors=True)
        self.assertEqual(403, resp.status_int, resp.body)
        self.assertIn('enroll_boot_state', resp.body.decode())

    def test_lessee_runbook_refused(self):
        # The lessee's own runbook (made before the rule existed): Ironic
        # checks the steps of a runbook that is not admin-approved.
        node = self._node_with_trait()
        runbook = self._runbook(owner=LESSEE)
        self._use(node, runbook, headers('manager', LESSEE), 403)
        self.assertEqual([], self._sent())

    def test_public_runbook_refused_to_lessee(self):
        # A public runbook without owner is "admin approved": Ironic does
        # not check its steps. With a policy that lets project managers
        # use public runbooks, the API guard still refuses the lessee.
        path = os.path.join(self.tempdir, 'policy.yaml')
        with open(path, 'w') as f:
            json.dump({'baremetal:runbook:use': 'role:manager'}, f)
        self.config(policy_file=path, group='oslo_policy')
        ironic_policy._ENFORCER = None
        self.addCleanup(setattr, ironic_policy, '_ENFORCER', None)
        node = self._node_with_trait()
        runbook = self._runbook(public=True)

        message = self._use(node, runbook, headers('manager', LESSEE), 403)

        self.assertIn('Refusing to run the step '
                      'attestation.enroll_boot_state on node %s' % node.uuid,
                      message)
        self.assertIn('baremetal:step:execute:attestation.enroll_boot_state',
                      message)
        self.assertEqual([], self._sent())
        self._use(node, runbook, headers('manager', OWNER), 202)
        self.assertEqual(['do_node_clean'], self._sent())
