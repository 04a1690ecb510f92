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

"""The command hooks in the real clients' commands.

The applications are the real ones (python-openstackclient's
``OpenStackShell``, python-ironicclient's standalone ``App``); cliff loads
the hooks from the entry points of the installed ironic-keylime, and the
commands are python-ironicclient's own, run with their own parsers and
``take_action``. Only the Bare Metal API is not there: the commands get a
client that records its calls and answers with real ironicclient
resources (the functional tests, test_cli_real, run the same commands
against a real Ironic).
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys

from ironicclient import exc
from ironicclient.osc.v1 import baremetal_node
from ironicclient import shell as ironic_shell
from ironicclient.v1 import driver as driver_res
from ironicclient.v1 import node as node_res
from ironicclient.v1 import resource_fields
from openstackclient import shell as osc_shell
from oslotest import base as oslo_base

from ironic_keylime.cli import hooks

UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c781'
UUID2 = '7c6e3c5e-6b1c-4a4e-9d1e-0f3a1c2b9e11'
FIELD_PATH = '/driver_info/attestation_interface'


class RecordingClient(object):
    """A Bare Metal client that records calls; no API runs in unit tests.

    :param nodes: {name or UUID: node dict} answered by node.get/list.
    :param drivers: {name: driver dict} answered by driver.get.
    """

    def __init__(self, nodes=None, drivers=None):
        self.calls = []
        self.nodes = nodes or {}
        self.drivers = drivers or {}
        self.node = self._Nodes(self)
        self.driver = self._Drivers(self)

    class _Nodes(object):
        def __init__(self, client):
            self.client = client

        def _node(self, info):
            return node_res.Node(None, dict(info), loaded=True)

        def get(self, node, fields=None):
            self.client.calls.append(('node.get', node, fields))
            info = self.client.nodes[node]
            if fields:
                info = {k: v for k, v in info.items() if k in fields}
            return self._node(info)

        def update(self, node, patch, reset_interfaces=None):
            self.client.calls.append(('node.update', node, patch))
            return self._node(self.client.nodes.get(node, {}))

        def create(self, **fields):
            self.client.calls.append(('node.create', fields))
            # As Ironic answers: every field, defaults where not given.
            return self._node(dict(_node(None, UUID), **fields))

        def list(self, **params):
            self.client.calls.append(('node.list', params))
            fields = params.get('fields')
            result = []
            for name, info in sorted(self.client.nodes.items()):
                if info.get('name') != name:
                    continue  # one entry per node
                if fields:
                    info = {k: v for k, v in info.items() if k in fields}
                result.append(self._node(info))
            return result

    class _Drivers(object):
        def __init__(self, client):
            self.client = client

        def get(self, name):
            self.client.calls.append(('driver.get', name))
            if name not in self.client.drivers:
                raise exc.NotFound('Driver %s could not be found.' % name)
            return driver_res.Driver(None, self.client.drivers[name],
                                     loaded=True)


def _unwrapped(text):
    """Help text without argparse's line breaks."""
    return ' '.join(text.replace('-\n', '-').split())


def _node(name, uuid, **info):
    node = {'uuid': uuid, 'name': name, 'driver': 'fake-hardware',
            'driver_info': {}, 'deploy_interface': 'fake'}
    node.update(info)
    return node


DRIVERS = {'fake-hardware': {'name': 'fake-hardware',
                             'default_attestation_interface':
                             'no-attestation',
                             'default_deploy_interface': 'fake'},
           'ipmi': {'name': 'ipmi',
                    'default_attestation_interface': 'keylime'}}


