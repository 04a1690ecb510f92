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

"""The ``keylime`` attestation interface.

The ``attest`` step (deploy, clean and service) fetches and verifies the
node's lists, adds the node's Keylime agent to the verifier with them and
returns a wait state; it holds no conductor worker while Keylime attests.
A periodic task reads the verdict every ``[keylime]status_poll_interval``
seconds, removes the agent from the verifier, and resumes or fails the
operation. The verdict is recorded in the node history, pass or fail.
"""

import collections

from ironic.common import async_steps
from ironic.common import exception
from ironic.common import states
from ironic.conductor import periodics
from ironic.conductor import utils as manager_utils
from ironic.db import api as dbapi
from ironic.drivers import base as ironic_base
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.conf import CONF
from ironic_keylime.drivers import base
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import boot_state
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.lists import prepare

LOG = logging.getLogger(__name__)

#: driver_internal_info key of an attestation in progress.
STATE_KEY = 'keylime_attestation'
#: Node history event type of the verdicts.
EVENT_TYPE = 'attestation'

_WAIT_STATES = (states.DEPLOYWAIT, states.CLEANWAIT, states.SERVICEWAIT)


#: How the tenant client names our options in its messages.
_SETTING_NAMES = {'path': '[keylime]tenant_path',
                  'cert_dir': '[keylime]tenant_cert_dir',
                  'timeout': '[keylime]command_timeout'}


def _tenant():
    return kl_tenant.Tenant(path=CONF.keylime.tenant_path,
                            config=CONF.keylime.tenant_config,
                            cert_dir=CONF.keylime.tenant_cert_dir,
                            timeout=CONF.keylime.command_timeout,
                            setting_names=_SETTING_NAMES)


def _endpoint(value):
    return kl_tenant.Endpoint(value[0], int(value[1]))


def _describe(status):
    text = _('operational state "%s"') % status.state
    if status.last_event_id:
        text += _(', last event %s') % status.last_event_id
        if status.verdict == kl_status.FAIL:
            text += boot_state.explain_failure(status.last_event_id)
    if (status.verdict == kl_status.PENDING
            and status.attestation_count == 0):
        text += _(', no verified quote yet (attestation_count 0)')
    return text


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


def _operation(node):
    """The :class:`Operation` whose step the node is running."""
    if node.clean_step:
        return OPERATIONS['clean']
    if node.service_step:
        return OPERATIONS['service']
    return OPERATIONS['deploy']


def _in_attest_step(node):
    """Whether the node waits in this interface's attest step."""
    if node.provision_state not in _WAIT_STATES:
        return False
    step = getattr(node, _operation(node).step_field) or {}
    return all(step.get(key) == value for key, value in STEP.items())


def _is_current(node, record):
    """Whether an attestation record belongs to the step the node waits in.

    A record of an earlier operation (or of a version of this interface
    that did not number its attempts) is never current.
    """
    return bool(record.get('attempt')
                and record.get('operation') == _operation(node).name
                and _in_attest_step(node))


def _check_agent_not_in_use(node, agent_uuid):
    """Refuse an agent UUID that belongs to another node.

    The UUID of another node, or of the agent of another node's
    attestation (in progress, or abandoned and not yet removed), would
    have this node attested by another TPM, and the delete that precedes
    every add would remove the other node's attestation.

    :raises: AttestationFailure naming the other node.
    """
    db = dbapi.get_instance()
    if agent_uuid != node.uuid.lower():
        try:
            other = db.get_node_by_uuid(agent_uuid)
        except exception.NodeNotFound:
            other = None
        if other is not None:
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('the Keylime agent UUID %(agent)s is the UUID of '
                         'node %(other)s; a node is never attested under '
                         'another node\'s identity. Fix driver_info/'
                         'keylime_agent_uuid.') %
                {'agent': agent_uuid, 'other': other.uuid})
    for uuid, internal in db.get_nodeinfo_list(
            columns=['uuid', 'driver_internal_info']):
        record = (internal or {}).get(STATE_KEY) or {}
        if (uuid != node.uuid and isinstance(record, dict)
                and str(record.get('agent_uuid', '')).lower() == agent_uuid):
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('the Keylime agent %(agent)s is being attested for '
                         'node %(other)s; two nodes cannot share an agent. '
                         'Fix driver_info/keylime_agent_uuid of one of '
                         'them.') % {'agent': agent_uuid, 'other': uuid})


