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

"""The lessee cannot enroll a node's boot state, on a real API and Keystone.

A real Keystone (tools/keystone/harness.sh: PyPI keystone, sqlite, Fernet
tokens) with an owner and a lessee project and their admins and managers,
and a real ironic-attest with ``auth_strategy = keystone`` whose
keystonemiddleware validates their tokens there. A node owned by the
owner project and leased to the lessee project is made manageable; a
manual cleaning with ``attestation.enroll_boot_state`` is refused (403)
to the lessee's admin and manager and accepted for the owner's admin and
manager and the system admin, also from a public runbook, whose steps Ironic
itself does not check.
"""

import os
import shutil
import tempfile
import time
import uuid

import testtools
from testtools import content

from ironic_keylime.harness import ironic_env
from ironic_keylime.tests.functional import keystone_env

ENROLL = {'interface': 'attestation', 'step': 'enroll_boot_state'}
#: Runbooks matched by name to a node trait: the API before 1.112.
RUNBOOK_API = '1.111'
#: (user, project, role) made in Keystone.
USERS = (('owner-admin', 'owner', 'admin'),
         ('owner-manager', 'owner', 'manager'),
         ('lessee-admin', 'lessee', 'admin'),
         ('lessee-manager', 'lessee', 'manager'))


class StepPolicyRealTestCase(testtools.TestCase):
    """One Keystone and one Ironic for the class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix='ik-keystone-')
        cls.keystone = keystone_env.KeystoneEnv(
            os.path.join(cls.workdir, 'keystone'))
        cls.keystone.start()
        cls.ironic = None
        try:
            cls._make_users()
            ironic_dir = os.path.join(cls.workdir, 'ironic')
            os.makedirs(ironic_dir)
            overrides = keystone_env.ironic_overrides(cls.keystone,
                                                      cls.service_password)
            # An operator's policy file that lets project managers use
            # public runbooks (Ironic 39 lets only a runbook's owner).
            policy_file = os.path.join(ironic_dir, 'policy.yaml')
            with open(policy_file, 'w') as f:
                f.write('"baremetal:runbook:use": "role:manager"\n')
            overrides['oslo_policy'] = {'policy_file': policy_file}
            cls.ironic = keystone_env.KeystoneIronicEnv(
                ironic_dir, ironic_env.keylime_env(), cls.keystone,
                overrides)
            cls.ironic.start()
        except Exception:
            cls._stop()
            raise

    @classmethod
    def _make_users(cls):
        ks = cls.keystone
        cls.projects = {name: ks.create_project(name)
                        for name in ('owner', 'lessee', 'service')}
        cls.service_password = ks.create_user(
            'ironic', cls.projects['service'], 'service')
        cls.passwords = {user: ks.create_user(user, cls.projects[project],
                                              role)
                         for user, project, role in USERS}

    @classmethod
    def _stop(cls):
        if cls.ironic is not None:
            cls.ironic.stop()
        cls.keystone.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(self._attach_logs)

    def _attach_logs(self, exc_info):
        self.addDetail('ironic-log', content.text_content(
            self.ironic.log_tail(200)))

    def token(self, user):
        project = dict((u, p) for u, p, _r in USERS)[user]
        return self.keystone.token(user, self.passwords[user], project)

    def system_admin(self):
        return self.keystone.admin_token()

    def _leased_node(self):
        """A manageable node of the owner project, leased to the lessee."""
        admin = self.system_admin()
        resp = self.ironic.request(admin, 'POST', '/nodes', json={
            'name': 'policy-%s' % uuid.uuid4().hex[:12],
            'driver': 'fake-hardware',
            'owner': self.projects['owner'],
            'lessee': self.projects['lessee'],
            'driver_info': {'attestation_interface': 'keylime',
                            'keylime_v': '127.0.0.1',
                            'keylime_r': '127.0.0.1',
                            'keylime_container': 'lists'}})
        self.assertEqual(201, resp.status_code, resp.text)
        node = resp.json()['uuid']
        self._provision(admin, node, {'target': 'manage'}, 202)
        self._wait_settled(node, 'manageable')
        return node

    def _provision(self, token, node, body, status):
        resp = self.ironic.request(token, 'PUT',
                                   '/nodes/%s/states/provision' % node,
                                   json=body)
        self.assertEqual(status, resp.status_code, resp.text)
        return resp

    def _node(self, node):
        resp = self.ironic.request(self.system_admin(), 'GET',
                                   '/nodes/%s' % node)
        self.assertEqual(200, resp.status_code, resp.text)
        return resp.json()

    def _wait_settled(self, node, expected=None, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            data = self._node(node)
            state = data['provision_state']
            # A failed state keeps its target ("clean failed" to
            # "manageable").
            if state not in ironic_env.TRANSITIONAL and (
                    not data['target_provision_state']
                    or state.endswith('failed')):
                if expected:
                    self.assertEqual(expected, data['provision_state'],
                                     data['last_error'])
                return data
            self.assertLess(time.monotonic(), deadline, data)
            time.sleep(0.5)

    def _refused(self, user):
        node = self._leased_node()
        resp = self._provision(self.token(user), node,
                               {'target': 'clean', 'clean_steps': [ENROLL]},
                               403)
        self.assertIn('enroll_boot_state', resp.text)
        # Nothing started.
        data = self._node(node)
        self.assertEqual('manageable', data['provision_state'])
        self.assertIsNone(data['target_provision_state'])

    def _accepted(self, token):
        node = self._leased_node()
        self._provision(token, node,
                        {'target': 'clean', 'clean_steps': [ENROLL]}, 202)
        # The step ran, and failed: fake-hardware boots no ramdisk for it
        # to read the boot state from.
        data = self._wait_settled(node)
        self.assertEqual('clean failed', data['provision_state'])
        self.assertIn('enroll_boot_state', data['last_error'])

    def test_lessee_admin_refused(self):
        self._refused('lessee-admin')

    def test_lessee_manager_refused(self):
        self._refused('lessee-manager')

    def test_owner_admin_accepted(self):
        self._accepted(self.token('owner-admin'))

    def test_owner_manager_accepted(self):
        self._accepted(self.token('owner-manager'))

    def test_system_admin_accepted(self):
        self._accepted(self.system_admin())

    def test_lessee_may_change_provision_state(self):
        # The refusal is the step's rule: the lessee's admin may still
        # change the node's provision state (Ironic's default policy).
        node = self._leased_node()
        self._provision(self.token('lessee-admin'), node,
                        {'target': 'provide'}, 202)

    def test_lessee_cannot_create_runbook_with_step(self):
        resp = self.ironic.request(
            self.token('lessee-manager'), 'POST', '/runbooks',
            version=RUNBOOK_API,
            json={'name': 'CUSTOM_LESSEE_ENROLL',
                  'steps': [dict(ENROLL, args={}, order=1)]})
        self.assertEqual(403, resp.status_code, resp.text)
        self.assertIn('enroll_boot_state', resp.text)

    def _public_runbook(self, node):
        """A public runbook of the system admin, usable on the node."""
        admin = self.system_admin()
        name = 'CUSTOM_ENROLL_%s' % uuid.uuid4().hex[:8].upper()
        resp = self.ironic.request(
            admin, 'POST', '/runbooks', version=RUNBOOK_API,
            json={'name': name, 'steps': [dict(ENROLL, args={}, order=1)]})
        self.assertEqual(201, resp.status_code, resp.text)
        runbook = resp.json()['uuid']
        resp = self.ironic.request(
            admin, 'PATCH', '/runbooks/%s' % runbook, version=RUNBOOK_API,
            json=[{'op': 'replace', 'path': '/public', 'value': True}])
        self.assertEqual(200, resp.status_code, resp.text)
        resp = self.ironic.request(admin, 'PUT',
                                   '/nodes/%s/traits/%s' % (node, name))
        self.assertEqual(204, resp.status_code, resp.text)
        return runbook

    def test_public_runbook_refused_to_lessee(self):
        node = self._leased_node()
        runbook = self._public_runbook(node)
        resp = self.ironic.request(
            self.token('lessee-manager'), 'PUT',
            '/nodes/%s/states/provision' % node, version=RUNBOOK_API,
            json={'target': 'clean', 'runbook': runbook})
        self.assertEqual(403, resp.status_code, resp.text)
        self.assertIn('baremetal:step:execute:attestation.enroll_boot_state',
                      resp.text)
        self.assertEqual('manageable', self._node(node)['provision_state'])
        # The owner's manager may use it.
        resp = self.ironic.request(
            self.token('owner-manager'), 'PUT',
            '/nodes/%s/states/provision' % node, version=RUNBOOK_API,
            json={'target': 'clean', 'runbook': runbook})
        self.assertEqual(202, resp.status_code, resp.text)
