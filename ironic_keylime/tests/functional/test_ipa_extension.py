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

"""The conductor asks a real ironic-python-agent for the Keylime agent.

ironic-python-agent's real API application runs on 127.0.0.1 in its own
process, with the keylime extension loaded from its entry point; the
conductor side calls it with Ironic's real ``AgentClient`` and the node's
agent token. The Keylime agent service the extension restarts is a
stand-in process (there is no init system here): it reads the agent's
configuration files the way the Rust agent does and listens on the
configured port.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import fixtures
import testtools
import testtools.content

from ironic.common import states
from ironic.conductor import task_manager
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.tests import base
from ironic_keylime.tests.functional import ipa_env
from ironic_keylime.tests import utils

DRIVER_INFO = utils.get_test_keylime_info(keylime_vp=8881,
                                          keylime_r='192.0.2.10',
                                          keylime_rp=8891)


class IPAExtensionTestCase(base.DbTestCase):

    block_execute = False  # runs ironic-python-agent and the stand-in

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='ik-ipa-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.token = uuidutils.generate_uuid()
        # Fail fast on a refused connection instead of Ironic's retries.
        self.config(max_command_attempts=1, command_timeout=60,
                    group='agent')

    def _ramdisk(self, **kwargs):
        rd = ipa_env.Ramdisk(os.path.join(self.workdir, 'rd'), self.token,
                             **kwargs)
        os.makedirs(rd.workdir)
        self.addCleanup(rd.stop)
        self.addOnException(lambda exc_info: self.addDetail(
            'ipa.log', testtools.content.text_content(rd.read_log())))
        return rd

    def _node(self, rd, token=None, driver_info=None,
              state=states.CLEANWAIT):
        return obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=state,
            driver_info=driver_info or dict(DRIVER_INFO),
            driver_internal_info={
                'agent_url': rd.url,
                'agent_secret_token': token or self.token})

    def test_identity_from_real_ipa(self):
        rd = self._ramdisk()
        rd.start()
        node = self._node(rd)
        with task_manager.acquire(self.context, node.uuid) as task:
            info = driver_info.parse_driver_info(task.node)
            reported = agent.update_agent_info(task, info)
            agent_uuid, endpoint = agent.identity(task.node, info)

        # The agent was restarted with the node's UUID and the node's
        # registrar, read from its files by the stand-in.
        state = rd.standin_state()
        self.assertEqual(node.uuid, state['uuid'])
        self.assertEqual('192.0.2.10', state['registrar_ip'])
        # The registrar's plain port, on which agents register (the
        # tenant's TLS port 8891 is not the agent's).
        self.assertEqual(8890, state['registrar_port'])
        self.assertTrue(reported['restarted'])
        self.assertTrue(reported['running'])
        # What the conductor recorded and will give keylime_tenant.
        node.refresh()
        self.assertEqual(node.uuid,
                         node.driver_internal_info['keylime_agent_uuid'])
        self.assertEqual(rd.agent_port,
                         node.driver_internal_info['keylime_agent_port'])
        # The stand-in listens on loopback: no address is reported and the
        # ramdisk's address (agent_url) is used.
        self.assertNotIn('keylime_agent_address', node.driver_internal_info)
        self.assertEqual(node.uuid, agent_uuid)
        self.assertEqual(('127.0.0.1', rd.agent_port),
                         (endpoint.host, endpoint.port))

        # Same values again: the running agent is left alone.
        with task_manager.acquire(self.context, node.uuid) as task:
            info = driver_info.parse_driver_info(task.node)
            again = agent.update_agent_info(task, info)
        self.assertFalse(again['restarted'])
        self.assertEqual(1, len(rd.standin_starts()))

        # get_agent_info reads what configure_agent wrote.
        with task_manager.acquire(self.context, node.uuid) as task:
            got = agent.call(task, 'keylime.get_agent_info', {})
        self.assertEqual(node.uuid, got['uuid'])
        self.assertEqual('192.0.2.10', got['registrar_ip'])

    def test_driver_info_overrides_win(self):
        rd = self._ramdisk()
        rd.start(image_values={'ip': '0.0.0.0', 'contact_ip': '127.0.0.1'})
        values = dict(DRIVER_INFO,
                      keylime_agent_uuid=uuidutils.generate_uuid(),
                      keylime_agent_port=rd.agent_port)
        node = self._node(rd, driver_info=values)
        with task_manager.acquire(self.context, node.uuid) as task:
            info = driver_info.parse_driver_info(task.node)
            reported = agent.update_agent_info(task, info)
            agent_uuid, endpoint = agent.identity(task.node, info)
        # driver_info's UUID is the one pushed to the agent.
        self.assertEqual(values['keylime_agent_uuid'],
                         rd.standin_state()['uuid'])
        self.assertEqual('127.0.0.1', reported['address'])
        self.assertEqual(values['keylime_agent_uuid'], agent_uuid)

    def test_ramdisk_naming_another_agent_refused(self):
        # A tampered ramdisk whose agent keeps a healthy node's UUID:
        # refused before anything reaches the verifier.
        other = uuidutils.generate_uuid()
        rd = self._ramdisk(uuid_mode='image')
        rd.start(image_values={'uuid': other})
        node = self._node(rd)
        e = self._update_refused(node)
        self.assertIn('reports the UUID %s, but the conductor asked for %s'
                      % (other, node.uuid), str(e))
        node.refresh()
        self.assertNotIn('keylime_agent_uuid', node.driver_internal_info)

    def test_ramdisk_without_uuid_refused(self):
        rd = self._ramdisk(uuid_mode='image')
        rd.start(image_values={'uuid': 'hash_ek'})
        e = self._update_refused(self._node(rd))
        self.assertIn('uuid mode "hash_ek"', str(e))

    def test_image_uuid_mode_unknown_uuid(self):
        self.config(agent_uuid_mode='image', group='keylime')
        rd = self._ramdisk(uuid_mode='image')
        rd.start(image_values={'uuid': 'hash_ek'})
        node = self._node(rd)
        e = self._update_refused(node)
        self.assertIn('hash_ek', str(e))
        self.assertIn('DIB_KEYLIME_AGENT_UUID_MODE', str(e))
        # The image's mode was kept: the conductor's UUID was not written.
        self.assertEqual('hash_ek', rd.standin_state()['uuid'])

    def _update_refused(self, node, change_info=None):
        """The conductor's call to the ramdisk; return its failure."""
        with task_manager.acquire(self.context, node.uuid) as task:
            info = driver_info.parse_driver_info(task.node)
            if change_info:
                info = change_info(info)
            return self.assertRaises(kl_ironic_exception.AttestationFailure,
                                     agent.update_agent_info, task, info)

    def test_wrong_token_refused(self):
        rd = self._ramdisk()
        rd.start()
        node = self._node(rd, token='not-the-token')
        e = self._update_refused(node)
        self.assertIn('Token invalid', str(e))
        self.assertIsNone(rd.standin_state())

    def test_ramdisk_without_extension(self):
        rd = self._ramdisk(with_keylime=False)
        rd.start()
        node = self._node(rd)
        e = self._update_refused(node)
        self.assertIn('ironic-keylime-agent element', str(e))
        self.assertIn('ELEMENTS_PATH', str(e))

    def test_bad_registrar_refused(self):
        rd = self._ramdisk()
        rd.start()
        info = dict(DRIVER_INFO)
        node = self._node(rd, driver_info=info)
        # parse_driver_info validates the registrar; the extension
        # refuses on its own too (IPA answers 400).
        e = self._update_refused(node, lambda info: info._replace(
            agent_registrar_port=70000))
        self.assertIn('registrar_port must be a port number', str(e))
        self.assertIsNone(rd.standin_state())

    def test_agent_fails_to_start(self):
        # The service does not come up: its restart command fails.
        rd = self._ramdisk(fail_restart=True)
        rd.start()
        node = self._node(rd)
        e = self._update_refused(node)
        self.assertIn('could not be (re)started', str(e))
        self.assertIn('refusing to start', str(e))


