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

"""``--attestation-interface`` for the stock node commands.

cliff loads the hooks of a command from the entry point namespace
``<command manager namespace>.<command name with underscores>``
(``cliff.command.Command._load_hooks``):

* ``openstack baremetal node set``: python-openstackclient's command
  manager has the namespace ``openstack.cli``
  (``openstackclient.shell.OpenStackShell``), and the command is named
  ``baremetal node set``: ``openstack.cli.baremetal_node_set``;
* ``baremetal node set``: python-ironicclient's own shell uses its plugin
  namespace ``openstack.baremetal.v1`` (``ironicclient.shell``) and strips
  the ``baremetal`` prefix from the names: ``openstack.baremetal.v1.node_set``.

ironic-keylime's ``setup.cfg`` registers the hooks below in both, for
``node create``, ``node set``, ``node unset``, ``node show`` and
``node list``.

Ironic 39 has no node field for the attestation interface:
ironic-keylime's conductor reads ``driver_info/attestation_interface``.
The hooks give the commands the options operators know from the other
interface types and store them there:

* ``node create --attestation-interface X`` and ``node set
  --attestation-interface X`` add ``driver_info/attestation_interface=X``
  (always as a string) to the command's own request;
* ``node set --reset-attestation-interface`` and ``node unset
  --attestation-interface`` remove ``driver_info/attestation_interface``:
  the node gets the conductor's default again;
* ``node show``, ``node create`` and ``node list --long`` show an
  ``attestation_interface`` column: the node's
  ``driver_info/attestation_interface``, else the
  ``default_attestation_interface`` of its driver (``GET
  /v1/drivers/<driver>``); ``--fields attestation_interface`` works.

The Bare Metal API checks the name: an unknown or disabled one is refused
with Ironic's interface error, which the command prints.

When the client itself has the option (a client with native support),
the hooks add nothing and change nothing.
"""

import argparse
import itertools
import json
import logging

from cliff import hooks
from ironicclient import exc

from ironic_keylime.common.i18n import _

LOG = logging.getLogger(__name__)

#: The node field of the attestation interface (a driver_info key here).
FIELD = 'attestation_interface'
#: The option that selects it.
OPTION = '--attestation-interface'
#: The option of ``node set`` that resets it.
RESET_OPTION = '--reset-attestation-interface'
#: The driver field of its default.
DRIVER_DEFAULT = 'default_%s' % FIELD
#: JSON patch path of the setting.
PATH = '/driver_info/%s' % FIELD
#: The node fields the effective value is computed from.
SOURCE_FIELDS = ('driver', 'driver_info')

EPILOG = _("Provided by ironic-keylime: %(options)s. The attestation "
           "interface is stored in the node's driver_info/%(field)s, which "
           "Ironic conductors started with ironic-keylime's ironic-attest "
           "commands read.")

# {(command class, option): whether the client's own parser has it}
_native = {}


def has_native_option(command, option=OPTION):
    """Whether the command's own parser already has an option.

    The command's class is built once more without a name: cliff loads
    hooks for named commands only, so that parser holds the client's own
    options. Cached per class.

    :param command: a cliff command instance.
    :param option: the option string to look for.
    :returns: True when the client itself defines the option.
    """
    key = (type(command), option)
    if key not in _native:
        bare = type(command)(command.app, command.app_args)
        parser = bare.get_parser(command.cmd_name or 'node')
        _native[key] = option in parser._option_string_actions
    return _native[key]


def driver_info_argument(value):
    """A ``--driver-info`` argument that stores value as a string.

    The client parses the value of ``key=value`` as JSON when it can;
    the name is encoded so that it always arrives as the string given.

    :param value: the interface name.
    :returns: ``attestation_interface=<JSON string>``.
    """
    return '%s=%s' % (FIELD, json.dumps(value))


def effective_interface(driver_info, default):
    """The attestation interface of a node, as its conductor sees it.

    :param driver_info: the node's driver_info (a dict, or anything else
        when it is not available).
    :param default: a callable returning the driver's default.
    :returns: driver_info's setting, else the default (None when unknown).
    """
    if isinstance(driver_info, dict) and driver_info.get(FIELD) is not None:
        return driver_info[FIELD]
    return default()


def _insert_sorted(columns, values, value):
    """Insert FIELD into sorted columns at its place, with its value."""
    position = next((i for i, column in enumerate(columns)
                     if column > FIELD), len(columns))
    columns.insert(position, FIELD)
    values.insert(position, value)


class _DriverDefaults(object):
    """The default attestation interface of drivers, read once each."""

    def __init__(self, client):
        self.client = client
        self._defaults = {}

    def get(self, driver):
        """The default attestation interface of a driver.

        :param driver: a driver (hardware type) name.
        :returns: the name, or None when the driver cannot be read or has
            no such field (a conductor without ironic-keylime).
        """
        if not driver:
            return None
        if driver not in self._defaults:
            try:
                details = self.client.driver.get(driver).to_dict()
            except exc.ClientException as e:
                LOG.warning('Could not read the default attestation '
                            'interface of driver %(driver)s: %(err)s',
                            {'driver': driver, 'err': e})
                details = {}
            self._defaults[driver] = details.get(DRIVER_DEFAULT)
        return self._defaults[driver]


