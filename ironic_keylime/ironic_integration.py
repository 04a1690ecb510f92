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

"""Teach a stock Ironic the ``attestation`` interface type.

Ironic fixes its interface types in its own code: no entry point adds one.
:func:`register_attestation_interface_type` adds the ``attestation`` type
to a running, unmodified Ironic, in the process that calls it, by changing
a few of Ironic's module-level objects. It is the only place of
ironic-keylime that touches Ironic's internals; every patch below says
what breaks when Ironic changes the object it patches.

It must run **before** Ironic parses its configuration (the options must
be registered) and **before** Ironic's API modules are imported (they copy
the step interface names when imported). It must not import the modules of
the ``keylime`` interface: they read ``[keylime]`` options when imported.

When Ironic already knows the ``attestation`` type (native support), it
does nothing.
"""

from importlib import metadata
import sys

from oslo_log import log as logging

from ironic_keylime.common.i18n import _

LOG = logging.getLogger(__name__)

#: The interface type that ironic-keylime brings.
INTERFACE_TYPE = 'attestation'
#: The node field (``driver_info`` or ``instance_info`` key) selecting it.
FIELD = 'attestation_interface'
#: Entry point namespace of the attestation interfaces.
NAMESPACE = 'ironic.hardware.interfaces.attestation'
#: Ironic releases (major versions) this module was tested with.
TESTED_IRONIC_VERSIONS = ('39',)

#: Tie-break of steps of equal priority (a higher value runs first). The
#: attestation steps go before every stock interface's steps of the same
#: priority: the node is attested before anything else touches it.
STEP_INTERFACE_PRIORITY = 20

_registered = False
_supported_classes = None


def ironic_version():
    """The installed Ironic's version, or None when it is unknown."""
    try:
        return metadata.version('ironic')
    except metadata.PackageNotFoundError:
        return None


def check_ironic_version(version=None):
    """Warn when the installed Ironic was not tested with this package.

    :param version: the version to check; by default the installed one.
    :returns: True when the version is one of the tested ones.
    """
    version = version if version is not None else ironic_version()
    major = (version or '').split('.')[0]
    if major in TESTED_IRONIC_VERSIONS:
        return True
    LOG.warning('ironic-keylime adds the attestation interface type to '
                'Ironic by changing Ironic internals, and was tested with '
                'Ironic %(tested)s only; this is Ironic %(version)s. If '
                'Ironic services fail to start, or attestation steps do '
                'not run, use a tested Ironic version.',
                {'tested': ', '.join('%s.x' % v
                                     for v in TESTED_IRONIC_VERSIONS),
                 'version': version or 'of unknown version'})
    return False


def has_native_support():
    """Whether Ironic itself knows the attestation interface type.

    Native support means a node column ``attestation_interface`` (the core
    patch of the Ironic spec), which brings everything else with it.
    """
    from ironic.drivers import base as driver_base
    from ironic.objects import node as node_obj
    return (FIELD in node_obj.Node.fields
            and INTERFACE_TYPE in driver_base.ALL_INTERFACES)


def supported_attestation_interfaces():
    """Classes of every installed attestation interface.

    ``no-attestation`` comes first: when ``[DEFAULT]
    default_attestation_interface`` is not set, Ironic takes the first
    supported interface that is enabled, and a node must not be attested
    unless asked to. Loaded once, on first use (after the configuration
    was parsed: the keylime interface reads options when imported).

    :returns: a list of interface classes.
    """
    global _supported_classes
    if _supported_classes is None:
        import stevedore

        from ironic_keylime.drivers.modules import noop

        def _failed(manager, entrypoint, exc):
            LOG.warning('Attestation interface %(name)s could not be '
                        'loaded: %(err)s',
                        {'name': entrypoint.name, 'err': exc})

        manager = stevedore.ExtensionManager(
            NAMESPACE, invoke_on_load=False,
            on_load_failure_callback=_failed)
        others = [ext.plugin for ext in sorted(manager,
                                               key=lambda e: e.name)
                  if ext.plugin is not noop.NoAttestation]
        _supported_classes = [noop.NoAttestation] + others
    return list(_supported_classes)


