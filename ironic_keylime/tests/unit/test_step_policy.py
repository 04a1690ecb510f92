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

"""Who may run the steps that write trust anchors, in Ironic's enforcer.

Ironic 39's own policy enforcer (created by Ironic's policy fixture for
each test, with Ironic's policy file handling) and its own step check
(``ironic.conductor.steps``), under ``auth_strategy = keystone``, with
request contexts as Keystone's middleware makes them. The API and a real
Keystone are in test_step_policy_api and the functional test
test_step_policy_real.
"""

from ironic_keylime.tests import base  # noqa: I100  (must come first)

import json
import os

from ironic.common import exception
from ironic.common import policy as ironic_policy
from ironic.conductor import steps as conductor_steps
from ironic.tests.unit.objects import utils as obj_utils
from oslo_config import cfg
from oslo_policy import generator
from oslo_policy import policy as oslo_policy

from ironic_keylime.ironic_integration import step_policy
from ironic_keylime.tests.unit import personas

OWNER = personas.OWNER
LESSEE = personas.LESSEE
OTHER = personas.OTHER
ENROLL = personas.ENROLL
RULE = personas.RULE
ROLES = personas.ROLES
context = personas.context


class PolicyTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        # noauth (Ironic's test default) skips every policy check.
        self.config(auth_strategy='keystone')
        self.node = obj_utils.create_test_node(
            self.context, owner=OWNER, lessee=LESSEE)

    def allowed(self, ctx, steps=(ENROLL,)):
        """Ironic's own check of user steps (API: clean, runbooks)."""
        try:
            conductor_steps.validate_user_steps_policy(ctx, list(steps),
                                                       node=self.node)
        except exception.NotAuthorized:
            return False
        return True

    def write_policy_file(self, rules):
        path = os.path.join(self.tempdir, 'policy.yaml')
        with open(path, 'w') as f:
            json.dump(rules, f)
        self.config(policy_file=path, group='oslo_policy')
        ironic_policy._ENFORCER = None
        self.addCleanup(setattr, ironic_policy, '_ENFORCER', None)
        self.addCleanup(os.unlink, path)


class EnrollRuleTestCase(PolicyTestCase):

    def test_lessee_admin_denied(self):
        self.assertFalse(self.allowed(context('admin', LESSEE)))

    def test_lessee_manager_denied(self):
        self.assertFalse(self.allowed(context('manager', LESSEE)))

    def test_lessee_member_denied(self):
        self.assertFalse(self.allowed(context('member', LESSEE)))

    def test_owner_admin_allowed(self):
        self.assertTrue(self.allowed(context('admin', OWNER)))

    def test_owner_manager_allowed(self):
        self.assertTrue(self.allowed(context('manager', OWNER)))

    def test_owner_member_denied(self):
        self.assertFalse(self.allowed(context('member', OWNER)))

    def test_system_admin_allowed(self):
        self.assertTrue(self.allowed(context('admin', system=True)))

    def test_system_member_denied(self):
        self.assertFalse(self.allowed(context('member', system=True)))

    def test_other_project_admin_denied(self):
        self.assertFalse(self.allowed(context('admin', OTHER)))

    def test_node_without_owner_only_system_admin(self):
        self.node.owner = None
        self.assertFalse(self.allowed(context('admin', LESSEE)))
        self.assertFalse(self.allowed(context('admin', OTHER)))
        self.assertTrue(self.allowed(context('admin', system=True)))

    def test_lessee_may_still_attest(self):
        # The attest step checks against what was recorded; it does not
        # record golden state (an EK pin under trust_on_first_use only
        # when none is recorded, as every cleaning does).
        self.assertTrue(self.allowed(
            context('manager', LESSEE),
            [{'interface': 'attestation', 'step': 'attest'}]))

    def test_runbook_creation_checks_requester(self):
        # Ironic checks a runbook's steps at creation without a node:
        # only the rule's system part can match.
        ctx = context('manager', LESSEE)
        self.assertRaises(exception.NotAuthorized,
                          conductor_steps.validate_user_steps_policy,
                          ctx, [ENROLL])
        conductor_steps.validate_user_steps_policy(
            context('admin', system=True), [ENROLL])