class _Hook(hooks.CommandHook):
    """What every hook of this module shares."""

    #: The option whose presence in the client means native support.
    native_option = OPTION
    #: The options this hook adds, for its epilog.
    options = (OPTION,)

    def __init__(self, command):
        super().__init__(command)
        self._defaults = None

    @property
    def native(self):
        """Whether the command has the option without this hook."""
        return has_native_option(self.cmd, self.native_option)

    @property
    def client(self):
        """The command's Bare Metal client."""
        return self.cmd.app.client_manager.baremetal

    @property
    def defaults(self):
        """Drivers' default attestation interfaces, read once each."""
        if self._defaults is None:
            self._defaults = _DriverDefaults(self.client)
        return self._defaults

    def get_epilog(self):
        if self.native:
            return None
        return EPILOG % {'options': ', '.join(self.options),
                         'field': FIELD}

    def get_parser(self, parser):
        return parser

    def before(self, parsed_args):
        return parsed_args

    def after(self, parsed_args, return_code):
        return return_code


def _refuse_driver_info_field(parsed_args, option):
    """Refuse the option together with --driver-info attestation_interface.

    :raises: CommandError naming both.
    """
    for item in parsed_args.driver_info or ():
        if item.split('=', 1)[0] == FIELD:
            raise exc.CommandError(
                _('%(option)s and --driver-info %(field)s both set the '
                  'attestation interface; use one of them.')
                % {'option': option, 'field': FIELD})


class _ShowColumnMixin(object):
    """Adds the effective attestation_interface row to a ShowOne's data."""

    def _add_row(self, data):
        columns, values = data
        columns, values = list(columns), list(values)
        if FIELD in columns:
            # The API returned the field itself (native support).
            return data
        row = dict(zip(columns, values))
        if 'driver_info' not in row:
            return data
        value = effective_interface(
            row['driver_info'],
            lambda: self.defaults.get(row.get('driver')))
        _insert_sorted(columns, values, value)
        return tuple(columns), tuple(values)


class CreateNodeHook(_ShowColumnMixin, _Hook):
    """``node create --attestation-interface NAME``."""

    def get_parser(self, parser):
        if not self.native:
            parser.add_argument(
                OPTION,
                metavar='<attestation_interface>',
                dest=FIELD,
                help=_("Attestation interface used by the node's driver "
                       "(for example 'keylime' or 'no-attestation'). "
                       "ironic-keylime stores it in driver_info/%s; "
                       "without it, the node gets the conductor's "
                       "default.") % FIELD)
        return parser

    def before(self, parsed_args):
        value = getattr(parsed_args, FIELD, None)
        if self.native or value is None:
            return parsed_args
        _refuse_driver_info_field(parsed_args, OPTION)
        parsed_args.driver_info = (list(parsed_args.driver_info or [])
                                   + [driver_info_argument(value)])
        return parsed_args

    def after(self, parsed_args, data):
        if self.native:
            return data
        return self._add_row(data)


class SetNodeHook(_Hook):
    """``node set --attestation-interface NAME | --reset-...``.

    A reset is done in two steps, because ``node set`` only adds to
    driver_info and a JSON patch cannot remove a key that is not there:
    the command's own request sets the key to null (the default too), and
    :meth:`after` removes it.
    """

    options = (OPTION, RESET_OPTION)

    def __init__(self, command):
        super().__init__(command)
        #: UUIDs of the nodes whose setting is removed after the command.
        self.reset_nodes = []

    def get_parser(self, parser):
        if not self.native:
            group = parser.add_mutually_exclusive_group()
            group.add_argument(
                OPTION,
                metavar='<attestation_interface>',
                dest=FIELD,
                help=_('Set the attestation interface for the node '
                       '(stored in driver_info/%s by ironic-keylime).')
                % FIELD)
            group.add_argument(
                RESET_OPTION,
                action='store_true',
                dest='reset_%s' % FIELD,
                help=_("Reset the attestation interface to the "
                       "conductor's default (removes driver_info/%s).")
                % FIELD)
        return parser

    def before(self, parsed_args):
        if self.native:
            return parsed_args
        value = getattr(parsed_args, FIELD, None)
        reset = getattr(parsed_args, 'reset_%s' % FIELD, False)
        if value is None and not reset:
            return parsed_args
        _refuse_driver_info_field(parsed_args,
                                  OPTION if value is not None
                                  else RESET_OPTION)
        if value is not None:
            argument = driver_info_argument(value)
        else:
            # By UUID: the command may rename the nodes.
            self.reset_nodes = [
                self.client.node.get(node, fields=['uuid']).uuid
                for node in parsed_args.nodes]
            argument = '%s=null' % FIELD
        parsed_args.driver_info = (list(parsed_args.driver_info or [])
                                   + [argument])
        return parsed_args

    def after(self, parsed_args, return_code):
        for node in self.reset_nodes:
            self.client.node.update(node, [{'op': 'remove', 'path': PATH}])
        return return_code


