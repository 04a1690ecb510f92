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

"""A deployment of an attested node keeps its attestation steps.

Ironic merges the deploy steps of a request (``deploy_steps``) and of the
deploy templates matching the node's instance traits with the steps of the
node's driver; a requested step with priority 0 disables the driver's step
of the same name. The lessee of a node chooses both (the request, and the
traits in ``instance_info``), so it could deploy an attested node without
its ``attest`` step. Unless ``[keylime]allow_user_step_override`` is set,
such a deployment is refused.
"""

import copy

from oslo_config import cfg

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import common

CONF = cfg.CONF


def _key(step):
    return step.get('interface'), step.get('step')


def _name(key):
    return '%s.%s' % key


def disabling_steps(steps):
    """Attestation steps that a list of requested steps disables.

    :param steps: requested deploy steps (dicts).
    :returns: the (interface, step) keys of the attestation steps with
        priority 0 in it.
    """
    return [_key(s) for s in steps or ()
            if s.get('interface') == common.INTERFACE_TYPE
            and s.get('priority') == 0]


def _final_steps(task, deploy_steps):
    """The deploy steps Ironic will run for this request.

    Computed by Ironic's own merge (``_get_all_deployment_steps``) with the
    request's steps in place of those stored on the node; the node object
    is left as it was.
    """
    from ironic.conductor import steps as conductor_steps

    node = task.node
    changed = 'driver_internal_info' in node.obj_what_changed()
    saved = copy.deepcopy(node.driver_internal_info)
    try:
        if deploy_steps:
            node.set_driver_internal_info('user_deploy_steps',
                                          deploy_steps)
        else:
            node.del_driver_internal_info('user_deploy_steps')
        return conductor_steps._get_all_deployment_steps(
            task, skip_missing=True)
    finally:
        node.driver_internal_info = saved
        if not changed:
            node.obj_reset_changes(['driver_internal_info'])


def _culprit(task, key, deploy_steps):
    from ironic.conductor import steps as conductor_steps

    if key in disabling_steps(deploy_steps):
        return _('the deploy_steps of the request set its priority to 0')
    templates = [t.name for t in conductor_steps._get_deployment_templates(
        task) if key in disabling_steps(t.steps)]
    if templates:
        return (_('deploy template(s) %s (matching the instance traits) '
                  'set its priority to 0') % ', '.join(templates))
    return _('the requested steps leave it out')


def check_attestation_steps_kept(task, deploy_steps=None):
    """Refuse a deployment that skips the node's attestation steps.

    :param task: a TaskManager instance with the node's driver.
    :param deploy_steps: the deploy steps of the request, or None.
    :raises: InvalidParameterValue naming the step and what disabled it,
        unless ``[keylime]allow_user_step_override`` is True.
    """
    if CONF.keylime.allow_user_step_override:
        return
    from ironic.common import exception
    from ironic.conductor import steps as conductor_steps

    expected = [s for s in conductor_steps._get_deployment_steps(
        task, enabled=True, sort=False)
        if s['interface'] == common.INTERFACE_TYPE]
    if not expected:
        return
    kept = {_key(s) for s in _final_steps(task, deploy_steps)}
    for step in expected:
        if _key(step) not in kept:
            raise exception.InvalidParameterValue(
                _('The deploy step %(step)s (priority %(prio)s) of node '
                  '%(node)s cannot be skipped: %(why)s. Its attestation '
                  'interface %(iface)s must attest it before deployment; '
                  'only an operator can allow skipping it, with '
                  '[keylime]allow_user_step_override = True.')
                % {'step': _name(_key(step)), 'prio': step['priority'],
                   'node': task.node.uuid,
                   'why': _culprit(task, _key(step), deploy_steps),
                   'iface': task.node.get_interface(
                       common.INTERFACE_TYPE)})
