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

"""What the keylime interface does with the verifier's verdict.

The verdict check of a node waiting in the ``attest`` step (PENDING:
wait; PASS: resume; FAIL: fail or resume by the operation's policy; an
error: fail), the handling of stale records, and the removal of the
agents of operations that ended early. A mixin of
:class:`.attestation.KeylimeAttestation`, which keeps the periodic tasks
that call it.
"""

import collections

from ironic.conductor import utils as manager_utils
from oslo_log import log as logging

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import boot_diagnosis
from ironic_keylime.drivers.modules.keylime import boot_state
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import last_attestation
from ironic_keylime.drivers.modules.keylime import record as record_
from ironic_keylime.drivers.modules.keylime import removal
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import status as kl_status

LOG = logging.getLogger(__name__)

#: Node history event type of the verdicts.
EVENT_TYPE = 'attestation'

#: A verdict read without the node's lock: a status (PASS, FAIL or
#: PENDING), an error in words (no verdict: the node fails) or an
#: unexpected exception (a bug or a broken record: the node fails).
Outcome = collections.namedtuple('Outcome',
                                 ['status', 'error', 'unexpected'])
Outcome.__new__.__defaults__ = (None, None, None)


def describe(status):
    """The verdict in words: state, last event, what it means."""
    text = _('operational state "%s"') % status.state
    if status.last_event_id:
        text += _(', last event %s') % status.last_event_id
        if status.verdict == kl_status.FAIL:
            text += boot_state.explain_failure(status.last_event_id)
    if (status.verdict == kl_status.PENDING
            and status.attestation_count == 0):
        text += _(', no verified quote yet (attestation_count 0)')
    return text


