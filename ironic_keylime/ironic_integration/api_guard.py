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

A node is deployed, cleaned and serviced by the conductor that owns it in
Ironic's hash ring. A stock ``ironic-conductor`` in the same cluster does
not know the attestation interface type: it would deploy or clean an
attested node without attesting it. The API (``ironic-attest-api``)
refuses to send such a request to a conductor that did not register the
node's attestation interface in Ironic's conductor hardware interfaces
table (``ironic-attest-conductor`` registers its ``attestation``
interfaces there, as for every other type). It also refuses, before any
conductor sees them, requests that would turn a node's attestation off
(:mod:`.names`, :mod:`.steps_guard`).

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


def effective_interface(node):
    """The attestation interface a node's deployment would use.

    :param node: a node object (as the API process has it: no computed
        default on it).
    :returns: a name, or None.
    """
    return names.node_interface(node) or names.operator_interface(node)


def _conductor_interfaces(context, hostname):
    from ironic.common import exception
    from ironic.db import api as dbapi
    from ironic import objects

    try:
        conductor = objects.Conductor.get_by_hostname(context, hostname,
                                                      online=None)
    except exception.ConductorNotFound:
        return set()
    return {(row.hardware_type, row.interface_type, row.interface_name)
            for row in dbapi.get_instance()
            .list_conductor_hardware_interfaces(conductor.id)}


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
    """
    name = effective_interface(node)
    if not common.requires_attestation(name):
        return
    host = (topic[len(rpcapi.topic) + 1:] if topic
            else rpcapi.get_conductor_for(node))
    wanted = (node.driver, common.INTERFACE_TYPE, name)
    if wanted in _conductor_interfaces(context, host):
        return
    raise attestation_conductor_missing()(
        node=node.uuid, action=action, host=host, iface=name,
        driver=node.driver)


_missing_class = None


def attestation_conductor_missing():
    """The exception class of :func:`check_owner_attests` (HTTP 409).

    Made on first use: Ironic's exception module must not be imported
    before the registration has run.
    """
    global _missing_class
    if _missing_class is None:
        from ironic.common import exception

        class AttestationConductorMissing(exception.Conflict):
            _msg_fmt = _(
                'Refusing to %(action)s node %(node)s: the conductor that '
                'manages it, %(host)s, has not registered the attestation '
                'interface %(iface)s for hardware type %(driver)s, and '
                'would %(action)s it without attestation (a stock '
                'ironic-conductor ignores attestation). Run every '
                'conductor of the node\'s conductor group with '
                'ironic-attest-conductor and [DEFAULT]enabled_attestation_'
                'interfaces including %(iface)s.')

        _missing_class = AttestationConductorMissing
    return _missing_class


def check_deploy_request(context, node, deploy_steps):
    """Refuse a deployment request that turns the node's attestation off.

    Checks what the API can see without the node's driver: the
    ``instance_info`` name and the priority-0 attestation steps of the
    request and of the deploy templates of the instance traits. The
    conductor checks the whole merged step list
    (:func:`.steps_guard.check_attestation_steps_kept`).

    :raises: InvalidParameterValue naming the field or the step.
    """
    from ironic.common import exception
    from ironic import objects

    names.check_instance_info_name(node)
    if (CONF.keylime.allow_user_step_override
            or not common.requires_attestation(effective_interface(node))):
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
        'do_node_service', 'update_node')}

    @functools.wraps(base['do_node_deploy'])
    def do_node_deploy(self, context, node_id, rebuild, configdrive,
                       topic=None, deploy_steps=None):
        node = _node(context, node_id)
        step_policy.check_steps(context, node, deploy_steps)
        check_deploy_request(context, node, deploy_steps)
        check_owner_attests(self, context, node, topic,
                            'rebuild' if rebuild else 'deploy')
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

    @functools.wraps(base['update_node'])
    def update_node(self, context, node_obj, topic=None,
                    reset_interfaces=False):
        names.check_update(context, node_obj)
        return base['update_node'](self, context, node_obj, topic=topic,
                                   reset_interfaces=reset_interfaces)

    for func in (do_node_deploy, do_provisioning_action, do_node_clean,
                 do_node_service, update_node):
        func._ironic_keylime = True
        setattr(api_class, func.__name__, func)