class KeylimeAttestation(base.AttestationInterface):
    """Attestation of nodes by a Keylime verifier, via keylime_tenant."""

    def get_properties(self):
        """Return the properties of the interface.

        :returns: dictionary of <property name>:<property description>
        """
        return driver_info.COMMON_PROPERTIES.copy()

    def validate(self, task):
        """Validate the keylime_* keys of the node's driver_info.

        :param task: a TaskManager instance.
        :raises: MissingParameterValue if a required key is missing.
        :raises: InvalidParameterValue if a key has a bad value or a list
            path is outside ``[keylime]allowed_list_directories``.
        """
        driver_info.list_source(driver_info.parse_driver_info(task.node))
        boot_state.node_policy(task.node)

    def _get_steps(self, steps, priority):
        for step in steps:
            if step['step'] == 'attest':
                step['priority'] = priority
        return steps

    def get_deploy_steps(self, task):
        """Deploy steps, with the priority from ``[keylime]``."""
        return self._get_steps(super().get_deploy_steps(task),
                               CONF.keylime.deploy_step_priority)

    def get_clean_steps(self, task):
        """Clean steps, with the priority from ``[keylime]``."""
        return self._get_steps(super().get_clean_steps(task),
                               CONF.keylime.clean_step_priority)

    def start_attestation(self, task):
        """Add the node's Keylime agent to the verifier.

        Fetches and verifies the lists into a private directory, which is
        removed before this returns, and runs ``keylime_tenant -c add``.
        Records what the periodic check needs in driver_internal_info.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: AttestationFailure naming the cause.
        :raises: MissingParameterValue, InvalidParameterValue for bad
            driver_info.
        """
        node = task.node
        info = driver_info.parse_driver_info(node)
        tpm_policy = boot_state.policy_for_attestation(node)
        # An attestation of an earlier operation goes first: its agent
        # leaves the verifier, or this operation fails.
        self.unregister_node(task)
        agent.update_agent_info(task, info)
        agent_uuid, endpoint = agent.identity(node, info)
        _check_agent_not_in_use(node, agent_uuid)
        source = driver_info.list_source(info)
        tenant = _tenant()
        operation = _operation(node)
        record = {'attempt': uuidutils.generate_uuid(),
                  'operation': operation.name,
                  'agent_uuid': agent_uuid,
                  'verifier': list(info.verifier),
                  'registrar': list(info.registrar),
                  'started_at': timeutils.utcnow().isoformat()}
        try:
            with prepare.prepared_lists(
                    source,
                    require_checksum=CONF.keylime.require_allowlist_checksum,
                    fix_boot_aggregate=CONF.keylime.fix_boot_aggregate,
                    ima_hash_algorithm=CONF.keylime.ima_hash_algorithm,
                    parent=CONF.tempdir) as lists:
                # Recorded before Keylime is called: whatever happens
                # next, the agent is deleted from the verifier.
                node.set_driver_internal_info(STATE_KEY, record)
                node.save()
                # An agent left by an earlier, interrupted attempt would
                # make add fail; deleting an unknown agent is harmless.
                tenant.delete(agent_uuid, info.verifier)
                tenant.add(agent_uuid, endpoint, info.verifier,
                           info.registrar, lists,
                           policy_format=CONF.keylime.policy_format,
                           tpm_policy=tpm_policy)
        except kl_exception.KeylimeError as e:
            raise kl_ironic_exception.AttestationFailure(node=node.uuid,
                                                         reason=str(e))
        LOG.info('Keylime agent %(agent)s of node %(node)s was added to '
                 'the verifier at %(host)s:%(port)s',
                 {'agent': agent_uuid, 'node': node.uuid,
                  'host': info.verifier.host, 'port': info.verifier.port})

    def validate_security_status(self, task):
        """Read the verifier's verdict on the node.

        Returns nothing to fear on PASS, raises on FAIL (the approved
        spec's contract); a verdict not reached yet is returned as well,
        so that the caller can wait.

        :param task: a TaskManager instance.
        :returns: :class:`ironic_keylime.keylime_client.status.AgentStatus`
            whose verdict is PASS or PENDING.
        :raises: AttestationFailedVerdict (an AttestationFailure carrying
            the status) when the verifier says FAIL, naming its state
            and last event.
        :raises: AttestationFailure when no attestation is in progress or
            no verdict can be read.
        """
        node = task.node
        record = node.driver_internal_info.get(STATE_KEY)
        if not record:
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('no attestation is in progress on this node.'))
        try:
            status = _tenant().status(
                record['agent_uuid'], _endpoint(record['verifier']),
                _endpoint(record['registrar']),
                # PASS needs a quote verified after this attempt started.
                since=timeutils.parse_isotime(record['started_at']))
        except kl_exception.KeylimeError as e:
            raise kl_ironic_exception.AttestationFailure(node=node.uuid,
                                                         reason=str(e))
        if status.verdict == kl_status.FAIL:
            raise kl_ironic_exception.AttestationFailedVerdict(
                node=node.uuid, reason=_describe(status), status=status)
        return status

    def unregister_node(self, task):
        """Delete the node's agent from the verifier.

        A node without an attestation in progress is left alone. The
        record of the attestation is dropped once the verifier no longer
        holds the agent.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: AttestationFailure when the verifier may still hold it.
        """
        node = task.node
        record = node.driver_internal_info.get(STATE_KEY)
        if not record:
            return
        try:
            _tenant().delete(record['agent_uuid'],
                             _endpoint(record['verifier']))
        except kl_exception.KeylimeError as e:
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('the Keylime agent %(agent)s could not be removed '
                         'from the verifier: %(err)s') %
                {'agent': record['agent_uuid'], 'err': e})
        node.del_driver_internal_info(STATE_KEY)
        node.save()

    @ironic_base.deploy_step(priority=90)
    @ironic_base.clean_step(priority=95, abortable=False,
                            requires_ramdisk=True)
    @ironic_base.service_step(priority=0, abortable=False,
                              requires_ramdisk=True)
    def attest(self, task):
        """Attest the node with Keylime.

        Adds the node's agent to the verifier and returns a wait state;
        the verdict is read by a periodic task.

        :param task: a TaskManager instance with an exclusive lock.
        :returns: states.DEPLOYWAIT, CLEANWAIT or SERVICEWAIT.
        :raises: AttestationFailure when the attestation cannot start.
        """
        try:
            self.start_attestation(task)
        except Exception as e:
            cleanup_error = self._unregister_quietly(task)
            if cleanup_error and isinstance(
                    e, kl_ironic_exception.AttestationFailure):
                raise kl_ironic_exception.AttestationFailure(
                    node=task.node.uuid,
                    reason='%s; also, %s' % (e.kwargs.get('reason', e),
                                             cleanup_error))
            raise
        async_steps.set_node_flags(task.node, reboot=False,
                                   skip_current_step=True, polling=True)
        return async_steps.get_return_state(task.node)

    @ironic_base.clean_step(priority=0, abortable=False,
                            requires_ramdisk=True)
    def enroll_boot_state(self, task):
        """Record the node's boot state as its golden boot state.

        A manual clean step: the ramdisk reads the PCRs of
        ``[keylime]boot_state_pcrs``; every attestation from then on sends
        them to the verifier as the node's TPM policy.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: AttestationFailure when the boot state cannot be read.
        """
        boot_state.enroll(task)

    def _unregister_quietly(self, task):
        """Unregister, returning the error instead of raising it."""
        try:
            self.unregister_node(task)
        except kl_ironic_exception.AttestationFailure as e:
            LOG.error('%s', e)
            return e.kwargs.get('reason', str(e))
        return None

    def _elapsed(self, record):
        started = timeutils.parse_isotime(record['started_at'])
        return timeutils.delta_seconds(
            timeutils.normalize_time(started), timeutils.utcnow())

    def check_attestation(self, task):
        """Read the verdict of an attestation in progress and act on it.

        PENDING: wait, unless ``[keylime]attestation_timeout`` has passed.
        PASS: resume the operation. FAIL: fail it, or resume it when the
        failure policy of the operation says so. An error: fail it. In
        every outcome but PENDING the agent is deleted from the verifier.
        Only the record of the attempt started by the step the node waits
        in is acted on: a stale record has its agent removed and nothing
        else; a node waiting in the attest step without a current record
        (its attestation was lost, or never started by this interface)
        is failed.

        :param task: a TaskManager instance (a shared lock is upgraded).
        """
        node = task.node
        if node.provision_state not in _WAIT_STATES:
            return
        record = node.driver_internal_info.get(STATE_KEY)
        if not record or not _is_current(node, record):
            return self._act_on_stale(task, record)
        try:
            status = self.validate_security_status(task)
        except kl_ironic_exception.AttestationFailedVerdict as e:
            return self._finish(task, record, status=e.status)
        except kl_ironic_exception.AttestationFailure as e:
            return self._finish(task, record,
                                error=e.kwargs.get('reason', str(e)))
        if status.verdict == kl_status.PENDING:
            elapsed = self._elapsed(record)
            if elapsed < CONF.keylime.attestation_timeout:
                LOG.debug('Attestation of node %(node)s pending after '
                          '%(t)d s (%(desc)s)',
                          {'node': node.uuid, 't': elapsed,
                           'desc': _describe(status)})
                return
            return self._finish(
                task, record,
                error=_('the verifier gave no verdict within '
                        '[keylime]attestation_timeout (%(timeout)s s); '
                        'last seen %(desc)s') %
                {'timeout': CONF.keylime.attestation_timeout,
                 'desc': _describe(status)})
        return self._finish(task, record, status=status)

    def _act_on_stale(self, task, record):
        """A node in a wait state whose record is not the current one."""
        node = task.node
        if not record and not _in_attest_step(node):
            return
        task.upgrade_lock()
        node = task.node
        record = node.driver_internal_info.get(STATE_KEY)
        if record and _is_current(node, record):
            return  # started meanwhile; the next round reads it
        error = self._unregister_quietly(task) if record else None
        if not _in_attest_step(node):
            if error:
                LOG.warning('Node %(node)s: the Keylime agent of an earlier '
                            'attestation is still on the verifier '
                            '(%(err)s); retrying later.',
                            {'node': node.uuid, 'err': error})
            return
        message = _('Keylime attestation error: the node waits in the '
                    'attest step, but no attestation of this step is in '
                    'progress (it was lost, or the step was started by a '
                    'conductor without ironic-keylime). Run the operation '
                    'again.')
        if error:
            message += _(' The agent of an earlier attestation could not '
                         'be removed from the verifier: %s.') % error
        self._fail(task, message)

    def _fail(self, task, message):
        node = task.node
        operation = _operation(node)
        LOG.error('Attestation of node %(node)s failed during %(op)s: '
                  '%(msg)s', {'node': node.uuid, 'op': operation.name,
                              'msg': message})
        getattr(manager_utils, operation.error_handler)(task, message)

    def _finish(self, task, record, status=None, error=None):
        task.upgrade_lock()
        node = task.node
        # The lock was shared until now: the node may have moved on.
        current = node.driver_internal_info.get(STATE_KEY) or {}
        if (node.provision_state not in _WAIT_STATES
                or current.get('attempt') != record.get('attempt')
                or not _is_current(node, current)):
            LOG.info('Node %s: the attestation whose verdict was read is no '
                     'longer the current one; the verdict is dropped.',
                     node.uuid)
            return
        operation = _operation(node)
        cleanup_error = self._unregister_quietly(task)
        if status is not None and status.verdict == kl_status.PASS:
            message = _('Keylime attestation PASS (%s).') % _describe(status)
            failed = False
        elif status is not None:
            message = _('Keylime attestation FAIL: %s.') % _describe(status)
            failed = getattr(CONF.keylime, operation.fail_option)
        else:
            message = _('Keylime attestation error: %s.') % error
            failed = True
        if cleanup_error:
            message += _(' The agent could not be removed from the '
                         'verifier: %s.') % cleanup_error
            failed = True
        if failed:
            self._fail(task, message)
            return
        if status.verdict == kl_status.FAIL:
            message += _(' The %(op)s goes on, as [keylime]%(option)s is '
                         'False.') % {'op': operation.name,
                                      'option': operation.fail_option}
            LOG.warning('Node %(node)s: %(msg)s',
                        {'node': node.uuid, 'msg': message})
        else:
            LOG.info('Node %(node)s: %(msg)s',
                     {'node': node.uuid, 'msg': message})
        manager_utils.node_history_record(
            node, event=message, event_type=EVENT_TYPE,
            error=status.verdict == kl_status.FAIL)
        node.save()
        getattr(manager_utils, operation.resume)(task)

    @periodics.node_periodic(
        purpose='checking Keylime attestation verdicts',
        spacing=CONF.keylime.status_poll_interval,
        filters={'reserved': False, 'provision_state_in': _WAIT_STATES},
        predicate_extra_fields=['driver_internal_info', 'provision_state',
                                'deploy_step', 'clean_step', 'service_step'],
        predicate=lambda n: (n.driver_internal_info.get(STATE_KEY)
                             or _in_attest_step(n)),
    )
    def _check_attestations(self, task, manager, context):
        """Periodic task: act on the verdicts of attestations.

        One node's unexpected error fails that node alone; the pass goes
        on with the other nodes.
        """
        try:
            self.check_attestation(task)
        except (exception.NodeLocked, exception.NodeNotFound):
            raise  # the periodic skips the node and tries it next round
        except Exception as e:
            LOG.exception('Node %s: unexpected error while reading its '
                          'Keylime verdict', task.node.uuid)
            self._fail_unexpected(task, e)

    def _fail_unexpected(self, task, error):
        message = _('Keylime attestation error: unexpected error while '
                    'reading the verdict (%s); the node is not '
                    'attested.') % error
        try:
            task.upgrade_lock()
            if task.node.provision_state not in _WAIT_STATES:
                return
            try:
                cleanup_error = self._unregister_quietly(task)
            except Exception as e:
                cleanup_error = e
            if cleanup_error:
                message += _(' The agent could not be removed from the '
                             'verifier: %s.') % cleanup_error
            self._fail(task, message)
        except Exception:
            LOG.exception('Node %s: could not fail the node after an '
                          'unexpected attestation error', task.node.uuid)

    @periodics.node_periodic(
        purpose='removing abandoned Keylime attestations',
        spacing=CONF.keylime.status_poll_interval,
        filters={'reserved': False},
        predicate_extra_fields=['driver_internal_info', 'provision_state'],
        predicate=lambda n: (n.driver_internal_info.get(STATE_KEY)
                             and n.provision_state not in _WAIT_STATES),
    )
    def _remove_abandoned_attestations(self, task, manager, context):
        """Periodic task: delete agents of operations that ended early.

        An aborted or failed operation leaves its node in a state the
        verdict check does not look at; its agent must still leave the
        verifier. One node's unexpected error does not stop the pass.
        """
        try:
            self.remove_abandoned_attestation(task)
        except (exception.NodeLocked, exception.NodeNotFound):
            raise  # the periodic skips the node and tries it next round
        except Exception:
            LOG.exception('Node %s: unexpected error while removing the '
                          'Keylime agent of an abandoned attestation; '
                          'retrying later', task.node.uuid)

    def remove_abandoned_attestation(self, task):
        """Delete the agent of an attestation whose operation ended.

        :param task: a TaskManager instance (a shared lock is upgraded).
        """
        node = task.node
        if (not node.driver_internal_info.get(STATE_KEY)
                or node.provision_state in _WAIT_STATES):
            return
        task.upgrade_lock()
        error = self._unregister_quietly(task)
        if error:
            LOG.warning('Node %(node)s: the Keylime agent of an abandoned '
                        'attestation is still on the verifier (%(err)s); '
                        'retrying later.', {'node': node.uuid, 'err': error})
        else:
            LOG.info('Node %s: removed the Keylime agent of an abandoned '
                     'attestation from the verifier.', node.uuid)
