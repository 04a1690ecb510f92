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

"""The options and their entry points."""

from oslo_config import cfg
from oslo_config import generator
from oslotest import base
import stevedore

from ironic_keylime.conf import attestation
from ironic_keylime.conf import opts


class OptionsTestCase(base.BaseTestCase):

    def test_every_option_is_listed_with_help(self):
        listed = {(str(group), opt.name)
                  for group, group_opts in opts.list_opts()
                  for opt in group_opts}
        self.assertIn(('DEFAULT', 'enabled_attestation_interfaces'), listed)
        self.assertIn(('keylime', 'tenant_path'), listed)
        self.assertIn(('keylime', 'list_cache_dir'), listed)
        for _group, group_opts in opts.list_opts():
            for opt in group_opts:
                self.assertTrue(opt.help, opt.name)

    def test_generator_entry_point(self):
        # What "oslo-config-generator --namespace ironic_keylime" loads.
        found = generator._list_opts(['ironic_keylime'])
        names = {opt.name for _ns, groups in found
                 for _group, group_opts in groups for opt in group_opts}
        self.assertIn('fail_clean_on_attestation_failure', names)

    def test_interface_entry_points(self):
        manager = stevedore.ExtensionManager(
            'ironic.hardware.interfaces.attestation')
        self.assertEqual({'keylime', 'no-attestation'},
                         set(manager.names()))

    def test_native_options_are_kept(self):
        conf = cfg.ConfigOpts()
        native = cfg.ListOpt('enabled_attestation_interfaces',
                             default=['no-attestation'],
                             help='Ironic\'s own option.')
        conf.register_opt(native)
        attestation.register_opts(conf)
        attestation.register_opts(conf)
        self.assertIs(native, conf._opts['enabled_attestation_interfaces'][
            'opt'])
        self.assertIsNone(conf.default_attestation_interface)
