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

"""Guards of the API service on the requests it sends to a conductor.

A node is deployed, cleaned, serviced and undeployed (with automated
cleaning) by the conductor that owns it in Ironic's hash ring. A stock
``ironic-conductor`` in the same cluster does not know the attestation
interface type: it would deploy or clean an attested node without
attesting it. The API (``ironic-attest-api``) refuses to send such a
request to a conductor that did not register the node's attestation
interface in Ironic's conductor hardware interfaces table
(``ironic-attest-conductor`` registers its ``attestation`` interfaces
there, as for every other type, with its default flagged). A node that
selects no interface gets the default those conductors registered, not
the API process's own option. It also refuses, before any conductor sees
them, requests that would turn a node's attestation off (:mod:`.names`,
:mod:`.steps_guard`).

These guards wrap methods of Ironic's ``ConductorAPI`` (the RPC client)
of the process they run in.
"""

import functools

from oslo_config import cfg
from oslo_log import log as logging

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import names
from ironic_keylime.ironic_integration import step_policy
from ironic_keylime.ironic_integration import steps_guard

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

#: Provisioning actions (do_provisioning_action) that run attestation
#: steps: "provide" runs automated cleaning.
ATTESTED_ACTIONS = ('provide',)


def _conductor_interfaces(context, hostname):
    """What a conductor registered: {(hardware type, type, name): default}.

    Empty when the conductor is not registered.
    """
    from ironic.common import exception
    from ironic.db import api as dbapi
    from ironic import objects

    try:
        conductor = objects.Conductor.get_by_hostname(context, hostname,
                                                      online=None)
    except exception.ConductorNotFound:
        return {}
    return {(row.hardware_type, row.interface_type, row.interface_name):
            bool(row.default)
            for row in dbapi.get_instance()
            .list_conductor_hardware_interfaces(conductor.id)}


def conductors_default(context, node, action):
    """The default attestation interface of the conductors of a node.

    The conductors that may run the node are those of its hash ring: the
    active conductors of its conductor group that registered its hardware
    type. Each ``ironic-attest-conductor`` registers its attestation
    interfaces with the one it uses by default (the ``default`` flag of
    Ironic's conductor hardware interfaces table); a stock conductor
    registers none and says nothing.

    :param context: the request context.
    :param node: the node object.
    :param action: what is refused, for the message.
    :returns: the name the conductors registered as default, or None when
        none of them registered the attestation type.
    :raises: AttestationDefaultsDiffer (HTTP 409) when they registered
        different defaults: whether the node is attested would depend on
        which of them runs it.
    """
    from ironic.db import api as dbapi

    group = node.conductor_group or ''
    hosts = dbapi.get_instance().get_active_hardware_type_dict(
        use_groups=True).get('%s:%s' % (group, node.driver), ())
    defaults = {}
    for host in sorted(hosts):
        for (hw_type, iface_type, name), default in _conductor_interfaces(
                context, host).items():
            if (default and hw_type == node.driver
                    and iface_type == common.INTERFACE_TYPE):
                defaults[host] = name
    if len(set(defaults.values())) > 1:
        raise _conflict('AttestationDefaultsDiffer')(
            node=node.uuid, action=action, group=group, driver=node.driver,
            defaults=', '.join('%s on %s' % (name, host)
                               for host, name in sorted(defaults.items())))
    return next(iter(defaults.values()), None)


def effective_interface(context, node, action):
    """The attestation interface a conductor would give a node.

    As :func:`.names.node_interface` on a conductor, except that the
    default is the one the node's conductors registered
    (:func:`conductors_default`), not this API process's
    ``[DEFAULT]default_attestation_interface``, which is used only when
    no conductor of the node registered the attestation type.

    :param context: the request context.
    :param node: a node object (as the API process has it: no computed
        default on it).
    :param action: what is refused, for messages.
    :returns: a name, or None.
    :raises: AttestationDefaultsDiffer (see :func:`conductors_default`).
    """
    requested, operator = names.info_names(node)
    if operator is None:
        operator = conductors_default(context, node, action)
    if operator is None:
        operator = CONF.default_attestation_interface
    if requested is None or common.requires_attestation(operator):
        return operator
    return requested


