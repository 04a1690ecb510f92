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

"""The Rust agent's configuration reader and drop-in writer, on real files.
"""

import os
import stat

import fixtures
from oslotest import base as test_base

from ironic_keylime.ipa import agent_config

# An excerpt of the Rust agent's own keylime-agent.conf (its format:
# comments, quoted strings, integers, booleans).
SHIPPED = '''\
# All configuration options can be overridden by environment variables.
[agent]
version = "2.4"
# If you set this to "generate", Keylime will create a random UUID.
uuid = "d432fbb3-d2f1-4a97-9ef7-75bd81c00000"
ip = "127.0.0.1"
port = 9002
registrar_ip = "127.0.0.1"
registrar_port = 8890
enable_agent_mtls = true
run_as = "keylime:tss"
'''


class AgentConfigTestCase(test_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.main = os.path.join(self.dir, 'agent.conf')
        self.dropins = os.path.join(self.dir, 'agent.conf.d')
        with open(self.main, 'w') as f:
            f.write(SHIPPED)

    def _effective(self):
        return agent_config.effective_config(self.main, self.dropins)

    def test_main_file_only(self):
        values = self._effective()
        self.assertEqual('d432fbb3-d2f1-4a97-9ef7-75bd81c00000',
                         values['uuid'])
        self.assertEqual(9002, values['port'])
        self.assertIs(True, values['enable_agent_mtls'])

    def test_dropins_in_lexicographic_order_win(self):
        agent_config.write_dropin(
            os.path.join(self.dropins, agent_config.IMAGE_DROPIN),
            {'ip': '0.0.0.0', 'port': 9102, 'registrar_ip': '10.1.0.1',
             'uuid': 'hash_ek'})
        agent_config.write_dropin(
            os.path.join(self.dropins, agent_config.RUNTIME_DROPIN),
            agent_config.conductor_values(
                '10.2.0.1', '8891',
                agent_uuid='1BE26C0B-03F2-4D2E-AE87-C02D7F33C123'))
        # Not a .conf file: the agent ignores it, and so do we.
        with open(os.path.join(self.dropins, '99-x.conf.rpmsave'), 'w') as f:
            f.write('[agent]\nport = 1\n')
        values = self._effective()
        self.assertEqual({'ip': '0.0.0.0', 'port': 9102,
                          'registrar_ip': '10.2.0.1', 'registrar_port': 8891,
                          'uuid': '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'},
                         {k: values[k] for k in ('ip', 'port',
                                                 'registrar_ip',
                                                 'registrar_port', 'uuid')})
        identity = agent_config.agent_identity(values)
        self.assertEqual('fixed', identity['uuid_mode'])
        self.assertEqual('1be26c0b-03f2-4d2e-ae87-c02d7f33c123',
                         identity['uuid'])
        # A wildcard address is no address for the verifier.
        self.assertIsNone(identity['address'])
        self.assertEqual(9102, identity['port'])

    def test_contact_address_and_port_win(self):
        values = dict(self._effective(), ip='0.0.0.0', contact_ip='10.0.0.9',
                      contact_port=19002)
        identity = agent_config.agent_identity(values)
        self.assertEqual(('10.0.0.9', 19002),
                         (identity['address'], identity['port']))

    def test_specific_listen_address_reported(self):
        values = dict(self._effective(), ip='10.0.0.8')
        self.assertEqual('10.0.0.8',
                         agent_config.agent_identity(values)['address'])

    def test_uuid_keywords(self):
        for mode in ('generate', 'hash_ek', 'hostname', 'environment'):
            identity = agent_config.agent_identity({'uuid': mode})
            self.assertEqual((None, mode),
                             (identity['uuid'], identity['uuid_mode']))

    def test_uuid_dmidecode_read_from_dmi(self):
        path = os.path.join(self.dir, 'product_uuid')
        with open(path, 'w') as f:
            f.write('4C4C4544-0042-3510-8052-B8C04F4A4E32\n')
        identity = agent_config.agent_identity({'uuid': 'dmidecode'},
                                               dmi_uuid_path=path)
        self.assertEqual('4c4c4544-0042-3510-8052-b8c04f4a4e32',
                         identity['uuid'])
        missing = agent_config.agent_identity(
            {'uuid': 'dmidecode'}, dmi_uuid_path=path + '.missing')
        self.assertIsNone(missing['uuid'])

    def test_write_is_atomic_idempotent_and_readable(self):
        path = os.path.join(self.dropins, 'sub', '90-x.conf')
        values = {'registrar_ip': '10.0.0.1', 'registrar_port': 8890,
                  'uuid': 'a "quoted" \\ value', 'enable_agent_mtls': False}
        self.assertTrue(agent_config.write_dropin(path, values,
                                                  comment='two\nlines'))
        self.assertFalse(agent_config.write_dropin(path, values,
                                                   comment='two\nlines'))
        self.assertEqual(0o644, stat.S_IMODE(os.stat(path).st_mode))
        self.assertEqual(['90-x.conf'],
                         os.listdir(os.path.dirname(path)))
        self.assertEqual(values, agent_config.read_file(path))
        with open(path) as f:
            self.assertTrue(f.read().startswith('# two\n# lines\n[agent]\n'))

    def test_fallback_parser_matches_tomllib(self):
        path = os.path.join(self.dir, 'x.conf')
        agent_config.write_dropin(path, {'a': 'x "y" \\z', 'b': 3,
                                         'c': True, 'd': ''})
        with_tomllib = agent_config.read_file(path)
        # As on a Python without tomllib (CentOS Stream 9's 3.9).
        self.useFixture(fixtures.MonkeyPatch(
            'ironic_keylime.ipa.agent_config.tomllib', None))
        self.assertEqual(with_tomllib, agent_config.read_file(path))
        self.assertEqual(with_tomllib['a'], 'x "y" \\z')
        self.assertEqual('d432fbb3-d2f1-4a97-9ef7-75bd81c00000',
                         agent_config.read_file(self.main)['uuid'])

    def test_bad_toml(self):
        with open(self.main, 'w') as f:
            f.write('[agent]\nport = = 3\n')
        e = self.assertRaises(agent_config.AgentConfigError,
                              self._effective)
        self.assertIn('not valid TOML', str(e))

    def test_unreadable(self):
        e = self.assertRaises(agent_config.AgentConfigError,
                              agent_config.read_file, self.dir + '/none')
        self.assertIn('cannot read', str(e))

    def test_missing_files_give_agent_defaults(self):
        values = agent_config.effective_config(self.dir + '/none',
                                               self.dir + '/none.d')
        self.assertEqual(agent_config.AGENT_DEFAULTS, values)

    def test_conductor_values_validation(self):
        good = agent_config.conductor_values('registrar.example.org', 8891,
                                             contact_ip='[fd00::1]')
        self.assertEqual({'registrar_ip': 'registrar.example.org',
                          'registrar_port': 8891, 'contact_ip': 'fd00::1'},
                         good)
        bad = [
            (('10.0.0.1; rm -rf /', 8890), 'registrar_ip'),
            (('', 8890), 'registrar_ip'),
            (('300.1.1.1', 8890), 'registrar_ip'),
            (('10.0.0.1', 0), 'registrar_port'),
            (('10.0.0.1', 65536), 'registrar_port'),
            (('10.0.0.1', '80a'), 'registrar_port'),
            (('10.0.0.1', True), 'registrar_port'),
            (('10.0.0.1', 8890, 'not-a-uuid'), 'agent_uuid'),
            (('10.0.0.1', 8890, None, 'a b'), 'contact_ip'),
        ]
        for args, name in bad:
            e = self.assertRaises(agent_config.AgentConfigError,
                                  agent_config.conductor_values, *args)
            self.assertIn(name, str(e))

    def test_render_refuses_control_characters_and_bad_keys(self):
        self.assertRaises(agent_config.AgentConfigError,
                          agent_config.render, {'uuid': 'a\nport = 1'})
        self.assertRaises(agent_config.AgentConfigError,
                          agent_config.render, {'a]\n[b': 1})