class UnsetNodeHook(_Hook):
    """``node unset --attestation-interface``.

    ``node unset --driver-info attestation_interface`` fails on a node
    without the key (a JSON patch cannot remove a missing key), where
    unsetting another interface always works: the hook first sets the key
    to null (the default too) on each node, then the command's own
    request removes it.
    """

    def get_parser(self, parser):
        if not self.native:
            parser.add_argument(
                OPTION,
                action='store_true',
                dest=FIELD,
                help=_("Unset the attestation interface on the node: it "
                       "gets the conductor's default again (removes "
                       "driver_info/%s).") % FIELD)
        return parser

    def before(self, parsed_args):
        if self.native or not getattr(parsed_args, FIELD, False):
            return parsed_args
        for node in parsed_args.nodes:
            self.client.node.update(
                node, [{'op': 'add', 'path': PATH, 'value': None}])
        keys = list(parsed_args.driver_info or [])
        if FIELD not in keys:
            keys.append(FIELD)
        parsed_args.driver_info = keys
        return parsed_args


class _FieldsHook(_Hook):
    """``--fields attestation_interface`` for node show and list.

    The command adds its ``--fields`` option after the hooks ran, with the
    client's list of node fields as choices. The hook registers, on the
    command's parser only, an ``append`` action class that adds
    ``attestation_interface`` to the choices of that option. The request
    then asks for the fields the value is computed from instead.
    """

    def __init__(self, command):
        super().__init__(command)
        #: The client's own --fields choices list the field (native).
        self.native_field = False
        #: The hook added the field to the --fields choices.
        self.added_field = False
        #: Fields the hook added to the request, to hide again.
        self.extra_fields = []
        #: Where the user asked for the field in --fields (or None).
        self.field_index = None

    @property
    def native(self):
        return self.native_field

    def get_epilog(self):
        return None

    def get_parser(self, parser):
        hook = self

        # argparse looks the class of action='append' up in the parser's
        # registry when the command adds --fields.
        class FieldsAction(argparse._AppendAction):
            def __init__(self, option_strings, dest, choices=None,
                         **kwargs):
                if (dest == 'fields' and choices is not None
                        and 'driver_info' in choices):
                    if FIELD in choices:
                        hook.native_field = True
                    else:
                        choices = tuple(choices) + (FIELD,)
                        hook.added_field = True
                super().__init__(option_strings, dest, choices=choices,
                                 **kwargs)

        parser.register('action', 'append', FieldsAction)
        return parser

    def before(self, parsed_args):
        fields = list(itertools.chain.from_iterable(
            getattr(parsed_args, 'fields', None) or []))
        if not self.added_field or FIELD not in fields:
            return parsed_args
        self.field_index = fields.index(FIELD)
        rest = [f for f in fields if f != FIELD]
        self.extra_fields = [f for f in SOURCE_FIELDS if f not in rest]
        parsed_args.fields = [rest + self.extra_fields]
        return parsed_args

    def _hide_extra(self, columns, rows):
        """Drop the columns the hook asked for (in place)."""
        for field in self.extra_fields:
            index = columns.index(field)
            del columns[index]
            for row in rows:
                del row[index]


class ShowNodeHook(_ShowColumnMixin, _FieldsHook):
    """The attestation_interface row of ``node show``."""

    def after(self, parsed_args, data):
        if self.native_field:
            return data
        requested = getattr(parsed_args, 'fields', None)
        if requested and self.field_index is None:
            return data
        columns, values = self._add_row(data)
        columns, values = list(columns), list(values)
        self._hide_extra(columns, [values])
        return tuple(columns), tuple(values)


class ListNodeHook(_FieldsHook):
    """The attestation_interface column of ``node list --long``."""

    def after(self, parsed_args, data):
        columns, rows = data
        if self.native_field or FIELD in columns:
            return data
        if not (getattr(parsed_args, 'long', False)
                or self.field_index is not None):
            return data
        columns = list(columns)
        rows = [list(row) for row in rows]
        info, driver = (columns.index('driver_info'),
                        columns.index('driver'))
        values = [effective_interface(
            row[info], lambda row=row: self.defaults.get(row[driver]))
            for row in rows]
        self._hide_extra(columns, rows)
        if self.field_index is not None:
            position = min(self.field_index, len(columns))
        else:
            position = next((i for i, column in enumerate(columns)
                             if column > FIELD), len(columns))
        columns.insert(position, FIELD)
        for row, value in zip(rows, values):
            row.insert(position, value)
        return tuple(columns), [tuple(row) for row in rows]
