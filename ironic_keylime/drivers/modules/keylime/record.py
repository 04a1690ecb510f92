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

"""The record of an attestation in progress, and the operation it serves.

An ``attest`` step writes one record per attempt in the node's
driver_internal_info (:data:`STATE_KEY`): the attempt's id, its operation,
the agent and the Keylime services it was added to, and when. Everything
that later acts on a verdict asks this module whether the record is the
current one.
"""

import collections

from ironic.common import states
from oslo_utils import timeutils
from oslo_utils import uuidutils

from ironic_keylime.keylime_client import tenant as kl_tenant

#: driver_internal_info key of an attestation in progress.
STATE_KEY = 'keylime_attestation'

#: driver_internal_info key of an agent whose removal from the verifier
#: was asked for after a verdict and is not confirmed yet.
REMOVAL_KEY = 'keylime_removal'

#: The provision states in which a step waits for its verdict.
WAIT_STATES = (states.DEPLOYWAIT, states.CLEANWAIT, states.SERVICEWAIT)

#: The provision states in which an operation runs its attest step.
STEP_STATES = (states.DEPLOYING, states.CLEANING, states.SERVICING)

#: The states an operation that fails or is aborted leaves its node in;
#: an abandoned attestation is found there at each round, in any other
#: state by the slower sweep (``[keylime]leftover_sweep_interval``).
FAIL_STATES = (states.DEPLOYFAIL, states.CLEANFAIL, states.SERVICEFAIL)

#: Where a node can hold :data:`STATE_KEY` short of a leftover.
RECORD_STATES = WAIT_STATES + STEP_STATES + FAIL_STATES

#: The provision states Ironic fails once the conductor running the node
#: died (``states.STUCK_STATES_TREATED_AS_FAIL``, the step states among
#: them). Ironic's takeover (``_check_orphan_nodes``) releases the dead
#: conductor's lock, then takes its own to fail the node, and skips a
#: node it finds locked meanwhile: that node stays in its state, unlocked,
#: until a conductor restarts. No periodic task of this driver locks a
#: node in one of these states.
TAKEOVER_STATES = frozenset(states.STUCK_STATES_TREATED_AS_FAIL)

#: What the verdict check does for each operation the step runs in: the
#: node field of its current step, the option that says whether a FAIL
#: fails it, and the names of the functions of
#: :mod:`ironic.conductor.utils` that fail and resume it (looked up when
#: called).
Operation = collections.namedtuple(
    'Operation',
    ['name', 'step_field', 'fail_option', 'error_handler', 'resume'])

OPERATIONS = {
    'deploy': Operation('deploy', 'deploy_step',
                        'fail_deploy_on_attestation_failure',
                        'deploying_error_handler',
                        'notify_conductor_resume_deploy'),
    'clean': Operation('clean', 'clean_step',
                       'fail_clean_on_attestation_failure',
                       'cleaning_error_handler',
                       'notify_conductor_resume_clean'),
    'service': Operation('service', 'service_step',
                         'fail_service_on_attestation_failure',
                         'servicing_error_handler',
                         'notify_conductor_resume_service'),
}

#: The step this interface waits in.
STEP = {'interface': 'attestation', 'step': 'attest'}


def operation_of(node):
    """The :class:`Operation` whose step the node is running."""
    if node.clean_step:
        return OPERATIONS['clean']
    if node.service_step:
        return OPERATIONS['service']
    return OPERATIONS['deploy']


def in_attest_step(node):
    """Whether the node waits in this interface's attest step."""
    if node.provision_state not in WAIT_STATES:
        return False
    step = getattr(node, operation_of(node).step_field) or {}
    return all(step.get(key) == value for key, value in STEP.items())


def is_current(node, record):
    """Whether an attestation record belongs to the step the node waits in.

    A record of an earlier operation (or of a version of this interface
    that did not number its attempts) is never current.
    """
    return bool(record.get('attempt')
                and record.get('operation') == operation_of(node).name
                and in_attest_step(node))


def new(node, agent_uuid, verifier, registrar):
    """A record of a new attempt of the node's current operation.

    :param node: an Ironic node running the ``attest`` step.
    :param agent_uuid: the UUID of the agent added to the verifier.
    :param verifier: the verifier's :class:`tenant.Endpoint`.
    :param registrar: the registrar's :class:`tenant.Endpoint`.
    :returns: a dict to store under :data:`STATE_KEY`.
    """
    return {'attempt': uuidutils.generate_uuid(),
            'operation': operation_of(node).name,
            'agent_uuid': agent_uuid,
            'verifier': list(verifier),
            'registrar': list(registrar),
            'started_at': timeutils.utcnow().isoformat()}


def started_at(record):
    """When the attempt started (timezone-aware, UTC)."""
    return timeutils.parse_isotime(record['started_at'])


def elapsed(record):
    """Seconds since the attempt started."""
    return timeutils.delta_seconds(
        timeutils.normalize_time(started_at(record)), timeutils.utcnow())


def endpoint(value):
    """A service endpoint as the record stores it, a [host, port] list."""
    return kl_tenant.Endpoint(value[0], int(value[1]))


def removal(record):
    """What :data:`REMOVAL_KEY` keeps of a record whose agent is leaving.

    :param record: the record of the attempt whose verdict was acted on.
    :returns: a dict: the agent, its verifier and since when it leaves.
    """
    return {'agent_uuid': record['agent_uuid'],
            'verifier': list(record['verifier']),
            'since': timeutils.utcnow().isoformat()}


def removal_elapsed(removal_record):
    """Seconds since the removal of an agent was asked for."""
    return timeutils.delta_seconds(
        timeutils.normalize_time(
            timeutils.parse_isotime(removal_record['since'])),
        timeutils.utcnow())


def same_agent(one, other):
    """Whether two records name the same agent on the same verifier."""
    return bool(one and other
                and one.get('agent_uuid') == other.get('agent_uuid')
                and list(one.get('verifier') or ())
                == list(other.get('verifier') or ()))


def may_be_abandoned(node):
    """Whether the node's attestation record may be a leftover to remove.

    Not while the node waits for its verdict (:data:`WAIT_STATES`), nor
    while it is in a state that belongs to a running operation or to
    Ironic's takeover of it (:data:`TAKEOVER_STATES`): a later round
    finds it once the node has failed or moved on.

    :param node: a node, or a row with its ``driver_internal_info`` and
        ``provision_state``.
    """
    return bool((node.driver_internal_info or {}).get(STATE_KEY)
                and node.provision_state not in WAIT_STATES
                and node.provision_state not in TAKEOVER_STATES)