class EnforcedNotOnlyRegisteredTestCase(PolicyTestCase):
    """Ironic's step check only sees rules its enforcer has loaded."""

    def test_fresh_enforcer_enforces_first_check(self):
        # A new enforcer (as at the API's first request): the step check
        # is the first policy check it makes.
        ironic_policy._ENFORCER = None
        self.addCleanup(setattr, ironic_policy, '_ENFORCER', None)
        self.assertFalse(self.allowed(context('admin', LESSEE)))
        self.assertIn(RULE, ironic_policy.get_enforcer().rules)

    def test_enforcer_loaded_before_registration(self):
        # An enforcer created and loaded by a stock Ironic (its own
        # defaults only), then the registration, as when something made
        # Ironic's enforcer before ironic-keylime ran.
        stock_list = ironic_policy.list_policies.__wrapped__
        enforcer = oslo_policy.Enforcer(cfg.CONF)
        enforcer.register_defaults(stock_list())
        enforcer.load_rules()
        self.patch(ironic_policy, '_ENFORCER', enforcer)
        self.assertNotIn(RULE, enforcer.rules)
        # What the lessee could do before.
        self.assertTrue(self.allowed(context('admin', LESSEE)))

        step_policy.register_defaults()

        self.assertIn(RULE, enforcer.rules)
        self.assertFalse(self.allowed(context('admin', LESSEE)))
        self.assertTrue(self.allowed(context('admin', OWNER)))

    def test_registration_idempotent(self):
        step_policy.register_defaults()
        step_policy.register_defaults()
        enforcer = ironic_policy.get_enforcer()
        self.assertIn(RULE, enforcer.registered_rules)
        self.assertEqual(1, sum(1 for p in ironic_policy.list_policies()
                                if p.name == RULE))

    def test_rule_ironic_defines_itself_is_ironics(self):
        # A later Ironic with the same rule: the enforcer is still made,
        # with Ironic's rule.
        ironics = oslo_policy.RuleDefault(RULE, 'role:admin')
        stock_list = ironic_policy.list_policies.__wrapped__
        # Both restored after the test (register_defaults wraps them).
        self.patch(ironic_policy, 'list_policies',
                   lambda: list(stock_list()) + [ironics])
        self.patch(ironic_policy, 'init_enforcer',
                   ironic_policy.init_enforcer)
        ironic_policy._ENFORCER = None
        self.addCleanup(setattr, ironic_policy, '_ENFORCER', None)

        step_policy.register_defaults()
        enforcer = ironic_policy.get_enforcer()

        self.assertEqual('role:admin',
                         str(enforcer.registered_rules[RULE].check))


class OperatorOverrideTestCase(PolicyTestCase):

    def test_policy_file_overrides_default(self):
        # An operator who trusts lessees' admins with enrollment.
        self.write_policy_file({RULE: 'role:admin and '
                                      'project_id:%(node.lessee)s'})
        self.assertTrue(self.allowed(context('admin', LESSEE)))
        self.assertFalse(self.allowed(context('admin', OWNER)))

    def test_policy_file_can_restrict_further(self):
        self.write_policy_file({RULE: 'role:admin and system_scope:all'})
        self.assertFalse(self.allowed(context('admin', OWNER)))
        self.assertTrue(self.allowed(context('admin', system=True)))


class RulesTestCase(PolicyTestCase):

    def test_check_string_built_from_ironic_personas(self):
        self.assertEqual(ironic_policy.SYSTEM_ADMIN, step_policy.SYSTEM_ADMIN)
        self.assertEqual(ironic_policy.PROJECT_OWNER_ADMIN,
                         step_policy.OWNER_ADMIN)
        self.assertEqual(ironic_policy.PROJECT_OWNER_MANAGER,
                         step_policy.OWNER_MANAGER)
        self.assertNotIn('node.lessee', step_policy.TRUST_ANCHOR_WRITER)

    def test_every_recording_step_has_a_rule(self):
        from ironic_keylime.drivers.modules.keylime import attestation
        from ironic_keylime.drivers.modules.keylime import utils
        iface = attestation.KeylimeAttestation()
        names = {r.name for r in step_policy.list_rules()}
        self.assertIn(step_policy.rule_name(utils.ENROLL_STEP['step']),
                      names)
        # Every rule names a step the interface has.
        steps = {s['step'] for s in iface.get_clean_steps(None)}
        for name in names:
            self.assertIn(name.rsplit('.', 1)[1], steps)

    def test_entry_point_namespace(self):
        # What oslopolicy-sample-generator --namespace ironic_keylime
        # reads (the package's oslo.policy.policies entry point).
        rules = generator.get_policies_dict(['ironic_keylime'])
        self.assertEqual([RULE], [r.name for r in rules['ironic_keylime']])
        self.assertEqual(step_policy.TRUST_ANCHOR_WRITER,
                         rules['ironic_keylime'][0].check_str)
