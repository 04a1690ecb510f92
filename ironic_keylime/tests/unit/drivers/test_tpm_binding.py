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

"""Binding nodes to their TPM, on Ironic's database and real tasks.

The registrar is the recorded 7.14.3 registrar of
:mod:`ironic_keylime.tests.unit.registrar_fixture`, reached over real
mutual TLS by the real client.
"""

import fixtures
from ironic.common import exception
from ironic.conductor import task_manager
from ironic.db import api as dbapi
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.ironic_integration import ek_index
from ironic_keylime.tests import base
from ironic_keylime.tests.unit import registrar_fixture
from ironic_keylime.tests import utils

AGENT = registrar_fixture.AGENT_UUID
SEEN = registrar_fixture.AGENT_EK_SHA256
OTHER = 'ab' * 32


class TPMBindingTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.registrar = self.useFixture(registrar_fixture.FakeRegistrar())
        self.config(tenant_cert_dir=self.registrar.cert_dir,
                    command_timeout=5, group='keylime')
        self.client = tpm_binding.registrar_client(
            ('127.0.0.1', self.registrar.port))

    def _node(self, **info):
        driver_info = utils.get_test_keylime_info(
            **dict({'keylime_container': None}, **info))
        return obj_utils.create_test_node(self.context,
                                          uuid=uuidutils.generate_uuid(),
                                          driver='fake-hardware',
                                          driver_info=driver_info)

    def _check(self, node, agent=AGENT):
        with task_manager.acquire(self.context, node.uuid) as task:
            return tpm_binding.check(task, self.client, agent)

    def _history(self, node):
        return [h.event for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]

    def _agent_reads(self):
        return [p for p in self.registrar.requests if '/agents/' in p]

    # trust_on_first_use (the default)

    def test_default_is_trust_on_first_use(self):
        self.assertEqual('trust_on_first_use', tpm_binding.CONF.keylime.
                         ek_binding)

    def test_first_use_returns_what_to_record(self):
        node = self._node()
        self.assertEqual(SEEN, self._check(node))
        # Nothing is recorded before the attestation passed.
        node.refresh()
        self.assertNotIn('keylime_ek_sha256', node.driver_info)
        self.assertEqual([], self._history(node))

    def test_same_tpm(self):
        node = self._node(keylime_ek_sha256=SEEN.upper())
        self.assertIsNone(self._check(node))
        self.assertEqual(1, len(self._agent_reads()))

    def test_tpm_changed(self):
        node = self._node(keylime_ek_sha256=OTHER)
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self._check, node)
        message = str(error)
        self.assertIn('the TPM of this node changed', message)
        self.assertIn(SEEN, message)
        self.assertIn(OTHER, message)
        self.assertIn(AGENT, message)
        self.assertIn('driver_info/keylime_ek_sha256', message)

    def test_tpm_changed_required(self):
        self.config(ek_binding='required', group='keylime')
        node = self._node(keylime_ek_sha256=OTHER)
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self._check, node)
        self.assertIn('the TPM of this node changed', str(error))

    def test_registrar_without_the_agent_fails(self):
        # Fail closed: no EK, no attestation, also on first use.
        node = self._node()
        error = self.assertRaises(
            kl_ironic_exception.AttestationFailure, self._check, node,
            agent='00000000-dead-4bee-8000-000000000000')
        self.assertIn('cannot be read from the registrar', str(error))
        self.assertIn('not found', str(error))

    def test_registrar_tls_failure_fails(self):
        self.config(tenant_cert_dir='/nonexistent', group='keylime')
        client = tpm_binding.registrar_client(
            ('127.0.0.1', self.registrar.port))
        node = self._node(keylime_ek_sha256=SEEN)
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailure, tpm_binding.check,
                task, client, AGENT)
        self.assertIn('/nonexistent/cacert.crt', str(error))

    # required

    def test_required_without_fingerprint_refused(self):
        self.config(ek_binding='required', group='keylime')
        node = self._node()
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self._check, node)
        message = str(error)
        self.assertIn('"required"', message)
        self.assertIn('driver_info/keylime_ek_sha256', message)
        self.assertIn('baremetal node set', message)
        self.assertEqual([], self._agent_reads())

    def test_required_same_tpm(self):
        self.config(ek_binding='required', group='keylime')
        node = self._node(keylime_ek_sha256=SEEN)
        self.assertIsNone(self._check(node))

    # off

    def test_off_compares_nothing(self):
        self.config(ek_binding='off', group='keylime')
        node = self._node(keylime_ek_sha256=OTHER)
        self.assertIsNone(self._check(node))
        self.assertEqual([], self.registrar.requests)

    # the driver_info value

    def test_malformed_fingerprint(self):
        for value in ('ab' * 31, 'zz' * 32, SEEN + '0', 42,
                      'sha256:' + SEEN):
            node = self._node(keylime_ek_sha256=value)
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self._check, node)
            self.assertIn('driver_info/keylime_ek_sha256', str(error))
            self.assertIn('64 hexadecimal characters', str(error))
            self.assertRaises(exception.InvalidParameterValue,
                              tpm_binding.validate, node)

    def test_parse_fingerprint(self):
        self.assertEqual(SEEN, tpm_binding.parse_fingerprint(
            ' %s\n' % SEEN.upper()))
        self.assertIsNone(tpm_binding.parse_fingerprint(None))
        self.assertIsNone(tpm_binding.parse_fingerprint(''))

    def test_unset_fingerprint_is_first_use_again(self):
        # The documented procedure after a mainboard replacement.
        node = self._node(keylime_ek_sha256=OTHER)
        node.driver_info = {k: v for k, v in node.driver_info.items()
                            if k != 'keylime_ek_sha256'}
        node.save()
        self.assertEqual(SEEN, self._check(node))

    # image mode: a TPM bound to another node

    def _image_mode_check(self, node):
        self.config(agent_uuid_mode='image', group='keylime')
        return self.assertRaises(kl_ironic_exception.AttestationFailure,
                                 self._check, node)

    def test_image_mode_tpm_recorded_by_another_node_refused(self):
        other = self._node()
        with task_manager.acquire(self.context, other.uuid) as task:
            tpm_binding.record(task, SEEN)
        error = self._image_mode_check(self._node())
        self.assertIn('bound to node %s' % other.uuid, str(error))

    def test_image_mode_pin_set_by_hand_refused(self):
        other = self._node()
        other.driver_info = dict(other.driver_info, keylime_ek_sha256=SEEN)
        other.save()
        error = self._image_mode_check(self._node())
        self.assertIn('bound to node %s' % other.uuid, str(error))

    def test_image_mode_pin_before_the_index_refused_after_backfill(self):
        # Pinned before the index existed: no tag, so the indexed check
        # does not see it (the upgrade check names it) until
        # ironic-keylime-tpm-index tags it.
        other = self._node(keylime_ek_sha256=SEEN)
        db = dbapi.get_instance()
        db.delete_node_tag(other.id, ek_index.tag(SEEN))
        self.config(agent_uuid_mode='image', group='keylime')
        self.assertEqual(SEEN, self._check(self._node()))
        self.assertEqual([other.uuid], ek_index.backfill(db))
        error = self._image_mode_check(self._node())
        self.assertIn('bound to node %s' % other.uuid, str(error))

    def test_image_mode_without_the_index_reads_every_node(self):
        # A process that did not install the index (no tags kept) still
        # refuses, reading every node.
        other = self._node(keylime_ek_sha256=SEEN)
        dbapi.get_instance().delete_node_tag(other.id, ek_index.tag(SEEN))
        self.useFixture(fixtures.MockPatchObject(ek_index, '_installed',
                                                 False))
        error = self._image_mode_check(self._node())
        self.assertIn('bound to node %s' % other.uuid, str(error))

    def test_image_mode_stale_tag_binds_nothing(self):
        other = self._node()
        dbapi.get_instance().add_node_tag(other.id, ek_index.tag(SEEN))
        self.config(agent_uuid_mode='image', group='keylime')
        self.assertEqual(SEEN, self._check(self._node()))

    def test_image_mode_own_pin_is_not_another_node(self):
        self.config(agent_uuid_mode='image', group='keylime')
        self.assertIsNone(self._check(self._node(keylime_ek_sha256=SEEN)))

    # record

    def test_record(self):
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            tpm_binding.record(task, SEEN.upper())
        node.refresh()
        self.assertEqual(SEEN, node.driver_info['keylime_ek_sha256'])
        self.assertEqual('127.0.0.1', node.driver_info['keylime_v'])
        history = objects.NodeHistory.list_by_node_id(self.context, node.id)
        self.assertEqual(1, len(history))
        self.assertEqual('attestation_tpm', history[0].event_type)
        self.assertEqual('INFO', history[0].severity)
        self.assertIn(SEEN, history[0].event)
        self.assertIn('trust_on_first_use', history[0].event)
        # From then on, the same TPM passes and another fails.
        self.assertIsNone(self._check(node))

    def test_record_same_again_no_history(self):
        node = self._node(keylime_ek_sha256=SEEN)
        with task_manager.acquire(self.context, node.uuid) as task:
            tpm_binding.record(task, SEEN)
        self.assertEqual([], self._history(node))

    def test_record_never_overwrites(self):
        node = self._node(keylime_ek_sha256=OTHER)
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                kl_ironic_exception.AttestationFailure, tpm_binding.record,
                task, SEEN)
        self.assertIn('the TPM of this node changed', str(error))
        node.refresh()
        self.assertEqual(OTHER, node.driver_info['keylime_ek_sha256'])

    def test_record_nothing(self):
        node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertRaises(exception.InvalidParameterValue,
                              tpm_binding.record, task, None)

    def test_properties(self):
        self.assertIn('keylime_ek_sha256',
                      attestation.KeylimeAttestation().get_properties())
