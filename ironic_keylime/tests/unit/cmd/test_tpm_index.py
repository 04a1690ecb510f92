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

"""The index of bound TPMs in the upgrade check, and its backfill command.

The check runs on Ironic's DbTestCase database; the command runs as a
process on a real sqlite database made by ``ironic-dbsync``, where a node
was pinned by a process that did not keep the index (as before it
existed).
"""

import os
import sqlite3
import subprocess
import sys
import textwrap

import fixtures
from ironic.db import api as dbapi
from ironic.tests.unit.objects import utils as obj_utils
from oslo_upgradecheck import upgradecheck
from oslo_utils import uuidutils

from ironic_keylime.cmd import status
from ironic_keylime.cmd import tpm_index
from ironic_keylime.ironic_integration import ek_index
from ironic_keylime.tests import base

PIN = 'ab' * 32


class TPMIndexCheckTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.node = obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver_info={'keylime_ek_sha256': PIN})
        self.db = dbapi.get_instance()

    def _unindex(self):
        self.db.delete_node_tag(self.node.id, ek_index.tag(PIN))

    def test_indexed(self):
        result = tpm_index.check()
        self.assertEqual(upgradecheck.Code.SUCCESS, result.code)

    def test_unindexed_pin_warns_in_node_mode(self):
        self._unindex()
        result = tpm_index.check()
        self.assertEqual(upgradecheck.Code.WARNING, result.code)
        self.assertIn(self.node.uuid, result.details)
        self.assertIn('ironic-keylime-tpm-index', result.details)

    def test_unindexed_pin_fails_in_image_mode(self):
        self.config(agent_uuid_mode='image', group='keylime')
        self._unindex()
        result = tpm_index.check()
        self.assertEqual(upgradecheck.Code.FAILURE, result.code)
        self.assertIn(self.node.uuid, result.details)
        ek_index.backfill(self.db)
        self.assertEqual(upgradecheck.Code.SUCCESS, tpm_index.check().code)

    def test_listed_in_the_upgrade_check(self):
        self.assertIn('Index of bound TPMs',
                      [name for name, _c in status.Checks._upgrade_checks])


_WRITE_NODE = textwrap.dedent('''
    import sys
    import ironic.command  # noqa
    from ironic.common import context
    from ironic.conf import CONF
    from ironic import objects
    CONF(['--config-file', sys.argv[1]], project='ironic')
    objects.register_all()
    node = objects.Node(context.get_admin_context(), uuid=sys.argv[2],
                        driver='fake-hardware',
                        driver_info={'keylime_ek_sha256': sys.argv[3]})
    node.create()
''')


class TPMIndexCommandTestCase(base.DbTestCase):

    # Runs ironic-dbsync and the command as processes.
    block_execute = False

    def _run(self, *argv):
        return subprocess.run([sys.executable] + list(argv),
                              capture_output=True, text=True, timeout=120,
                              check=True).stdout

    def test_backfill_tags_pins_written_before_the_index(self):
        workdir = self.useFixture(fixtures.TempDir()).path
        database = os.path.join(workdir, 'ironic.sqlite')
        conf = os.path.join(workdir, 'ironic.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nenabled_hardware_types = fake-hardware\n'
                    '[database]\nconnection = sqlite:///%s\n' % database)
        dbsync = os.path.join(os.path.dirname(sys.executable),
                              'ironic-dbsync')
        subprocess.run([dbsync, '--config-file', conf, 'create_schema'],
                       capture_output=True, timeout=120, check=True)
        node = uuidutils.generate_uuid()
        self._run('-c', _WRITE_NODE, conf, node, PIN)
        with sqlite3.connect(database) as db:
            self.assertEqual([], db.execute('SELECT tag FROM node_tags')
                             .fetchall())
        out = self._run('-m', 'ironic_keylime.cmd.tpm_index',
                        '--config-file', conf)
        self.assertIn('indexed the EK pin of node %s' % node, out)
        self.assertIn('1 node(s) indexed', out)
        with sqlite3.connect(database) as db:
            self.assertEqual([(ek_index.tag(PIN),)],
                             db.execute('SELECT tag FROM node_tags')
                             .fetchall())
        self.assertIn('0 node(s) indexed', self._run(
            '-m', 'ironic_keylime.cmd.tpm_index', '--config-file', conf))