class NativeSetBaremetalNode(baremetal_node.SetBaremetalNode):
    """``node set`` of a client that has the option itself."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--attestation-interface',
                            dest='attestation_interface',
                            help='native option')
        return parser


class NativeShowBaremetalNode(baremetal_node.ShowBaremetalNode):
    """``node show`` of a client whose --fields lists the field."""

    def get_parser(self, prog_name):
        parser = super(baremetal_node.ShowBaremetalNode,
                       self).get_parser(prog_name)
        parser.add_argument('node')
        parser.add_argument(
            '--instance', dest='instance_uuid', action='store_true',
            default=False)
        parser.add_argument(
            '--fields', nargs='+', dest='fields', action='append',
            default=[], choices=(resource_fields.NODE_DETAILED_RESOURCE.fields
                                 + ('attestation_interface',)))
        return parser


class _AppTestCase(oslo_base.BaseTestCase):
    """Runs node commands of one real application."""

    #: The words before the command name ('baremetal ' for openstack).
    prefix = None

    def make_app(self):
        raise NotImplementedError()

    def setUp(self):
        super().setUp()
        self.app = self.make_app()
        self.client = RecordingClient(drivers=DRIVERS)
        # ironicclient's App and OSC build their client manager when they
        # authenticate (initialize_app); the commands only read
        # client_manager.baremetal.
        self.app.client_manager = argparse.Namespace(baremetal=self.client)
        self.app.stdout = io.StringIO()
        hooks._native.clear()

    def add_nodes(self, *nodes):
        for node in nodes:
            self.client.nodes[node['name']] = node
            self.client.nodes[node['uuid']] = node

    def command(self, words):
        """The command of the application for words, as cliff builds it.

        :returns: (command instance, its parser, remaining arguments).
        """
        cmd_factory, cmd_name, args = self.app.command_manager.find_command(
            (self.prefix + words).split() if isinstance(words, str)
            else words)
        cmd = cmd_factory(self.app, None, cmd_name=cmd_name)
        return cmd, cmd.get_parser(cmd_name), args

    def run_command(self, words, *args):
        """Parse args as the application does, and run the command.

        :returns: the command's output (text).
        """
        cmd, parser, rest = self.command(words)
        parsed = parser.parse_args(list(rest) + list(args))
        self.app.stdout = io.StringIO()
        cmd.run(parsed)
        return self.app.stdout.getvalue()

    def run_json(self, words, *args):
        return json.loads(self.run_command(words, *(args + ('-f', 'json'))))

    def hook_classes(self, words):
        cmd, _parser, _args = self.command(words)
        return [type(ext.obj) for ext in cmd._hooks]


class HooksMixin(object):
    """The same tests for both applications."""

    # Loading

    def test_hooks_loaded_from_entry_points(self):
        for words, hook in (('node create', hooks.CreateNodeHook),
                            ('node set', hooks.SetNodeHook),
                            ('node unset', hooks.UnsetNodeHook),
                            ('node show', hooks.ShowNodeHook),
                            ('node list', hooks.ListNodeHook)):
            self.assertEqual([hook], self.hook_classes(words), words)
        self.assertEqual([], self.hook_classes('node delete'))

    # Help

    def test_help_of_set(self):
        _cmd, parser, _args = self.command('node set')
        text = _unwrapped(parser.format_help())
        self.assertIn('--attestation-interface <attestation_interface>',
                      text)
        self.assertIn('Set the attestation interface for the node', text)
        self.assertIn('--reset-attestation-interface', text)
        self.assertIn("Reset the attestation interface to the conductor's",
                      text)
        self.assertIn('Provided by ironic-keylime: --attestation-interface, '
                      '--reset-attestation-interface.', text)

    def test_help_of_create_and_unset(self):
        for words, words_in_help in (
                ('node create', 'Attestation interface used by the node'),
                ('node unset', 'Unset the attestation interface on the')):
            _cmd, parser, _args = self.command(words)
            text = _unwrapped(parser.format_help())
            self.assertIn('--attestation-interface', text)
            self.assertIn(words_in_help, text)
            self.assertIn('driver_info/attestation_interface', text)

    # node create

    def test_create(self):
        result = self.run_json('node create', '--driver', 'fake-hardware',
                               '--attestation-interface', 'keylime')
        self.assertEqual(
            [('node.create', {'driver': 'fake-hardware',
                              'driver_info': {
                                  'attestation_interface': 'keylime'}})],
            self.client.calls)
        self.assertEqual('keylime', result['attestation_interface'])

    def test_create_with_other_driver_info(self):
        self.run_json('node create', '--driver', 'fake-hardware',
                      '--driver-info', 'keylime_vp=8881',
                      '--attestation-interface', 'keylime')
        self.assertEqual({'attestation_interface': 'keylime',
                          'keylime_vp': 8881},
                         self.client.calls[0][1]['driver_info'])

    def test_create_without_option_shows_default(self):
        result = self.run_json('node create', '--driver', 'fake-hardware')
        self.assertEqual({'driver': 'fake-hardware'},
                         self.client.calls[0][1])
        self.assertEqual('no-attestation', result['attestation_interface'])

    def test_create_refuses_both_forms(self):
        cmd, parser, rest = self.command('node create')
        parsed = parser.parse_args(rest + [
            '--driver', 'fake-hardware', '--attestation-interface', 'a',
            '--driver-info', 'attestation_interface=b'])
        e = self.assertRaises(exc.CommandError, cmd.run, parsed)
        self.assertIn('--attestation-interface and --driver-info '
                      'attestation_interface', str(e))
        self.assertEqual([], self.client.calls)

    # node set

    def test_set(self):
        self.run_command('node set', 'node-1', '--attestation-interface',
                         'keylime')
        self.assertEqual(
            [('node.update', 'node-1',
              [{'op': 'add', 'path': FIELD_PATH, 'value': 'keylime'}])],
            self.client.calls)

    def test_set_sends_names_as_strings(self):
        # The client parses --driver-info values as JSON: 123 would be
        # sent as a number, null as None.
        for name in ('123', 'null', 'true'):
            self.client.calls = []
            self.run_command('node set', 'node-1',
                             '--attestation-interface', name)
            self.assertEqual(name, self.client.calls[0][2][0]['value'])

    def test_set_with_other_options_is_one_request(self):
        self.run_command('node set', 'node-1', '--name', 'new-name',
                         '--driver-info', 'keylime_v=192.0.2.1',
                         '--attestation-interface', 'keylime')
        [(call, node, patch)] = self.client.calls
        self.assertEqual(('node.update', 'node-1'), (call, node))
        self.assertIn({'op': 'add', 'path': FIELD_PATH, 'value': 'keylime'},
                      patch)
        self.assertIn({'op': 'add', 'path': '/driver_info/keylime_v',
                       'value': '192.0.2.1'}, patch)
        self.assertIn({'op': 'add', 'path': '/name', 'value': 'new-name'},
                      patch)

    def test_set_several_nodes(self):
        self.run_command('node set', 'node-1', 'node-2',
                         '--attestation-interface', 'keylime')
        self.assertEqual(['node-1', 'node-2'],
                         [c[1] for c in self.client.calls])

    def test_set_and_reset_exclusive(self):
        _cmd, parser, rest = self.command('node set')
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertRaises(SystemExit, parser.parse_args, rest + [
                'node-1', '--attestation-interface', 'keylime',
                '--reset-attestation-interface'])
        self.assertIn('not allowed with argument', err.getvalue())

    def test_set_refuses_both_forms(self):
        cmd, parser, rest = self.command('node set')
        parsed = parser.parse_args(rest + [
            'node-1', '--attestation-interface', 'a',
            '--driver-info', 'attestation_interface=b'])
        self.assertRaises(exc.CommandError, cmd.run, parsed)
        self.assertEqual([], self.client.calls)

    def test_reset(self):
        self.add_nodes(_node('node-1', UUID))
        self.run_command('node set', 'node-1',
                         '--reset-attestation-interface')
        self.assertEqual(
            [('node.get', 'node-1', ['uuid']),
             # The command's own request: null, the default too ...
             ('node.update', 'node-1',
              [{'op': 'add', 'path': FIELD_PATH, 'value': None}]),
             # ... then the key goes, by UUID.
             ('node.update', UUID, [{'op': 'remove', 'path': FIELD_PATH}])],
            self.client.calls)

    def test_reset_while_renaming(self):
        self.add_nodes(_node('node-1', UUID), _node('node-2', UUID2))
        self.run_command('node set', 'node-1', 'node-2',
                         '--reset-attestation-interface',
                         '--driver-info', 'keylime_v=192.0.2.1')
        removals = [c for c in self.client.calls
                    if c[0] == 'node.update'
                    and c[2] == [{'op': 'remove', 'path': FIELD_PATH}]]
        self.assertEqual([UUID, UUID2], [c[1] for c in removals])

    def test_set_without_the_option_unchanged(self):
        self.run_command('node set', 'node-1', '--name', 'x')
        self.assertEqual(
            [('node.update', 'node-1',
              [{'op': 'add', 'path': '/name', 'value': 'x'}])],
            self.client.calls)

    # node unset

    def test_unset(self):
        self.run_command('node unset', 'node-1', 'node-2',
                         '--attestation-interface')
        add = [{'op': 'add', 'path': FIELD_PATH, 'value': None}]
        remove = [{'op': 'remove', 'path': FIELD_PATH}]
        self.assertEqual([('node.update', 'node-1', add),
                          ('node.update', 'node-2', add),
                          ('node.update', 'node-1', remove),
                          ('node.update', 'node-2', remove)],
                         self.client.calls)

    def test_unset_with_the_driver_info_key_too(self):
        self.run_command('node unset', 'node-1', '--attestation-interface',
                         '--driver-info', 'attestation_interface')
        self.assertEqual([{'op': 'remove', 'path': FIELD_PATH}],
                         self.client.calls[-1][2])

    def test_unset_without_the_option_unchanged(self):
        self.run_command('node unset', 'node-1', '--driver-info', 'x')
        self.assertEqual(
            [('node.update', 'node-1',
              [{'op': 'remove', 'path': '/driver_info/x'}])],
            self.client.calls)

    # node show

    def test_show_default(self):
        self.add_nodes(_node('node-1', UUID))
        result = self.run_json('node show', 'node-1')
        self.assertEqual('no-attestation', result['attestation_interface'])
        self.assertEqual({}, result['driver_info'])
        self.assertIn(('driver.get', 'fake-hardware'), self.client.calls)

    def test_show_driver_info(self):
        self.add_nodes(_node('node-1', UUID, driver_info={
            'attestation_interface': 'keylime'}))
        result = self.run_json('node show', 'node-1')
        self.assertEqual('keylime', result['attestation_interface'])
        # No need for the driver's default.
        self.assertEqual([('node.get', 'node-1', None)], self.client.calls)

    def test_show_default_of_another_driver(self):
        self.add_nodes(_node('node-1', UUID, driver='ipmi'))
        result = self.run_json('node show', 'node-1')
        self.assertEqual('keylime', result['attestation_interface'])

    def test_show_unknown_driver(self):
        self.add_nodes(_node('node-1', UUID, driver='gone'))
        result = self.run_json('node show', 'node-1')
        self.assertIsNone(result['attestation_interface'])

    def test_show_row_in_order(self):
        self.add_nodes(_node('node-1', UUID))
        output = self.run_command('node show', 'node-1', '-f', 'value',
                                  '-c', 'deploy_interface',
                                  '-c', 'attestation_interface')
        self.assertEqual('no-attestation\nfake\n', output)

    def test_show_fields(self):
        self.add_nodes(_node('node-1', UUID, driver_info={
            'attestation_interface': 'keylime', 'keylime_v': '192.0.2.1'}))
        result = self.run_json('node show', 'node-1', '--fields', 'name',
                               'attestation_interface')
        self.assertEqual({'attestation_interface': 'keylime',
                          'name': 'node-1'}, result)
        self.assertEqual(
            [('node.get', 'node-1', ['name', 'driver', 'driver_info'])],
            self.client.calls)

    def test_show_fields_with_driver_info(self):
        self.add_nodes(_node('node-1', UUID))
        result = self.run_json('node show', 'node-1', '--fields',
                               'attestation_interface', 'driver_info')
        self.assertEqual({'attestation_interface': 'no-attestation',
                          'driver_info': {}}, result)

    def test_show_other_fields_unchanged(self):
        self.add_nodes(_node('node-1', UUID))
        result = self.run_json('node show', 'node-1', '--fields', 'name')
        self.assertEqual({'name': 'node-1'}, result)
        self.assertEqual([('node.get', 'node-1', ['name'])],
                         self.client.calls)

    def test_show_unknown_field_still_refused(self):
        _cmd, parser, rest = self.command('node show')
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertRaises(SystemExit, parser.parse_args,
                              rest + ['node-1', '--fields', 'bogus'])
        self.assertIn("invalid choice: 'bogus'", err.getvalue())

    def test_show_field_from_the_api_kept(self):
        # An Ironic that returns the field itself: it is shown as is.
        self.add_nodes(_node('node-1', UUID,
                             attestation_interface='from-api'))
        result = self.run_json('node show', 'node-1')
        self.assertEqual('from-api', result['attestation_interface'])
        self.assertEqual([('node.get', 'node-1', None)], self.client.calls)

    # node list

    def test_list_long(self):
        self.add_nodes(
            _node('node-1', UUID),
            _node('node-2', UUID2,
                  driver_info={'attestation_interface': 'keylime'}),
            _node('node-3', '5dbd7d36-0d9a-4a50-a5a5-5c1c43a4f1c4'))
        rows = self.run_json('node list', '--long')
        self.assertEqual(
            [('node-1', 'no-attestation'), ('node-2', 'keylime'),
             ('node-3', 'no-attestation')],
            [(r['name'], r['attestation_interface']) for r in rows])
        # One driver request for the two nodes that need it.
        self.assertEqual(1, self.client.calls.count(
            ('driver.get', 'fake-hardware')))

    def test_list_long_column_position(self):
        self.add_nodes(_node('node-1', UUID))
        output = self.run_command('node list', '--long', '-f', 'csv')
        header = output.splitlines()[0].replace('"', '').split(',')
        self.assertEqual(
            ['allocation_uuid', 'attestation_interface', 'automated_clean'],
            header[:3])

    def test_list_without_long_unchanged(self):
        self.add_nodes(_node('node-1', UUID))
        rows = self.run_json('node list')
        self.assertNotIn('attestation_interface', rows[0])
        self.assertEqual(['node.list'], [c[0] for c in self.client.calls])

    def test_list_fields(self):
        self.add_nodes(_node('node-1', UUID, driver_info={
            'attestation_interface': 'keylime'}))
        rows = self.run_json('node list', '--fields', 'name',
                             'attestation_interface')
        self.assertEqual([{'name': 'node-1',
                           'attestation_interface': 'keylime'}], rows)
        self.assertEqual(['name', 'driver', 'driver_info'],
                         list(self.client.calls[0][1]['fields']))

    # A client with native support

    def test_native_option_left_alone(self):
        cmd = NativeSetBaremetalNode(self.app, None,
                                     cmd_name=self.prefix + 'node set')
        # The hook is loaded, and adds nothing.
        self.assertEqual([hooks.SetNodeHook],
                         [type(ext.obj) for ext in cmd._hooks])
        parser = cmd.get_parser('node set')
        text = parser.format_help()
        self.assertIn('native option', text)
        self.assertNotIn('--reset-attestation-interface', text)
        self.assertNotIn('Provided by ironic-keylime', text)
        parsed = parser.parse_args(['node-1', '--attestation-interface',
                                    'keylime'])
        cmd.run(parsed)
        # The stock take_action of 6.3 ignores it: no driver_info.
        self.assertEqual([], self.client.calls)

    def test_native_fields_left_alone(self):
        self.add_nodes(_node('node-1', UUID, attestation_interface='api'))
        cmd = NativeShowBaremetalNode(self.app, None,
                                      cmd_name=self.prefix + 'node show')
        parsed = cmd.get_parser('node show').parse_args(
            ['node-1', '--fields', 'attestation_interface', '-f', 'json'])
        cmd.run(parsed)
        self.assertEqual([('node.get', 'node-1', ['attestation_interface'])],
                         self.client.calls)
        self.assertEqual({'attestation_interface': 'api'},
                         json.loads(self.app.stdout.getvalue()))


class OpenStackClientTestCase(HooksMixin, _AppTestCase):
    """``openstack baremetal node ...`` (python-openstackclient)."""

    prefix = 'baremetal '

    def make_app(self):
        app = osc_shell.OpenStackShell()
        # OSC loads the commands of its plugins when it starts (its
        # _load_plugins): the baremetal plugin's group for API version 1.
        app.command_manager.add_command_group('openstack.baremetal.v1')
        return app

    def test_namespace(self):
        self.assertEqual('openstack.cli', self.app.command_manager.namespace)


class BaremetalShellTestCase(HooksMixin, _AppTestCase):
    """``baremetal node ...`` (python-ironicclient's own shell)."""

    prefix = ''

    def make_app(self):
        return ironic_shell.App()

    def test_namespace(self):
        self.assertEqual('openstack.baremetal.v1',
                         self.app.command_manager.namespace)


class HelpersTestCase(oslo_base.BaseTestCase):

    def test_driver_info_argument(self):
        self.assertEqual('attestation_interface="keylime"',
                         hooks.driver_info_argument('keylime'))

    def test_effective_interface(self):
        self.assertEqual('keylime', hooks.effective_interface(
            {'attestation_interface': 'keylime'}, lambda: 'default'))
        self.assertEqual('default', hooks.effective_interface(
            {'attestation_interface': None}, lambda: 'default'))
        self.assertEqual('default', hooks.effective_interface(
            '******', lambda: 'default'))

    def test_no_ironic_server_imports(self):
        # In a fresh interpreter: this test process has Ironic loaded.
        code = ('import sys; import ironic_keylime.cli.hooks; '
                'print(sorted(m for m in sys.modules '
                'if m == "ironic" or m.startswith("ironic.")))')
        out = subprocess.run([sys.executable, '-c', code], check=True,
                             capture_output=True, text=True,
                             env=dict(os.environ, PYTHONWARNINGS='ignore'))
        self.assertEqual('[]', out.stdout.strip())
