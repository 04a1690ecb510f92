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

"""Who asks: the projects, roles and request contexts of the policy tests.

As Keystone's middleware gives them to Ironic: a token of an admin
carries the roles it implies.
"""

from ironic.common import context as ironic_context

OWNER = '70e5e25a2ca24cb18ae87d8739cee205'
LESSEE = 'f11853c7fa9c4db3a477c9d8e0dbbf13'
OTHER = 'ae64129eb1884662b0144127f4366ee6'
ENROLL = {'interface': 'attestation', 'step': 'enroll_boot_state'}
RULE = 'baremetal:step:execute:attestation.enroll_boot_state'
# Keystone's implied roles: a token of an admin carries all four.
ROLES = {'admin': ['admin', 'manager', 'member', 'reader'],
         'manager': ['manager', 'member', 'reader'],
         'member': ['member', 'reader'],
         'reader': ['reader']}


def context(role, project=None, system=False):
    """A request context as keystonemiddleware's headers give Ironic."""
    return ironic_context.RequestContext(
        user_id='user-%s' % role, project_id=project, roles=ROLES[role],
        system_scope='all' if system else None)
