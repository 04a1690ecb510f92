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

"""The shape of the Ironic internals that this package patches.

:func:`check_ironic_shape` runs before anything is patched, and refuses an
Ironic whose internals are not what the patches of :mod:`.register`,
:mod:`.guards` and :mod:`.names` expect: a missing attribute, an object
of another kind, or a function with other parameters. A patch applied to
an internal that changed could silently skip attestation; the services
must not start then. Internals of modules that import Ironic's API are
checked after the step tables were patched (they cannot be imported
before), before they are patched themselves.
"""

import importlib
import inspect

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import version

#: Functions and methods patched or called: (module, attribute path,
#: parameter names).
CALLABLES = (
    ('ironic.conductor.deployments', 'start_deploy',
     ('task', 'manager', 'configdrive', 'event', 'deploy_steps')),
    ('ironic.objects.node', 'Node.get_interface', ('self', 'iface')),
    ('ironic.objects.node', 'Node.get_by_uuid', ('context', 'uuid')),
    ('ironic.objects.node', 'Node.get', ('context', 'node_id')),
    ('ironic.common.driver_factory', 'check_and_update_node_interfaces',
     ('node', 'hw_type')),
    ('ironic.common.driver_factory', 'get_interface',
     ('hw_type', 'interface_type', 'interface_name')),
    ('ironic.common.driver_factory', 'get_hardware_type',
     ('hardware_type',)),
    ('ironic.common.rpc_service', 'BaseRPCService.__init__',
     ('self', 'host', 'manager_module', 'manager_class')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.do_node_deploy',
     ('self', 'context', 'node_id', 'rebuild', 'configdrive', 'topic',
      'deploy_steps')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.do_provisioning_action',
     ('self', 'context', 'node_id', 'action', 'topic')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.do_node_clean',
     ('self', 'context', 'node_id', 'clean_steps', 'disable_ramdisk',
      'topic')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.do_node_service',
     ('self', 'context', 'node_id', 'service_steps', 'disable_ramdisk',
      'topic')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.do_node_tear_down',
     ('self', 'context', 'node_id', 'topic')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.update_node',
     ('self', 'context', 'node_obj', 'topic', 'reset_interfaces')),
    ('ironic.conductor.rpcapi', 'ConductorAPI.get_conductor_for',
     ('self', 'node')),
    ('ironic.conductor.steps', '_get_deployment_steps',
     ('task', 'enabled', 'sort')),
    ('ironic.conductor.steps', '_get_all_deployment_steps',
     ('task', 'skip_missing')),
    ('ironic.conductor.steps', '_get_deployment_templates', ('task',)),
    ('ironic.objects.deploy_template', 'DeployTemplate.list_by_names',
     ('context', 'names')),
    ('ironic.objects.conductor', 'Conductor.get_by_hostname',
     ('context', 'hostname', 'online')),
    ('ironic.db.api', 'Connection.list_conductor_hardware_interfaces',
     ('self', 'conductor_id')),
    ('ironic.db.api', 'Connection.get_active_hardware_type_dict',
     ('self', 'use_groups')),
    ('ironic.common.policy', 'list_policies', ()),
    ('ironic.common.policy', 'init_enforcer',
     ('policy_file', 'rules', 'default_rule', 'use_conf')),
    ('ironic.common.policy', 'authorize',
     ('rule', 'target', 'creds', 'args', 'kwargs')),
    ('ironic.db.sqlalchemy.api', 'Connection.create_node',
     ('self', 'values')),
    ('ironic.db.sqlalchemy.api', 'Connection.update_node',
     ('self', 'node_id', 'values')),
    ('ironic.db.sqlalchemy.api', '_session_for_read', ()),
)

#: Modules that import Ironic's API modules, which copy the step interface
#: names when imported: they are checked (and imported) only after the
#: step tables were patched (:func:`check_ironic_shape` with late=True).
LATE_MODULES = ('ironic.conductor.deployments', 'ironic.common.rpc_service')