TOP = ipa_env.TOP


def keylime_venv():
    """The Keylime 7 virtualenv of tools/keylime/harness.sh."""
    harness = os.environ.get('IRONIC_KEYLIME_HARNESS_DIR') or os.path.join(
        TOP, '.harness')
    return os.environ.get('IRONIC_KEYLIME_VENV') or os.path.join(
        harness, 'venvs', 'keylime7')


class ImageListsAcceptedByKeylime(testtools.TestCase):
    """ironic-keylime-agent's lists, judged by Keylime 7's own tools.

    The element's generator runs on a real directory tree; Keylime's
    converters (keylime_convert_runtime_policy, keylime-policy) turn the
    lists into runtime policies, Keylime validates them, and Keylime's
    IMA code checks measurement lists of the tree's files against them
    (tools/elements/keylime_accepts_lists.py).
    """

    def test_accepted(self):
        python = os.path.join(keylime_venv(), 'bin', 'python')
        if not os.path.exists(python):
            self.fail('No Keylime 7 virtualenv at %s: run '
                      '"tools/keylime/harness.sh setup" (or set '
                      'IRONIC_KEYLIME_VENV)' % keylime_venv())
        tmp = self.useFixture(fixtures.TempDir()).path
        root = os.path.join(tmp, 'root')
        lists = os.path.join(tmp, 'lists')
        work = os.path.join(tmp, 'work')
        os.makedirs(root)
        os.makedirs(work)
        ipa_env.make_tree(root)
        subprocess.run([sys.executable, ipa_env.LISTS_SCRIPT, '--root',
                        root, '--output-dir', lists], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.run(
            [python, os.path.join(TOP, 'tools', 'elements',
                                  'keylime_accepts_lists.py'),
             '--lists', lists, '--root', root, '--workdir', work,
             '--sample', '/usr/bin/python3', '--sample', '/usr/bin/sh',
             '--sample', '/opt/with space/run me'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, check=False)
        self.addDetail('stderr', testtools.content.text_content(proc.stderr))
        self.assertEqual(0, proc.returncode, proc.stdout)
        results = json.loads(proc.stdout)
        for tool in ('keylime_convert_runtime_policy', 'keylime-policy'):
            entry = results[tool]
            self.assertTrue(entry['valid'], entry)
            self.assertEqual(['0' * 64], entry['boot_aggregate'])
            self.assertEqual(4, entry['digests'])
            self.assertEqual(('PASS', 'PASS', 'FAIL'),
                             (entry['measured'], entry['excluded'],
                              entry['tampered']))
