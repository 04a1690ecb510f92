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

"""driver_info of the keylime interface: every rule of its table."""

import os

from ironic.common import exception
from ironic.tests.unit.objects import utils as obj_utils

from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.ipa import agent_config
from ironic_keylime.tests import base
from ironic_keylime.tests import utils

NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'


class ParseDriverInfoTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.lists_dir = os.path.join(self.tempdir, 'lists')
        os.mkdir(self.lists_dir)
        self.config(allowed_list_directories=[self.lists_dir],
                    group='keylime')

    def node(self, **info):
        addresses = {'keylime_v': '192.0.2.10', 'keylime_r': '192.0.2.11'}
        return obj_utils.get_test_node(
            self.context, uuid=NODE_UUID,
            driver_info=utils.get_test_keylime_info(**dict(addresses, **info)))

    def parse(self, **info):
        return driver_info.parse_driver_info(self.node(**info))

    def assertInvalid(self, key, **info):
        error = self.assertRaises(exception.InvalidParameterValue,
                                  self.parse, **info)
        self.assertIn('driver_info/%s' % key, str(error))
        return error

    def test_minimal(self):
        info = self.parse()
        self.assertEqual(('192.0.2.10', 8881), info.verifier)
        self.assertEqual(('192.0.2.11', 8891), info.registrar)
        self.assertEqual('lists', info.container)
        self.assertIsNone(info.allowlist)
        self.assertIsNone(info.agent_uuid)

    def test_verifier_and_registrar_required(self):
        for key in ('keylime_v', 'keylime_r'):
            error = self.assertRaises(exception.MissingParameterValue,
                                      self.parse, **{key: None})
            self.assertIn('driver_info/%s' % key, str(error))

    def test_addresses(self):
        for value, expected in (('2001:db8::1', '2001:db8::1'),
                                ('[2001:db8::1]', '2001:db8::1'),
                                ('keylime.example.com',
                                 'keylime.example.com'),
                                (' verifier ', 'verifier')):
            self.assertEqual(expected, self.parse(keylime_v=value)
                             .verifier.host)

    def test_wildcard_addresses_refused_with_reason(self):
        for key in ('keylime_v', 'keylime_r'):
            for value in ('0.0.0.0', '::', '0:0:0:0:0:0:0:0', '[::]'):
                error = self.assertInvalid(key, **{key: value})
                self.assertIn('wildcard address', str(error))
                self.assertIn('705', str(error))

    def test_bad_addresses(self):
        for value in ('-bad-', 'a..b', 'http://x', 'x' * 64, ' ', 12, []):
            self.assertInvalid('keylime_v', keylime_v=value)
        self.assertRaises(exception.MissingParameterValue, self.parse,
                          keylime_v='')

    def test_same_rules_as_the_ramdisk(self):
        # What the conductor accepts, the ramdisk's extension accepts
        # when the conductor hands it over, and the other way round.
        for value in ('192.0.2.1', '[2001:db8::1]', 'registrar.example',
                      '1.2.3', 'host.', 'a_b', '-x'):
            try:
                agent_side = agent_config.validate_address('ip', value)
            except agent_config.AgentConfigError:
                self.assertInvalid('keylime_r', keylime_r=value)
            else:
                self.assertEqual(agent_side,
                                 self.parse(keylime_r=value).registrar.host)
        for value in (1, '8891', ' 8891 ', '+8891', 0, 70000):
            try:
                agent_side = agent_config.validate_port('port', value)
            except agent_config.AgentConfigError:
                self.assertInvalid('keylime_rp', keylime_rp=value)
            else:
                self.assertEqual(agent_side,
                                 self.parse(keylime_rp=value).registrar.port)

    def test_ports(self):
        info = self.parse(keylime_vp=18881, keylime_rp='18891')
        self.assertEqual(18881, info.verifier.port)
        self.assertEqual(18891, info.registrar.port)
        for key in ('keylime_vp', 'keylime_rp'):
            for value in (0, 65536, '-1', 'http', True, 1.5):
                error = self.assertInvalid(key, **{key: value})
                self.assertIn('1 to 65535', str(error))

    def test_agent_registrar_port(self):
        # The agent's port defaults to the registrar's plain port, apart
        # from the tenant's TLS port.
        info = self.parse(keylime_rp=18891)
        self.assertEqual(8890, info.agent_registrar_port)
        self.assertEqual(18891, info.registrar.port)
        info = self.parse(keylime_agent_registrar_port='18890')
        self.assertEqual(18890, info.agent_registrar_port)
        for value in (0, 65536, 'http', True):
            error = self.assertInvalid('keylime_agent_registrar_port',
                                       keylime_agent_registrar_port=value)
            self.assertIn('1 to 65535', str(error))

    def test_container_and_files_refused(self):
        error = self.assertRaises(
            exception.InvalidParameterValue, self.parse,
            keylime_allowlist='/x/allowlist')
        self.assertIn('keylime_container and driver_info/keylime_allowlist',
                      str(error))

    def test_no_list_source(self):
        error = self.assertRaises(exception.MissingParameterValue,
                                  self.parse, keylime_container=None)
        self.assertIn('keylime_container', str(error))
        self.assertIn('keylime_allowlist', str(error))

    def test_files_without_allowlist(self):
        error = self.assertRaises(
            exception.MissingParameterValue, self.parse,
            keylime_container=None, keylime_excludelist='/x/excludelist')
        self.assertIn('driver_info/keylime_allowlist is needed', str(error))

    def test_bad_container(self):
        for value in ('a/b', 'x' * 257, ' ', 5):
            self.assertInvalid('keylime_container', keylime_container=value)

    def test_files(self):
        info = self.parse(keylime_container=None,
                          keylime_allowlist='/l/allowlist',
                          keylime_allowlist_checksum='/l/sum',
                          keylime_excludelist='/l/ex',
                          keylime_excludelist_checksum='/l/exsum')
        self.assertIsNone(info.container)
        self.assertEqual(('/l/allowlist', '/l/sum', '/l/ex'),
                         (info.allowlist, info.checksum, info.excludelist))

    def test_checksum_file_required(self):
        error = self.assertRaises(exception.MissingParameterValue,
                                  self.parse, keylime_container=None,
                                  keylime_allowlist='/l/allowlist')
        self.assertIn('driver_info/keylime_allowlist_checksum', str(error))
        self.config(require_allowlist_checksum=False, group='keylime')
        self.assertIsNone(self.parse(keylime_container=None,
                                     keylime_allowlist='/l/a').checksum)

    def test_local_list_source_confines(self):
        info = self.parse(keylime_container=None,
                          keylime_allowlist='/etc/passwd',
                          keylime_allowlist_checksum=os.path.join(
                              self.lists_dir, 'sum'))
        error = self.assertRaises(exception.InvalidParameterValue,
                                  driver_info.list_source, info)
        self.assertIn('driver_info/keylime_allowlist', str(error))
        self.assertIn(self.lists_dir, str(error))

    def test_agent_overrides(self):
        info = self.parse(keylime_agent_uuid='agent-1',
                          keylime_agent_address='198.51.100.7',
                          keylime_agent_port='9102')
        self.assertEqual(('agent-1', '198.51.100.7', 9102),
                         (info.agent_uuid, info.agent_address,
                          info.agent_port))
        self.assertInvalid('keylime_agent_port', keylime_agent_port=0)
        self.assertInvalid('keylime_agent_address',
                           keylime_agent_address='0.0.0.0')
        self.assertInvalid('keylime_agent_uuid', keylime_agent_uuid=7)