def _node_interface(node):
    """The attestation interface name of a node.

    ``instance_info`` (one deployment) wins over ``driver_info`` (the
    node), which wins over the default that Ironic computed for the node.
    """
    for info in (node.instance_info, node.driver_info):
        name = (info or {}).get(FIELD)
        if name is not None:
            return name
    # Set by driver_factory.check_and_update_node_interfaces, which Ironic
    # runs before every driver build, as it does for other types.
    return getattr(node, FIELD, None)


def _info_names(node):
    """A node's attestation interface names (None where not set).

    :returns: (instance_info's, driver_info's).
    """
    # A node object being created may not have the fields set, and
    # reading an unset field raises.
    return tuple((getattr(node, field) or {}).get(FIELD)
                 if field in node else None
                 for field in ('instance_info', 'driver_info'))


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

    for name in _info_names(node):
        if name is None:
            continue
        if not isinstance(name, str):
            factory = driver_factory._INTERFACE_LOADERS[INTERFACE_TYPE]()
            raise exception.InterfaceNotFoundInEntrypoint(
                iface=name, entrypoint=factory._entrypoint_name,
                valid=factory.names)
        driver_factory.get_interface(hw_type, INTERFACE_TYPE, name)


def check_names_on_update(manager_class):
    """Make a conductor manager refuse bad names in node updates.

    Wraps ``manager_class.update_node``: when an update changes
    ``driver_info/attestation_interface`` or
    ``instance_info/attestation_interface`` (and not the driver, which
    Ironic checks itself), the new names are checked with
    :func:`check_node_interface_names` before Ironic's own update runs.
    Idempotent.

    :param manager_class: the conductor manager class (Ironic's
        ``ConductorManager``); classes without ``update_node`` are left
        alone.
    """
    base_update_node = getattr(manager_class, 'update_node', None)
    if (base_update_node is None
            or getattr(base_update_node, '_ironic_keylime', False)):
        return

    import oslo_messaging as messaging

    from ironic.common import driver_factory
    from ironic.common import exception

    # The expected exceptions of Ironic's update_node: a refused name is
    # answered to the API, not logged as a conductor error.
    @messaging.expected_exceptions(exception.InvalidParameterValue,
                                   exception.DriverNotFound,
                                   exception.NodeNotFound)
    def update_node(self, context, node_obj, reset_interfaces=False):
        delta = node_obj.obj_what_changed()
        if 'driver' not in delta and delta & {'driver_info',
                                              'instance_info'}:
            stored = type(node_obj).get_by_uuid(context, node_obj.uuid)
            if _info_names(stored) != _info_names(node_obj):
                check_node_interface_names(
                    node_obj,
                    driver_factory.get_hardware_type(node_obj.driver))
        return base_update_node(self, context, node_obj,
                                reset_interfaces=reset_interfaces)

    update_node.__doc__ = base_update_node.__doc__
    update_node._ironic_keylime = True
    manager_class.update_node = update_node


def _init_extension_manager(cls):
    # Runs once per process, when the conductor loads the interfaces: by
    # then Ironic has set up logging, so the warning reaches its log too.
    check_ironic_version()
    super(cls, cls)._init_extension_manager()


