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

"""Who may run the steps that write a node's trust anchors.

Ironic 39 checks a step that a user asks for (manual cleaning, servicing,
deploy steps, a runbook) against the policy rule
``baremetal:step:execute:<interface>.<step>`` and lets it run when no such
rule is registered; its default policy lets the admin and the manager of
the node's lessee project run manual clean steps. A step that records
what every later attestation trusts would then be the lessee's to run:
flash the firmware during the lease, enroll it as the golden boot state,
and the next tenant's attestation passes.

:func:`list_rules` gives such steps a default rule that allows them to a
system admin and to the admins and managers of the node's owner project
(as Ironic trusts the owner, not the lessee, with ``driver_info``), never
to the lessee. It is the ``oslo.policy.policies`` entry point (namespace
``ironic_keylime``, for ``oslopolicy-sample-generator``); operators
override the rules in Ironic's policy file as any other.

:func:`register_defaults` makes the enforcer of Ironic in the process
(``ironic-attest*``) enforce them, whenever it is created or if it already
was; :func:`check_steps` checks them again for every clean, service and
deploy request the API sends to a conductor, also for the steps of a
runbook that Ironic does not check (a public one, or one without owner).
"""

import functools
import itertools

from oslo_policy import policy

from ironic_keylime.common.i18n import _
from ironic_keylime.ironic_integration import common

#: The rule name Ironic checks for a user's step.
STEP_RULE = 'baremetal:step:execute:%s.%s'

# Ironic 39's persona check strings (ironic/common/policy.py: SYSTEM_ADMIN,
# PROJECT_OWNER_ADMIN, PROJECT_OWNER_MANAGER), written out so that the
# sample policy and the docs say them; a unit test compares them with
# Ironic's. PROJECT_LESSEE_* are left out on purpose.
SYSTEM_ADMIN = 'role:admin and system_scope:all'
OWNER_ADMIN = 'role:admin and project_id:%(node.owner)s'
OWNER_MANAGER = 'role:manager and project_id:%(node.owner)s'

#: The default check string of a step that writes trust anchors.
TRUST_ANCHOR_WRITER = '(%s) or (%s) or (%s)' % (SYSTEM_ADMIN, OWNER_ADMIN,
                                                OWNER_MANAGER)

#: Steps of the attestation interface that record what later attestations
#: trust: (step, what it records).
TRUST_ANCHOR_STEPS = (
    ('enroll_boot_state',
     'records the golden boot state of the node (the TPM policy of '
     'driver_info/keylime_tpm_policy, the IMA boot_aggregate of '
     'driver_info/keylime_boot_aggregate, and the measured-boot policy '
     'with its pin driver_info/keylime_mb_policy_sha256), which every '
     'later attestation checks the node against'),
)

_OPERATIONS = [
    {'path': '/nodes/{node_ident}/states/provision', 'method': 'PUT'},
    {'path': '/runbooks', 'method': 'POST'},
    {'path': '/runbooks/{runbook_ident}', 'method': 'PATCH'},
]


def rule_name(step):
    """The policy rule of a step of the attestation interface."""
    return STEP_RULE % (common.INTERFACE_TYPE, step)


def list_rules():
    """The default rules of ironic-keylime (``oslo.policy.policies``).

    :returns: a list of ``oslo_policy.policy.DocumentedRuleDefault``.
    """
    return [
        policy.DocumentedRuleDefault(
            name=rule_name(step),
            check_str=TRUST_ANCHOR_WRITER,
            scope_types=['system', 'project'],
            description=(
                'Run the %(step)s step of the attestation interface (a '
                'manual clean step, directly or from a runbook), which '
                '%(what)s. Allowed to system admins and to the admins and '
                'managers of the node\'s owner project, not to its lessee: '
                'whoever runs it decides what a passing attestation of the '
                'node means for the next tenant.'
                % {'step': step, 'what': what}),
            operations=_OPERATIONS)
        for step, what in TRUST_ANCHOR_STEPS]


def _add_to(enforcer):
    """Register the defaults in an enforcer and (re)load its rules."""
    for rule in list_rules():
        if rule.name not in enforcer.registered_rules:
            enforcer.register_default(rule)
    # Ironic's step check looks the rule up in enforcer.rules, which
    # only a load fills: a default registered after the last load would
    # be skipped as "no such rule" until the next one.
    enforcer.load_rules(force_reload=True)


def register_defaults():
    """Make the policy enforcer of Ironic in this process enforce them.

    Idempotent. Ironic creates its enforcer (``init_enforcer``) on first
    use and registers ``list_policies()`` in it: the rules are added to
    that list, and the new enforcer loads its rules at once, so that
    Ironic's step check (which only looks in the loaded rules) finds them
    from the first request on. An enforcer that already exists gets them
    and reloads.
    """
    from ironic.common import policy as ironic_policy

    if not getattr(ironic_policy.list_policies, '_ironic_keylime', False):
        base_list = ironic_policy.list_policies

        @functools.wraps(base_list)
        def list_policies():
            # A rule Ironic defines itself (a later Ironic) is Ironic's:
            # registering it twice would fail the enforcer's creation.
            base = list(base_list())
            names = {rule.name for rule in base}
            return itertools.chain(
                base, [r for r in list_rules() if r.name not in names])

        list_policies._ironic_keylime = True
        ironic_policy.list_policies = list_policies

        base_init = ironic_policy.init_enforcer

        @functools.wraps(base_init)
        def init_enforcer(*args, **kwargs):
            base_init(*args, **kwargs)
            _add_to(ironic_policy._ENFORCER)

        ironic_policy.init_enforcer = init_enforcer

    if ironic_policy._ENFORCER is not None:
        _add_to(ironic_policy._ENFORCER)


_forbidden_class = None


def step_forbidden():
    """The exception class of :func:`check_steps` (HTTP 403).

    Made on first use: Ironic's exception module must not be imported
    before the registration has run.
    """
    global _forbidden_class
    if _forbidden_class is None:
        from ironic.common import exception

        class AttestationStepForbidden(exception.HTTPForbidden):
            _msg_fmt = _(
                'Refusing to run the step %(step)s on node %(node)s: the '
                'policy rule %(rule)s does not allow it to this user. It '
                'records what later attestations of the node trust; by '
                'default only system admins and the admins and managers '
                'of the node\'s owner project may run it, never its '
                'lessee.')

        _forbidden_class = AttestationStepForbidden
    return _forbidden_class


def check_steps(context, node, steps):
    """Refuse the trust-anchor steps a request may not run on a node.

    Checked for every request that reaches a conductor with steps, also
    those of runbooks that Ironic does not check. Without
    ``auth_strategy = keystone`` Ironic allows everything, and so does
    this check.

    :param context: the request context.
    :param node: the node object.
    :param steps: the requested steps (dicts with interface and step).
    :raises: AttestationStepForbidden (HTTP 403) naming the step and the
        rule.
    """
    from ironic.common import exception
    from ironic.common import policy as ironic_policy

    ours = {rule.name for rule in list_rules()}
    for step in steps or ():
        rule = STEP_RULE % (step.get('interface'), step.get('step'))
        if rule not in ours:
            continue
        target = dict(context.to_policy_values())
        target['node.owner'] = node.owner
        target['node.lessee'] = node.lessee
        try:
            ironic_policy.authorize(rule, target, context)
        except exception.HTTPForbidden:
            raise step_forbidden()(
                step='%s.%s' % (step.get('interface'), step.get('step')),
                node=node.uuid, rule=rule)