#: Objects patched or read: (module, attribute path, expected kind).
OBJECTS = (
    ('ironic.drivers.base', 'BareDriver.optional_interfaces', property),
    ('ironic.drivers.base', 'ALL_INTERFACES', set),
    ('ironic.drivers.hardware_type',
     'AbstractHardwareType.supported_deploy_interfaces', property),
    ('ironic.common.driver_factory', '_INTERFACE_LOADERS', dict),
    ('ironic.common.driver_factory', 'InterfaceFactory', type),
    ('ironic.common.driver_factory', 'InterfaceFactory._entrypoint_name',
     object),
    ('ironic.common.driver_factory',
     'InterfaceFactory._init_extension_manager', object),
    ('ironic.conductor.steps', 'CLEANING_INTERFACE_PRIORITY', dict),
    ('ironic.conductor.steps', 'DEPLOYING_INTERFACE_PRIORITY', dict),
    ('ironic.conductor.steps', 'SERVICING_INTERFACE_PRIORITY', dict),
    ('ironic.conductor.steps', 'VERIFYING_INTERFACE_PRIORITY', dict),
    ('ironic.conductor.rpcapi', 'ConductorAPI', type),
    ('ironic.objects.node', 'Node.fields', dict),
    ('ironic.common.policy', '_ENFORCER', object),
    ('ironic.db.sqlalchemy.models', 'NodeTag.tag', object),
    ('ironic.db.sqlalchemy.models', 'NodeTag.node_id', object),
)


#: The parameters of a decorator's pass-through wrapper that does not say
#: what it wraps (Ironic's RPC methods): the RPC client's signature, which
#: is checked, fixes their keyword arguments.
GENERIC = ('args', 'kwargs')


class IronicShapeError(RuntimeError):
    """An Ironic internal does not have the shape a patch expects."""


def _resolve(module_name, path):
    obj = importlib.import_module(module_name)
    for part in path.split('.'):
        obj = getattr(obj, part)
    return obj


def _parameters(func):
    return tuple(inspect.signature(func).parameters)


def check_signature(name, found, expected):
    """Refuse a function whose parameters are not the expected ones.

    :param name: the function's dotted name, for the message.
    :param found: its parameter names.
    :param expected: the parameter names the patch expects.
    :raises: IronicShapeError naming the function and the Ironic version.
    """
    if tuple(found) != tuple(expected) and tuple(found) != GENERIC:
        raise IronicShapeError(_message([
            _('%(name)s takes (%(found)s), expected (%(expected)s)')
            % {'name': name, 'found': ', '.join(found),
               'expected': ', '.join(expected)}]))


def _message(problems):
    return (_('ironic-keylime cannot add the attestation interface type to '
              'Ironic %(version)s: its internals differ from those of the '
              'Ironic versions it was tested with (%(tested)s): '
              '%(problems)s. Refusing to start: use a tested Ironic '
              'version, or an ironic-keylime release made for this one.')
            % {'version': version.ironic_version() or '(unknown version)',
               'tested': ', '.join('%s.x' % v for v
                                   in common.TESTED_IRONIC_VERSIONS),
               'problems': '; '.join(problems)})


def find_shape_problems(late=False):
    """Compare the Ironic internals with the shapes the patches expect.

    :param late: check the internals of :data:`LATE_MODULES` (True) or
        all the others (False).
    :returns: a list of problems, each naming an internal; empty when
        every internal has the expected shape.
    """
    problems = []
    for module_name, path, expected in CALLABLES:
        if (module_name in LATE_MODULES) != late:
            continue
        name = '%s.%s' % (module_name, path)
        try:
            found = _parameters(_resolve(module_name, path))
        except (ImportError, AttributeError) as e:
            problems.append(_('%(name)s is missing (%(err)s)')
                            % {'name': name, 'err': e})
            continue
        except (TypeError, ValueError) as e:
            problems.append(_('%(name)s is not a function (%(err)s)')
                            % {'name': name, 'err': e})
            continue
        if found != tuple(expected):
            problems.append(
                _('%(name)s takes (%(found)s), expected (%(expected)s)')
                % {'name': name, 'found': ', '.join(found),
                   'expected': ', '.join(expected)})
    for module_name, path, kind in OBJECTS:
        if (module_name in LATE_MODULES) != late:
            continue
        name = '%s.%s' % (module_name, path)
        try:
            obj = _resolve(module_name, path)
        except (ImportError, AttributeError) as e:
            problems.append(_('%(name)s is missing (%(err)s)')
                            % {'name': name, 'err': e})
            continue
        if not isinstance(obj, kind):
            problems.append(_('%(name)s is a %(found)s, expected a '
                              '%(kind)s')
                            % {'name': name, 'found': type(obj).__name__,
                               'kind': kind.__name__})
    return problems


def check_ironic_shape(late=False):
    """Refuse an Ironic whose patched internals changed shape.

    :param late: see :func:`find_shape_problems`.
    :raises: IronicShapeError naming every internal that differs and the
        Ironic version.
    """
    problems = find_shape_problems(late)
    if problems:
        raise IronicShapeError(_message(problems))
