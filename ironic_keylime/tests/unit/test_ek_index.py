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

"""The index of bound TPMs, on Ironic's own database (DbTestCase).

The nodes are written by Ironic's objects and DB API, wrapped as in a
running conductor (the unit test package registers the interface type).
"""

from ironic_keylime.tests import base  # noqa: I100  (must come first)

import fixtures
from ironic.common import exception
from ironic.db import api as dbapi
from ironic.db.sqlalchemy import api as sa_api
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils
import sqlalchemy as sa

from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.ironic_integration import ek_index
from ironic_keylime.ironic_integration import shape

PIN = 'ab' * 32
OTHER = 'cd' * 32


class EKIndexTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.db = dbapi.get_instance()

    def _node(self, **info):
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', driver_info=info)

    def _tags(self, node):
        return sorted(t.tag for t in self.db.get_node_tags_by_node_id(
            node.id))

    def test_key_is_the_interfaces(self):
        self.assertEqual(driver_info.EK_SHA256, ek_index.PIN_KEY)

    def test_installed_by_the_registration(self):
        self.assertTrue(ek_index.installed())

    def test_created_pin_is_tagged(self):
        node = self._node(keylime_ek_sha256=PIN.upper())
        self.assertEqual([ek_index.tag(PIN)], self._tags(node))
        self.assertEqual([node.id], ek_index.bound_node_ids(PIN))
        self.assertEqual([], ek_index.bound_node_ids(OTHER))

    def test_no_or_malformed_pin_no_tag(self):
        self.assertEqual([], self._tags(self._node()))
        self.assertEqual([], self._tags(self._node(keylime_ek_sha256='x')))

    def test_tag_follows_the_pin_on_save(self):
        node = self._node(keylime_ek_sha256=PIN)
        node.driver_info = dict(node.driver_info, keylime_ek_sha256=OTHER)
        node.save()
        self.assertEqual([ek_index.tag(OTHER)], self._tags(node))
        self.assertEqual([], ek_index.bound_node_ids(PIN))
        node.driver_info = {}
        node.save()
        self.assertEqual([], self._tags(node))
        self.assertEqual([], ek_index.bound_node_ids(OTHER))

    def test_pin_set_later_is_tagged(self):
        node = self._node()
        self.db.update_node(node.id, {'driver_info': {
            'keylime_ek_sha256': PIN}})
        self.assertEqual([ek_index.tag(PIN)], self._tags(node))

    def test_other_updates_leave_the_tag(self):
        node = self._node(keylime_ek_sha256=PIN)
        node.driver_internal_info = {'x': 1}
        node.save()
        self.assertEqual([ek_index.tag(PIN)], self._tags(node))

    def test_other_tags_are_left_alone(self):
        node = self._node(keylime_ek_sha256=PIN)
        self.db.add_node_tag(node.id, 'rack-12')
        node.driver_info = {}
        node.save()
        self.assertEqual(['rack-12'], self._tags(node))

    def test_failed_update_leaves_no_pin_without_tag(self):
        obj_utils.create_test_node(self.context, name='taken',
                                   uuid=uuidutils.generate_uuid())
        node = self._node()
        self.assertRaises(exception.DuplicateName, self.db.update_node,
                          node.uuid, {'driver_info': {
                              'keylime_ek_sha256': PIN}, 'name': 'taken'})
        self.assertEqual({}, self.db.get_node_by_id(node.id).driver_info)
        # The tag was written first: one too many, which binds nothing
        # (callers compare the node's pin), and is removed at the next
        # save of driver_info.
        self.assertEqual([ek_index.tag(PIN)], self._tags(node))
        self.db.update_node(node.uuid, {'driver_info': {}})
        self.assertEqual([], self._tags(node))

    def test_locked_sqlite_tag_write_retried(self):
        # Several conductor workers writing at once make sqlite answer
        # "database is locked"; the unit tests' in-memory sqlite has one
        # connection and cannot lock, so the first tag write raises the
        # error sqlite raises (seen in fleet_benchmark.py, 8 checks at
        # once), then Ironic's add_node_tag runs.
        real = sa_api.Connection.add_node_tag
        calls = []

        def locked_once(conn, node_id, tag):
            calls.append(tag)
            if len(calls) == 1:
                raise sa.exc.OperationalError(
                    'INSERT INTO node_tags', {}, Exception(
                        'database is locked'))
            return real(conn, node_id, tag)

        self.useFixture(fixtures.MockPatchObject(
            sa_api.Connection, 'add_node_tag', locked_once))
        node = self._node()
        node.driver_info = {'keylime_ek_sha256': PIN}
        node.save()
        self.assertEqual([ek_index.tag(PIN)] * 2, calls)
        self.assertEqual([ek_index.tag(PIN)], self._tags(node))
        self.assertEqual(PIN, self.db.get_node_by_id(
            node.id).driver_info['keylime_ek_sha256'])

    def test_pinned_before_the_index_found_and_backfilled(self):
        node = self._node(keylime_ek_sha256=PIN)
        unpinned = self._node()
        # As written before the index existed.
        self.db.delete_node_tag(node.id, ek_index.tag(PIN))
        self.assertEqual([node.uuid], ek_index.unindexed(self.db))
        self.assertEqual([], ek_index.bound_node_ids(PIN))
        self.assertEqual([node.uuid], ek_index.backfill(self.db))
        self.assertEqual([node.id], ek_index.bound_node_ids(PIN))
        self.assertEqual([], ek_index.unindexed(self.db))
        self.assertEqual([], ek_index.backfill(self.db))
        self.assertEqual([], self._tags(unpinned))

    def test_install_refuses_another_shape(self):
        class Connection(object):
            def create_node(self, values):
                pass

            def update_node(self, node, values):
                pass

        self.useFixture(fixtures.MockPatchObject(sa_api, 'Connection',
                                                 Connection))
        error = self.assertRaises(shape.IronicShapeError,
                                  ek_index.install)
        self.assertIn('Connection.update_node takes (self, node, values)',
                      str(error))