def register_attestation_interface_type():
    """Add the attestation interface type to this process's Ironic.

    Idempotent. Does nothing when Ironic has native support. Logs a
    warning on an Ironic version this package was not tested with.

    :returns: True when the type was added now or earlier, False when
        Ironic has native support and nothing was done.
    """
    global _registered
    if _registered:
        return True

    if has_native_support():
        LOG.info('Ironic %s supports the attestation interface type '
                 'natively; not adding it.', ironic_version())
        return False
    check_ironic_version()

    # 1. Options: [DEFAULT]enabled_attestation_interfaces and
    # default_attestation_interface (with [keylime]), registered on the
    # global CONF when imported, before Ironic parses it. If Ironic stops
    # reading enabled_<type>_interfaces, the factory (4.) loads nothing.
    from ironic_keylime import conf  # noqa: F401

    from ironic.common import driver_factory
    from ironic.common import exception
    from ironic.conductor import steps
    from ironic.drivers import base as driver_base
    from ironic.drivers import hardware_type
    from ironic.objects import node as node_obj

    # 2a. BareDriver: an interface type is an attribute of the composed
    # driver and a name in core_interfaces/optional_interfaces (properties
    # returning new lists). Optional: the type may be a no-op. If Ironic
    # renames these, attestation is not validated by "node validate" and
    # its properties are not listed.
    base_optional = driver_base.BareDriver.optional_interfaces
    driver_base.BareDriver.optional_interfaces = property(
        lambda self: base_optional.fget(self) + [INTERFACE_TYPE])
    driver_base.BareDriver.attestation = None

    # 2b. ALL_INTERFACES: a set built from BareDriver at import, imported
    # by reference by the conductor, the driver API and the hardware
    # types; changed in place. If Ironic copies it elsewhere, those copies miss
    # the type (the driver API would not list the attestation interfaces).
    driver_base.ALL_INTERFACES.add(INTERFACE_TYPE)

    # 3. Hardware types answer supported_<type>_interfaces for every type;
    # every hardware type supports every installed attestation interface.
    # If Ironic stops using this attribute name, the conductor fails at
    # start with an AttributeError.
    hardware_type.AbstractHardwareType.supported_attestation_interfaces = (
        property(lambda self: supported_attestation_interfaces()))

    # 4. driver_factory._INTERFACE_LOADERS: one InterfaceFactory per type,
    # built at import from ALL_INTERFACES. If Ironic changes it, enabled
    # interfaces are not loaded and nodes cannot get an attestation
    # interface (KeyError at the first driver build).
    driver_factory._INTERFACE_LOADERS[INTERFACE_TYPE] = type(
        'AttestationInterfaceFactory', (driver_factory.InterfaceFactory,),
        {'_entrypoint_name': NAMESPACE,
         '_enabled_driver_list_config_option':
         'enabled_%s_interfaces' % INTERFACE_TYPE,
         '_supported_driver_list_field':
         'supported_%s_interfaces' % INTERFACE_TYPE,
         '_logging_template':
         'Loaded the following %s interfaces: %%s' % INTERFACE_TYPE,
         '_init_extension_manager': classmethod(_init_extension_manager)})

    # 5. Steps are only collected from interfaces of the priority tables;
    # the API copies their keys into its step schemas when imported (so
    # this must run before ironic.api.controllers.v1 is imported). If
    # Ironic renames a table, attest steps are not run (KeyError when
    # sorting) and the API refuses {"interface": "attestation"} steps.
    for table in (steps.CLEANING_INTERFACE_PRIORITY,
                  steps.DEPLOYING_INTERFACE_PRIORITY,
                  steps.SERVICING_INTERFACE_PRIORITY,
                  steps.VERIFYING_INTERFACE_PRIORITY):
        table.setdefault(INTERFACE_TYPE, STEP_INTERFACE_PRIORITY)

    # 6. Node.get_interface: Ironic reads <type>_interface from
    # instance_info, then from the node's DB column. There is no column
    # for this type (that needs Ironic's core patch): read instance_info,
    # then driver_info, then the computed default. If Ironic stops calling
    # get_interface when it builds a node's driver, every node gets the
    # default attestation interface.
    base_get_interface = node_obj.Node.get_interface

    def get_interface(self, iface):
        if iface == INTERFACE_TYPE:
            return _node_interface(self)
        return base_get_interface(self, iface)

    get_interface.__doc__ = base_get_interface.__doc__
    node_obj.Node.get_interface = get_interface

    # 7. Not one of the six things the type needs to work. Ironic
    # validates only the power and deploy interfaces (and the steps)
    # before it accepts a deployment; a node whose attestation interface
    # cannot run (bad keylime_* driver_info) would start deploying and
    # fail in its attest step. Validate it there too, so that the
    # deployment is refused as for bad power or deploy info. The manager
    # calls deployments.start_deploy through the module: if Ironic
    # renames it, such a node is no longer refused, it fails in its
    # attest step.
    from ironic.conductor import deployments
    base_start_deploy = deployments.start_deploy

    def start_deploy(task, *args, **kwargs):
        try:
            task.driver.attestation.validate(task)
        except exception.InvalidParameterValue as e:
            raise exception.InstanceDeployFailure(
                _('Failed to validate the attestation interface of node '
                  '%(node)s: %(err)s') % {'node': task.node.uuid, 'err': e},
                code=e.code)
        return base_start_deploy(task, *args, **kwargs)

    start_deploy.__doc__ = base_start_deploy.__doc__
    deployments.start_deploy = start_deploy

    # 8. Not one of the six either. The response schemas of the driver
    # API list the interface fields of each API version and refuse
    # others; without this, every "driver show" logs a schema
    # validation error (with [api]response_validation = warn) or fails
    # (= error). If Ironic renames these schemas, only that log appears.
    from ironic.api.schemas.v1 import driver as driver_schema
    for name in dir(driver_schema):
        schema = getattr(driver_schema, name)
        if (name.startswith('_driver_response_body_v')
                and isinstance(schema, dict)
                and 'default_deploy_interface' in schema.get('properties',
                                                             {})):
            schema['properties'].setdefault(
                'default_%s_interface' % INTERFACE_TYPE,
                {'type': ['string', 'null']})
            schema['properties'].setdefault(
                'enabled_%s_interfaces' % INTERFACE_TYPE,
                {'type': 'array', 'items': {'type': 'string'}})

    # 9. Not one of the six either. Ironic checks a node's interface
    # names when a node is created or its interfaces or driver change
    # (driver_factory.check_and_update_node_interfaces, called by the
    # conductor's create_node and update_node), and refuses an unknown or
    # disabled one with InterfaceNotFoundInEntrypoint. It does not know
    # driver_info/attestation_interface: without this, a bad name is
    # stored and only refused when the node's driver is built (validate,
    # deploy, clean). Check it there (9a), and in update_node when
    # driver_info or instance_info changes the name (9b). If Ironic
    # renames the function or the manager method, a bad name is stored
    # again and refused later, as before.
    base_check = driver_factory.check_and_update_node_interfaces

    def check_and_update_node_interfaces(node, hw_type=None):
        if hw_type is None:
            hw_type = driver_factory.get_hardware_type(node.driver)
        # First: Ironic's own check fails on a name that is not a string.
        check_node_interface_names(node, hw_type)
        return base_check(node, hw_type=hw_type)

    check_and_update_node_interfaces.__doc__ = base_check.__doc__
    driver_factory.check_and_update_node_interfaces = (
        check_and_update_node_interfaces)

    # 9b. ironic.conductor.manager must not be imported before Ironic has
    # parsed its configuration (Ironic's commands assert it): patch the
    # manager class when Ironic's RPC service creates the manager, before
    # it serves anything. If Ironic renames BaseRPCService or its
    # "manager" attribute, update_node is not patched (9.).
    from ironic.common import rpc_service
    base_service_init = rpc_service.BaseRPCService.__init__

    def service_init(self, *args, **kwargs):
        base_service_init(self, *args, **kwargs)
        check_names_on_update(type(self.manager))

    service_init.__doc__ = base_service_init.__doc__
    rpc_service.BaseRPCService.__init__ = service_init
    if 'ironic.conductor.manager' in sys.modules:
        check_names_on_update(
            sys.modules['ironic.conductor.manager'].ConductorManager)

    _registered = True
    LOG.debug('Added the attestation interface type to Ironic %s',
              ironic_version())
    return True
