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

"""Add the ``attestation`` interface type to a running stock Ironic.

:func:`register_attestation_interface_type` changes a few of Ironic's
module-level objects, in the process that calls it; every patch below says
what breaks when Ironic changes the object it patches, and
:mod:`.shape` checks, before anything is patched, that each of them still
has the shape the patch expects.
"""

import functools
import sys

from oslo_log import log as logging

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import api_guard
from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import ek_index
from ironic_keylime.ironic_integration import interfaces
from ironic_keylime.ironic_integration import names
from ironic_keylime.ironic_integration import shape
from ironic_keylime.ironic_integration import step_policy
from ironic_keylime.ironic_integration import steps_guard
from ironic_keylime.ironic_integration import version

LOG = logging.getLogger(__name__)

INTERFACE_TYPE = common.INTERFACE_TYPE

_registered = False


def register_attestation_interface_type():
    """Add the attestation interface type to this process's Ironic.

    Idempotent. Does nothing when Ironic has native support. Logs a
    warning on an Ironic version this package was not tested with, and
    refuses (before patching anything) an Ironic whose patched internals
    do not have the shape the patches expect.

    :returns: True when the type was added now or earlier, False when
        Ironic has native support and nothing was done.
    :raises: IronicShapeError naming the internals that differ and the
        Ironic version.
    """
    global _registered
    if _registered:
        return True

    if version.has_native_support():
        LOG.info('Ironic %s supports the attestation interface type '
                 'natively; not adding it.', version.ironic_version())
        # The index of bound TPMs is ironic-keylime's own, native or not.
        ek_index.install()
        return False
    version.check_ironic_version()
    # 0. Nothing is patched unless every internal has the expected shape.
    shape.check_ironic_shape()

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
        property(lambda self: interfaces.supported_attestation_interfaces()))

    # 4. driver_factory._INTERFACE_LOADERS: one InterfaceFactory per type,
    # built at import from ALL_INTERFACES. If Ironic changes it, enabled
    # interfaces are not loaded and nodes cannot get an attestation
    # interface (KeyError at the first driver build).
    driver_factory._INTERFACE_LOADERS[INTERFACE_TYPE] = type(
        'AttestationInterfaceFactory', (driver_factory.InterfaceFactory,),
        {'_entrypoint_name': common.NAMESPACE,
         '_enabled_driver_list_config_option':
         'enabled_%s_interfaces' % INTERFACE_TYPE,
         '_supported_driver_list_field':
         'supported_%s_interfaces' % INTERFACE_TYPE,
         '_logging_template':
         'Loaded the following %s interfaces: %%s' % INTERFACE_TYPE,
         '_init_extension_manager': classmethod(
             interfaces.init_extension_manager)})

    # 5. Steps are only collected from interfaces of the priority tables;
    # the API copies their keys into its step schemas when imported (so
    # this must run before ironic.api.controllers.v1 is imported). If
    # Ironic renames a table, attest steps are not run (KeyError when
    # sorting) and the API refuses {"interface": "attestation"} steps.
    for table in (steps.CLEANING_INTERFACE_PRIORITY,
                  steps.DEPLOYING_INTERFACE_PRIORITY,
                  steps.SERVICING_INTERFACE_PRIORITY,
                  steps.VERIFYING_INTERFACE_PRIORITY):
        table.setdefault(INTERFACE_TYPE, common.STEP_INTERFACE_PRIORITY)

    # 6. Node.get_interface: Ironic reads <type>_interface from
    # instance_info, then from the node's DB column. There is no column
    # for this type (that needs Ironic's core patch): read instance_info,
    # then driver_info, then the computed default; instance_info cannot
    # turn off an attesting interface the operator chose
    # (names.node_interface). If Ironic stops calling
    # get_interface when it builds a node's driver, every node gets the
    # default attestation interface.
    base_get_interface = node_obj.Node.get_interface

    @functools.wraps(base_get_interface)
    def get_interface(self, iface):
        if iface == INTERFACE_TYPE:
            return names.node_interface(self)
        return base_get_interface(self, iface)

    node_obj.Node.get_interface = get_interface

    # 0b. The internals of the modules that import Ironic's API, now
    # that the step tables have the attestation type.
    shape.check_ironic_shape(late=True)

    # 7. Not one of the six things the type needs to work. Ironic
    # validates only the power and deploy interfaces (and the steps)
    # before it accepts a deployment; a node whose attestation interface
    # cannot run (bad keylime_* driver_info) would start deploying and
    # fail in its attest step. Validate it there too, so that the
    # deployment is refused as for bad power or deploy info. The manager
    # calls deployments.start_deploy through the module: if Ironic
    # renames it, such a node is no longer refused, it fails in its
    # attest step. The same place refuses a deployment (or rebuild) that
    # would skip attestation: an instance_info name turning it off
    # (names) or requested steps disabling the attest step
    # (steps_guard). Without it, the lessee could deploy unattested.
    from ironic.conductor import deployments
    base_start_deploy = deployments.start_deploy

    @functools.wraps(base_start_deploy)
    def start_deploy(task, manager, configdrive=None, event='deploy',
                     deploy_steps=None):
        try:
            names.check_instance_info_name(task.node)
            task.driver.attestation.validate(task)
            steps_guard.check_attestation_steps_kept(task, deploy_steps)
        except exception.InvalidParameterValue as e:
            raise exception.InstanceDeployFailure(
                _('Failed to validate the attestation interface of node '
                  '%(node)s: %(err)s') % {'node': task.node.uuid, 'err': e},
                code=e.code)
        return base_start_deploy(task, manager, configdrive=configdrive,
                                 event=event, deploy_steps=deploy_steps)

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

    @functools.wraps(base_check)
    def check_and_update_node_interfaces(node, hw_type=None):
        if hw_type is None:
            hw_type = driver_factory.get_hardware_type(node.driver)
        # First: Ironic's own check fails on a name that is not a string.
        names.check_node_interface_names(node, hw_type)
        return base_check(node, hw_type=hw_type)

    driver_factory.check_and_update_node_interfaces = (
        check_and_update_node_interfaces)

    # 9b. ironic.conductor.manager must not be imported before Ironic has
    # parsed its configuration (Ironic's commands assert it): patch the
    # manager class when Ironic's RPC service creates the manager, before
    # it serves anything. If Ironic renames BaseRPCService or its
    # "manager" attribute, update_node is not patched (9.).
    from ironic.common import rpc_service
    base_service_init = rpc_service.BaseRPCService.__init__

    @functools.wraps(base_service_init)
    def service_init(self, host, manager_module, manager_class):
        base_service_init(self, host, manager_module, manager_class)
        names.check_names_on_update(type(self.manager))

    rpc_service.BaseRPCService.__init__ = service_init
    if 'ironic.conductor.manager' in sys.modules:
        names.check_names_on_update(
            sys.modules['ironic.conductor.manager'].ConductorManager)

    # 10. Not one of the six either. The API sends deploy, provide,
    # clean, service and undeploy requests to the conductor that owns the
    # node in Ironic's hash ring; a stock ironic-conductor would run them
    # without attestation. ConductorAPI (Ironic's RPC client) refuses them
    # for a node whose attestation interface (its own, else the default
    # its conductors registered) that conductor did not register, and
    # refuses node updates and deployments that turn attestation off
    # (api_guard). If Ironic stops calling these ConductorAPI methods,
    # the API no longer refuses them (the conductor's checks of 7. and 9.
    # remain).
    from ironic.conductor import rpcapi
    api_guard.guard_conductor_api(rpcapi.ConductorAPI)

    # 11. Not one of the six either. Ironic lets a user run any step that
    # has no policy rule, and lets the node's lessee run manual clean
    # steps: the steps that record what attestations trust get default
    # rules (step_policy) in Ironic's policy enforcer, and the API guard
    # of 10. checks them (also for runbooks Ironic does not check). If
    # Ironic stops creating its enforcer with init_enforcer and
    # list_policies, Ironic's own step check no longer sees the rules
    # (the API guard still applies them).
    step_policy.register_defaults()

    # 12. Not one of the six either. Ironic's DB API create_node and
    # update_node keep the node tag that indexes a node's EK pin
    # (ek_index), so that no attestation reads every node to find the
    # nodes bound to a TPM. If Ironic stops writing nodes through them,
    # pins saved since are not indexed (ironic-keylime-status upgrade
    # check finds them; ironic-keylime-tpm-index tags them).
    ek_index.install()

    _registered = True
    LOG.debug('Added the attestation interface type to Ironic %s',
              version.ironic_version())
    return True