class VerdictMixin(object):
    """Acting on verdicts.

    Needs ``validate_security_status`` and ``unregister_node`` of the
    attestation interface it is mixed into.
    """

    def _unregister_quietly(self, task):
        """Unregister, returning the error instead of raising it."""
        try:
            self.unregister_node(task)
        except kl_ironic_exception.AttestationFailure as e:
            LOG.error('%s', e)
            return e.kwargs.get('reason', str(e))
        return None

    def _release_quietly(self, task):
        """Remove the agent of a verdict without waiting for it to leave.

        The verifier removes an agent it is attesting only when that
        attestation ends (REST: 202). The record of the attempt is
        dropped either way; an agent still leaving is kept under
        :data:`record_.REMOVAL_KEY`, whose periodic task confirms its
        removal, and whose agent the next ``attest`` step removes before
        it adds one.

        :returns: None, or the error (in words) when the verifier refused
            or could not be reached; the record is kept then, for the
            abandoned-attestation task to retry.
        """
        node = task.node
        record = node.driver_internal_info.get(record_.STATE_KEY)
        if not record:
            return None
        try:
            gone = keylime_api.request_removal(
                record['agent_uuid'], record_.endpoint(record['verifier']))
        except kl_exception.KeylimeError as e:
            error = (_('the Keylime agent %(agent)s could not be removed '
                       'from the verifier: %(err)s') %
                     {'agent': record['agent_uuid'], 'err': e})
            LOG.error('Node %(node)s: %(err)s',
                      {'node': node.uuid, 'err': error})
            return error
        if not gone:
            LOG.info('Node %(node)s: the verifier is removing Keylime agent '
                     '%(agent)s; the operation goes on meanwhile.',
                     {'node': node.uuid, 'agent': record['agent_uuid']})
            node.set_driver_internal_info(record_.REMOVAL_KEY,
                                          record_.removal(record))
        node.del_driver_internal_info(record_.STATE_KEY)
        node.save()
        if not gone:
            # Saved first: a round that reads the node finds the key.
            removal.expect(node.uuid)
        return None

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
        is failed. The periodic task reads verdicts without a task
        (:mod:`.checks`) and calls :meth:`act_on_read`.

        :param task: a TaskManager instance (a shared lock is upgraded).
        """
        record = self._current_record(task)
        if record is None:
            return
        try:
            status = self.validate_security_status(task)
        except kl_ironic_exception.AttestationFailedVerdict as e:
            return self._finish(task, record, status=e.status)
        except kl_ironic_exception.AttestationFailure as e:
            return self._finish(task, record,
                                error=e.kwargs.get('reason', str(e)))
        return self._act_on_status(task, record, status)

    def act_on_read(self, task, record_read, outcome):
        """Act on a verdict read without the node's lock.

        :param task: a TaskManager instance (a shared lock is upgraded
            when the verdict asks for an action).
        :param record_read: the record the verdict was read for, or None
            when the node was not read (its record was stale).
        :param outcome: the :class:`Outcome` of the read, or None.
        """
        node = task.node
        record = self._current_record(task)
        if record is None:
            return
        if outcome is None:
            return  # current since it was listed: read in the next round
        if record.get('attempt') != (record_read or {}).get('attempt'):
            LOG.info('Node %s: the attestation whose verdict was read is no '
                     'longer the current one; the verdict is dropped.',
                     node.uuid)
            return
        if outcome.unexpected is not None:
            LOG.error('Node %(node)s: unexpected error while reading its '
                      'Keylime verdict: %(err)r',
                      {'node': node.uuid, 'err': outcome.unexpected})
            return self._fail_unexpected(task, outcome.unexpected)
        if outcome.error is not None:
            return self._finish(task, record, error=outcome.error)
        return self._act_on_status(task, record, outcome.status)

    def _act_on_status(self, task, record, status):
        """PENDING: wait or time out; PASS or FAIL: finish."""
        node = task.node
        if status.verdict == kl_status.PENDING:
            elapsed = record_.elapsed(record)
            if elapsed < CONF.keylime.attestation_timeout:
                LOG.debug('Attestation of node %(node)s pending after '
                          '%(t)d s (%(desc)s)',
                          {'node': node.uuid, 't': elapsed,
                           'desc': describe(status)})
                return
            return self._finish(
                task, record, timed_out=True,
                error=_('the verifier gave no verdict within '
                        '[keylime]attestation_timeout (%(timeout)s s); '
                        'last seen %(desc)s') %
                {'timeout': CONF.keylime.attestation_timeout,
                 'desc': describe(status)})
        return self._finish(task, record, status=status)

    def _current_record(self, task):
        """The record of the attempt the node waits for, if any.

        A node in a wait state whose record is missing or not the
        current one is handed to :meth:`_act_on_stale`.

        :returns: the current record, or None when there is no verdict
            to act on.
        """
        node = task.node
        if node.provision_state not in record_.WAIT_STATES:
            return None
        record = node.driver_internal_info.get(record_.STATE_KEY)
        if not record or not record_.is_current(node, record):
            self._act_on_stale(task, record)
            return None
        return record

    def _act_on_stale(self, task, record):
        """A node in a wait state whose record is not the current one."""
        node = task.node
        if not record and not record_.in_attest_step(node):
            return
        task.upgrade_lock()
        node = task.node
        record = node.driver_internal_info.get(record_.STATE_KEY)
        if record and record_.is_current(node, record):
            return  # started meanwhile; the next round reads it
        error = self._unregister_quietly(task) if record else None
        if not record_.in_attest_step(node):
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
        last_attestation.remember_verdict(node, None,
                                          last_attestation.ERROR, message)
        self._fail(task, message)

    def _fail(self, task, message):
        node = task.node
        operation = record_.operation_of(node)
        LOG.error('Attestation of node %(node)s failed during %(op)s: '
                  '%(msg)s', {'node': node.uuid, 'op': operation.name,
                              'msg': message})
        getattr(manager_utils, operation.error_handler)(task, message)

    def _finish(self, task, record, status=None, error=None,
                timed_out=False):
        task.upgrade_lock()
        node = task.node
        # The lock was shared until now: the node may have moved on.
        current = node.driver_internal_info.get(record_.STATE_KEY) or {}
        if (node.provision_state not in record_.WAIT_STATES
                or current.get('attempt') != record.get('attempt')
                or not record_.is_current(node, current)):
            LOG.info('Node %s: the attestation whose verdict was read is no '
                     'longer the current one; the verdict is dropped.',
                     node.uuid)
            return
        operation = record_.operation_of(node)
        ek_to_record = current.get('ek_sha256')
        cleanup_error = self._release_quietly(task)
        if status is not None and status.verdict == kl_status.PASS:
            message = _('Keylime attestation PASS (%s).') % describe(status)
            failed = False
        elif status is not None:
            message = _('Keylime attestation FAIL: %s.') % describe(status)
            message += boot_diagnosis.explain(task, status.last_event_id)
            failed = getattr(CONF.keylime, operation.fail_option)
        else:
            message = _('Keylime attestation error: %s.') % error
            failed = True
        if cleanup_error:
            message += _(' The agent could not be removed from the '
                         'verifier: %s.') % cleanup_error
            failed = True
        if not failed and status.verdict == kl_status.PASS and ek_to_record:
            # Trust on first use: the TPM that passed is the node's.
            try:
                tpm_binding.record(task, ek_to_record)
            except kl_ironic_exception.AttestationFailure as e:
                message += ' %s' % e.kwargs.get('reason', e)
                failed = True
        if status is not None:
            verdict = status.verdict
        else:
            verdict = (last_attestation.TIMEOUT if timed_out
                       else last_attestation.ERROR)
        if failed:
            if verdict == kl_status.PASS:
                # The verifier passed it, but the node could not be
                # released or bound to its TPM: not an attested node.
                verdict = last_attestation.ERROR
            self._remember(node, current, verdict, message, status)
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
        self._remember(node, current, verdict, message, status)
        manager_utils.node_history_record(
            node, event=message, event_type=EVENT_TYPE,
            error=status.verdict == kl_status.FAIL)
        node.save()
        getattr(manager_utils, operation.resume)(task)

    @staticmethod
    def _remember(node, attempt, verdict, message, status):
        """Keep the verdict as the node's last attestation."""
        event_id = None
        if status is not None and status.verdict == kl_status.FAIL:
            event_id = status.last_event_id
        last_attestation.remember_verdict(node, attempt, verdict, message,
                                          event_id=event_id)

    def _fail_unexpected(self, task, error):
        message = _('Keylime attestation error: unexpected error while '
                    'reading the verdict (%s); the node is not '
                    'attested.') % error
        try:
            task.upgrade_lock()
            if task.node.provision_state not in record_.WAIT_STATES:
                return
            try:
                cleanup_error = self._unregister_quietly(task)
            except Exception as e:
                cleanup_error = e
            if cleanup_error:
                message += _(' The agent could not be removed from the '
                             'verifier: %s.') % cleanup_error
            last_attestation.remember_verdict(
                task.node, None, last_attestation.ERROR, message)
            self._fail(task, message)
        except Exception:
            LOG.exception('Node %s: could not fail the node after an '
                          'unexpected attestation error', task.node.uuid)

    def remove_abandoned_attestation(self, task):
        """Delete the agent of an attestation whose operation ended.

        :param task: a TaskManager instance (a shared lock is upgraded).
        """
        node = task.node
        if not record_.may_be_abandoned(node):
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