def check_owner_attests(rpcapi, context, node, topic, action):
    """Refuse a request to a conductor that cannot attest the node.

    :param rpcapi: the ConductorAPI instance.
    :param context: the request context.
    :param node: the node object.
    :param topic: the RPC topic of the request (the owning conductor), or
        None to ask the hash ring.
    :param action: what is refused, for the message.
    :raises: AttestationConductorMissing (HTTP 409) when the node selects
        an attesting interface that its conductor did not register for
        the node's hardware type.
    :raises: AttestationDefaultsDiffer (HTTP 409) when the node selects
        none and its conductors have different defaults.
    """
    name = effective_interface(context, node, action)
    if not common.requires_attestation(name):
        return
    host = (topic[len(rpcapi.topic) + 1:] if topic
            else rpcapi.get_conductor_for(node))
    wanted = (node.driver, common.INTERFACE_TYPE, name)
    if wanted in _conductor_interfaces(context, host):
        return
    raise _conflict('AttestationConductorMissing')(
        node=node.uuid, action=action, host=host, iface=name,
        driver=node.driver)


#: The messages of the HTTP 409 answers of the guards, by class name.
_CONFLICTS = {
    'AttestationConductorMissing': _(
        'Refusing to %(action)s node %(node)s: the conductor that manages '
        'it, %(host)s, has not registered the attestation interface '
        '%(iface)s for hardware type %(driver)s, and would %(action)s it '
        'without attestation (a stock ironic-conductor ignores '
        'attestation). Run every conductor of the node\'s conductor group '
        'with ironic-attest-conductor and [DEFAULT]enabled_attestation_'
        'interfaces including %(iface)s.'),
    'AttestationDefaultsDiffer': _(
        'Refusing to %(action)s node %(node)s: it selects no attestation '
        'interface (driver_info/attestation_interface), and the conductors '
        'that may manage it (conductor group "%(group)s", hardware type '
        '%(driver)s) registered different defaults: %(defaults)s. Whether '
        'it is attested would depend on which of them runs it. Set the '
        'same [DEFAULT]default_attestation_interface on every conductor '
        'of the group, or select the node\'s interface with driver_info/'
        'attestation_interface.'),
}
_conflict_classes = {}


def _conflict(name):
    """An exception class of the guards (HTTP 409), made on first use.

    Ironic's exception module must not be imported before the
    registration has run.
    """
    if name not in _conflict_classes:
        from ironic.common import exception

        _conflict_classes[name] = type(name, (exception.Conflict,),
                                       {'_msg_fmt': _CONFLICTS[name]})
    return _conflict_classes[name]


def check_deploy_request(context, node, deploy_steps, action='deploy'):
    """Refuse a deployment request that turns the node's attestation off.

    Checks what the API can see without the node's driver: the
    ``instance_info`` name and the priority-0 attestation steps of the
    request and of the deploy templates of the instance traits. The
    conductor checks the whole merged step list
    (:func:`.steps_guard.check_attestation_steps_kept`).

    :param action: ``deploy`` or ``rebuild``, for messages.
    :raises: InvalidParameterValue naming the field or the step.
    :raises: AttestationDefaultsDiffer (see :func:`conductors_default`).
    """
    from ironic.common import exception
    from ironic import objects

    names.check_instance_info_name(node)
    if (CONF.keylime.allow_user_step_override
            or not common.requires_attestation(
                effective_interface(context, node, action))):
        return
    disabled = steps_guard.disabling_steps(deploy_steps)
    why = _('the deploy_steps of the request set its priority to 0')
    if not disabled:
        # As in Ironic's merge, a step of the request wins over the
        # template's step of the same name.
        requested = {(s.get('interface'), s.get('step'))
                     for s in deploy_steps or ()}
        traits = (node.instance_info or {}).get('traits') or []
        for template in (objects.DeployTemplate.list_by_names(
                context, traits) if traits else []):
            disabled = [key for key in
                        steps_guard.disabling_steps(template.steps)
                        if key not in requested]
            if disabled:
                why = (_('deploy template %s (matching the instance '
                         'traits) sets its priority to 0') % template.name)
                break
    if disabled:
        raise exception.InvalidParameterValue(
            _('The deploy step %(step)s of node %(node)s cannot be '
              'skipped: %(why)s. Its attestation interface must attest it '
              'before deployment; only an operator can allow skipping '
              'it, with [keylime]allow_user_step_override = True.')
            % {'step': '%s.%s' % disabled[0], 'node': node.uuid,
               'why': why})


