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

"""A node's attestation interface name, and who may choose it.

Ironic 39 has no node column for the attestation interface: the operator
selects it in ``driver_info/attestation_interface`` (or with
``[DEFAULT]default_attestation_interface``), and one deployment may select
it in ``instance_info/attestation_interface``. The lessee of a node can
write ``instance_info``: it may turn attestation on for one deployment,
never off on a node whose operator selected an attesting interface.
"""

import functools
import inspect

from oslo_config import cfg
from oslo_log import log as logging

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import shape

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

FIELD = common.FIELD


def info_names(node):
    """A node's attestation interface names (None where not set).

    :returns: (instance_info's, driver_info's).
    """
    # A node object being created may not have the fields set, and
    # reading an unset field raises.
    return tuple((getattr(node, field) or {}).get(FIELD)
                 if field in node else None
                 for field in ('instance_info', 'driver_info'))


def operator_interface(node):
    """The attestation interface name the operator chose for a node.

    ``driver_info/attestation_interface``, else the default Ironic
    computed for the node (set on the node object by
    ``driver_factory.check_and_update_node_interfaces``, which Ironic runs
    before every driver build), else ``[DEFAULT]
    default_attestation_interface``.

    :returns: a name, or None when nothing selects one.
    """
    name = info_names(node)[1]
    if name is None:
        name = getattr(node, FIELD, None)
    if name is None:
        name = CONF.default_attestation_interface
    return name


def node_interface(node):
    """The attestation interface name of a node (``get_interface``).

    ``instance_info`` (one deployment) wins over the operator's choice
    only when it keeps the node attested: on a node the operator attests,
    a different name in ``instance_info`` is ignored (and refused by
    :func:`check_instance_info_name` on update and deploy).

    :returns: a name, or None.
    """
    requested, chosen = info_names(node)
    if chosen is None:
        chosen = getattr(node, FIELD, None)
    if requested is None or requested == chosen:
        return chosen
    operator = operator_interface(node)
    if common.requires_attestation(operator) and requested != operator:
        LOG.debug('Node %(node)s: ignoring instance_info/%(field)s=%(req)s, '
                  'the operator selected %(op)s.',
                  {'node': node.uuid, 'field': FIELD, 'req': requested,
                   'op': operator})
        return operator
    return requested


def check_instance_info_name(node):
    """Refuse an ``instance_info`` name that turns attestation off.

    :param node: a node object.
    :raises: InvalidParameterValue when ``instance_info/
        attestation_interface`` differs from the attesting interface the
        operator selected.
    """
    from ironic.common import exception

    requested = info_names(node)[0]
    operator = operator_interface(node)
    if (requested is None or requested == operator
            or not common.requires_attestation(operator)):
        return
    raise exception.InvalidParameterValue(
        _('instance_info/%(field)s=%(req)s would replace the attestation '
          'interface %(op)s that the operator selected for node %(node)s '
          '(driver_info/%(field)s or [DEFAULT]default_attestation_'
          'interface). instance_info may select an attestation interface '
          'for one deployment, not turn attestation off: remove '
          'instance_info/%(field)s.')
        % {'field': FIELD, 'req': requested, 'op': operator,
           'node': node.uuid})


def check_node_interface_names(node, hw_type):
    """Refuse unknown or disabled attestation interface names of a node.

    Checks ``instance_info/attestation_interface`` and
    ``driver_info/attestation_interface`` as Ironic checks the
    ``<type>_interface`` fields of the other types.

    :param node: a node object.
    :param hw_type: the node's hardware type object.
    :raises: InterfaceNotFoundInEntrypoint for an unknown, disabled or
        non-string name, with Ironic's message.
    :raises: IncompatibleInterface if the hardware type does not support
        the interface.
    """
    from ironic.common import driver_factory
    from ironic.common import exception

    for name in info_names(node):
        if name is None:
            continue
        if not isinstance(name, str):
            factory = driver_factory._INTERFACE_LOADERS[
                common.INTERFACE_TYPE]()
            raise exception.InterfaceNotFoundInEntrypoint(
                iface=name, entrypoint=factory._entrypoint_name,
                valid=factory.names)
        driver_factory.get_interface(hw_type, common.INTERFACE_TYPE, name)


#: The update_node of Ironic's conductor manager that check_names_on_update
#: wraps.
MANAGER_UPDATE_NODE = ('self', 'context', 'node_obj', 'reset_interfaces')


def check_names_on_update(manager_class):
    """Make a conductor manager refuse bad names in node updates.

    Wraps ``manager_class.update_node``: when an update changes
    ``driver_info/attestation_interface`` or
    ``instance_info/attestation_interface`` (and not the driver, which
    Ironic checks itself), the new names are checked with
    :func:`check_node_interface_names` before Ironic's own update runs,
    and a new ``instance_info`` name with :func:`check_instance_info_name`.
    Idempotent.

    :param manager_class: the conductor manager class (Ironic's
        ``ConductorManager``); classes without ``update_node`` are left
        alone.
    :raises: IronicShapeError when its ``update_node`` does not take the
        arguments this wrapper passes on.
    """
    base_update_node = getattr(manager_class, 'update_node', None)
    if (base_update_node is None
            or getattr(base_update_node, '_ironic_keylime', False)):
        return
    shape.check_signature(
        '%s.%s.update_node' % (manager_class.__module__,
                               manager_class.__name__),
        list(inspect.signature(base_update_node).parameters),
        MANAGER_UPDATE_NODE)

    import oslo_messaging as messaging

    from ironic.common import driver_factory
    from ironic.common import exception

    # The expected exceptions of Ironic's update_node: a refused name is
    # answered to the API, not logged as a conductor error.
    @messaging.expected_exceptions(exception.InvalidParameterValue,
                                   exception.DriverNotFound,
                                   exception.NodeNotFound)
    @functools.wraps(base_update_node)
    def update_node(self, context, node_obj, reset_interfaces=False):
        check_update(context, node_obj, driver_factory.get_hardware_type)
        return base_update_node(self, context, node_obj,
                                reset_interfaces=reset_interfaces)

    update_node._ironic_keylime = True
    manager_class.update_node = update_node


def check_update(context, node_obj, get_hardware_type=None):
    """Check the attestation names a node update changes.

    :param context: a request context.
    :param node_obj: the changed node object (not saved yet).
    :param get_hardware_type: a function giving the hardware type object of
        a driver name; when None, only the instance_info rule is checked
        (the API process has no hardware types).
    :raises: InterfaceNotFoundInEntrypoint, IncompatibleInterface (names),
        InvalidParameterValue (instance_info turning attestation off).
    """
    delta = node_obj.obj_what_changed()
    if 'driver' in delta or not delta & {'driver_info', 'instance_info'}:
        return
    stored = type(node_obj).get_by_uuid(context, node_obj.uuid)
    old, new = info_names(stored), info_names(node_obj)
    if old == new:
        return
    if get_hardware_type is not None:
        check_node_interface_names(node_obj,
                                   get_hardware_type(node_obj.driver))
    # Only a changed instance_info name is refused here: an operator
    # selecting keylime on a node whose instance_info says otherwise is
    # not blocked (the deployment is refused until instance_info is
    # fixed).
    if old[0] != new[0]:
        check_instance_info_name(node_obj)