def _node(context, node_id):
    from ironic import objects
    return objects.Node.get(context, node_id)


def guard_conductor_api(api_class):
    """Add the guards to Ironic's ConductorAPI class. Idempotent.

    :param api_class: ``ironic.conductor.rpcapi.ConductorAPI``.
    """
    if getattr(api_class.do_node_deploy, '_ironic_keylime', False):
        return
    base = {name: getattr(api_class, name) for name in (
        'do_node_deploy', 'do_provisioning_action', 'do_node_clean',
        'do_node_service', 'do_node_tear_down', 'update_node')}

    @functools.wraps(base['do_node_deploy'])
    def do_node_deploy(self, context, node_id, rebuild, configdrive,
                       topic=None, deploy_steps=None):
        node = _node(context, node_id)
        action = 'rebuild' if rebuild else 'deploy'
        step_policy.check_steps(context, node, deploy_steps)
        check_deploy_request(context, node, deploy_steps, action)
        check_owner_attests(self, context, node, topic, action)
        return base['do_node_deploy'](self, context, node_id, rebuild,
                                      configdrive, topic=topic,
                                      deploy_steps=deploy_steps)

    @functools.wraps(base['do_provisioning_action'])
    def do_provisioning_action(self, context, node_id, action, topic=None):
        if action in ATTESTED_ACTIONS:
            check_owner_attests(self, context, _node(context, node_id),
                                topic, action)
        return base['do_provisioning_action'](self, context, node_id,
                                              action, topic=topic)

    @functools.wraps(base['do_node_clean'])
    def do_node_clean(self, context, node_id, clean_steps,
                      disable_ramdisk=None, topic=None):
        node = _node(context, node_id)
        step_policy.check_steps(context, node, clean_steps)
        check_owner_attests(self, context, node, topic, 'clean')
        return base['do_node_clean'](self, context, node_id, clean_steps,
                                     disable_ramdisk=disable_ramdisk,
                                     topic=topic)

    @functools.wraps(base['do_node_service'])
    def do_node_service(self, context, node_id, service_steps,
                        disable_ramdisk=None, topic=None):
        node = _node(context, node_id)
        step_policy.check_steps(context, node, service_steps)
        check_owner_attests(self, context, node, topic, 'service')
        return base['do_node_service'](self, context, node_id,
                                       service_steps,
                                       disable_ramdisk=disable_ramdisk,
                                       topic=topic)

    @functools.wraps(base['do_node_tear_down'])
    def do_node_tear_down(self, context, node_id, topic=None):
        # Tearing down runs automated cleaning, and its attest step,
        # before the node is available to the next tenant.
        check_owner_attests(self, context, _node(context, node_id), topic,
                            'undeploy')
        return base['do_node_tear_down'](self, context, node_id,
                                         topic=topic)

    @functools.wraps(base['update_node'])
    def update_node(self, context, node_obj, topic=None,
                    reset_interfaces=False):
        names.check_update(context, node_obj)
        return base['update_node'](self, context, node_obj, topic=topic,
                                   reset_interfaces=reset_interfaces)

    for func in (do_node_deploy, do_provisioning_action, do_node_clean,
                 do_node_service, do_node_tear_down, update_node):
        func._ironic_keylime = True
        setattr(api_class, func.__name__, func)
