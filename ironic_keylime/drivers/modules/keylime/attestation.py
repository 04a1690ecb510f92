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
A periodic task reads the verdicts every ``[keylime]status_poll_interval``
seconds (:mod:`.checks`: without locks, in a bounded pool, one bulk read
per verifier with the REST API), removes the agent from the verifier, and
resumes or fails the operation. The verdict is recorded in the node
history, pass or fail. With the REST API an agent the verifier is still
removing does not hold the node: :mod:`.removal` confirms its removal.
"""

import threading

from ironic.common import async_steps
from ironic.common import exception
from ironic.conductor import periodics
from ironic.drivers import base as ironic_base
from oslo_log import log as logging

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.conf import CONF
from ironic_keylime.drivers import base
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import boot_aggregate
from ironic_keylime.drivers.modules.keylime import boot_state
from ironic_keylime.drivers.modules.keylime import checks
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import last_attestation
from ironic_keylime.drivers.modules.keylime import mb_state
from ironic_keylime.drivers.modules.keylime import metrics
from ironic_keylime.drivers.modules.keylime import record as record_
from ironic_keylime.drivers.modules.keylime import removal
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.drivers.modules.keylime import verdict
from ironic_keylime.keylime_client import enroll as kl_enroll
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.lists import exception as list_exception
from ironic_keylime.lists import prepare

LOG = logging.getLogger(__name__)

_POOL_LOCK = threading.Lock()


def _check_uuid_mode_is_bound():
    """Refuse agent_uuid_mode image without a TPM binding.

    In that mode the ramdisk names the agent; only the binding of the
    node to its TPM's endorsement key keeps it from naming another
    node's.
    """
    if (CONF.keylime.agent_uuid_mode == 'image'
            and CONF.keylime.ek_binding == tpm_binding.OFF):
        raise exception.InvalidParameterValue(_(
            '[keylime]agent_uuid_mode is "image" while [keylime]ek_binding '
            'is "off": the ramdisk would choose which TPM is attested. Set '
            '[keylime]ek_binding to trust_on_first_use or required, or '
            'agent_uuid_mode to node.'))


class KeylimeAttestation(verdict.VerdictMixin, base.AttestationInterface):
    """Attestation of nodes by a Keylime verifier (tenant or REST)."""

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
        info = driver_info.parse_driver_info(task.node)
        driver_info.list_source(info)
        mb_state.policy_file(info)
        boot_state.node_policy(task.node)
        boot_aggregate.node_value(task.node)
        tpm_binding.validate(task.node)

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

        Fetches and verifies the lists (and the node's measured-boot
        policy, if it has one) into a private directory, which is removed
        before this returns, and adds the agent: ``keylime_tenant -c
        add``, or a POST to the verifier with ``[keylime]verifier_api =
        rest``.
        Records what the periodic check needs in driver_internal_info.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: AttestationFailure naming the cause.
        :raises: MissingParameterValue, InvalidParameterValue for bad
            driver_info.
        """
        node = task.node
        info = driver_info.parse_driver_info(node)
        tpm_policy = boot_state.policy_for_attestation(node)
        aggregate = boot_aggregate.node_value(node)
        events = golden_events.events_to_send(node)
        sends_events = bool(events)
        if sends_events:
            # The verifier accepts the aggregates of the event log its
            # engine checked; the enrollment boot's own is not this boot's.
            aggregate = None
        # An attestation of an earlier operation goes first: its agent
        # leaves the verifier, or this operation fails.
        self.unregister_node(task)
        agent.update_agent_info(task, info)
        agent_uuid, endpoint = agent.identity(node, info)
        agent.check_not_in_use(node, agent_uuid)
        _check_uuid_mode_is_bound()
        # The TPM of the agent is the node's, before anything is added;
        # over REST the verifier gets the attestation key of that read.
        ek_to_record, identity = tpm_binding.check_identity(
            task, tpm_binding.registrar_client(info.registrar), agent_uuid,
            need_identity=keylime_api.uses_rest() or sends_events)
        command_lines = []
        if sends_events:
            # The verifier must judge the events, not ignore them.
            golden_events.check_engine(node, info.verifier, endpoint,
                                       identity)
            # The EFI stub's command line: the ramdisk's account, which
            # the verifier believes only if the quote proves it.
            command_lines = golden_events.command_lines(task, events)
        source = driver_info.list_source(info)
        record = record_.new(node, agent_uuid, info.verifier,
                             info.registrar)
        if ek_to_record:
            record['ek_sha256'] = ek_to_record
        expected_ek = tpm_binding.expected(task, ek_to_record)
        record['ek_seen'] = expected_ek
        try:
            with prepare.prepared_lists(
                    source,
                    use_runtime_policy=keylime_api.uses_runtime_policy,
                    require_checksum=CONF.keylime.require_allowlist_checksum,
                    require_excludelist_checksum=(
                        CONF.keylime.require_excludelist_checksum),
                    allowlist_sha256=info.allowlist_sha256,
                    excludelist_sha256=info.excludelist_sha256,
                    fix_boot_aggregate=CONF.keylime.fix_boot_aggregate,
                    ima_hash_algorithm=CONF.keylime.ima_hash_algorithm,
                    boot_aggregate=aggregate,
                    parent=CONF.tempdir) as lists:
                # Checked against its pin before anything reaches Keylime.
                if sends_events:
                    mb_policy = golden_events.write_policy(
                        events, lists.workdir, command_lines)
                else:
                    mb_policy = mb_state.prepare(node, info, source,
                                                 lists.workdir)
                if mb_policy:
                    tpm_policy = boot_state.beside_mb_policy(tpm_policy)
                record['golden_state'] = last_attestation.golden_state(
                    node, tpm_policy, mb_policy)
                # What is enrolled, once, for either client.
                enrollment = kl_enroll.Enrollment(
                    agent_uuid=agent_uuid, agent=endpoint,
                    verifier=info.verifier, registrar=info.registrar,
                    lists=lists, tpm_policy=tpm_policy, mb_policy=mb_policy,
                    ek_sha256=expected_ek, identity=identity)
                # Recorded before Keylime is called: whatever happens
                # next, the agent is deleted from the verifier.
                node.set_driver_internal_info(record_.STATE_KEY, record)
                node.save()
                # An agent left by an earlier, interrupted attempt would
                # make add fail; deleting an unknown agent is harmless.
                keylime_api.remove_agent(agent_uuid, info.verifier)
                # The tenant's own registrar read must hold the EK
                # checked above (no record swapped in between); over
                # REST the verifier gets that read's attestation key.
                with metrics.timer('add'):
                    keylime_api.add_agent(enrollment)
        except (kl_exception.KeylimeError, list_exception.ListError) as e:
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
        record = node.driver_internal_info.get(record_.STATE_KEY)
        if not record:
            raise kl_ironic_exception.AttestationFailure(
                node=node.uuid,
                reason=_('no attestation is in progress on this node.'))
        try:
            status = keylime_api.read_status(
                record['agent_uuid'], record_.endpoint(record['verifier']),
                record_.endpoint(record['registrar']),
                # PASS needs a quote verified after this attempt started.
                since=record_.started_at(record))
        except kl_exception.KeylimeError as e:
            raise kl_ironic_exception.AttestationFailure(node=node.uuid,
                                                         reason=str(e))
        if status.verdict == kl_status.FAIL:
            raise kl_ironic_exception.AttestationFailedVerdict(
                node=node.uuid, reason=verdict.describe(status), status=status)
        return status

    def unregister_node(self, task):
        """Delete the node's agents from the verifier, waiting for it.

        The agent of a removal still to confirm (:data:`record_.
        REMOVAL_KEY`) and that of an attestation in progress; a node
        without either is left alone. Each key is dropped once the
        verifier no longer holds its agent.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: AttestationFailure when the verifier may still hold one.
        """
        node = task.node
        for key in (record_.REMOVAL_KEY, record_.STATE_KEY):
            record = node.driver_internal_info.get(key)
            if not record:
                continue
            try:
                keylime_api.remove_agent(record['agent_uuid'],
                                         record_.endpoint(record['verifier']))
            except kl_exception.KeylimeError as e:
                raise kl_ironic_exception.AttestationFailure(
                    node=node.uuid,
                    reason=_('the Keylime agent %(agent)s could not be '
                             'removed from the verifier: %(err)s') %
                    {'agent': record['agent_uuid'], 'err': e})
            node.del_driver_internal_info(key)
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
                e = kl_ironic_exception.AttestationFailure(
                    node=task.node.uuid,
                    reason='%s; also, %s' % (e.kwargs.get('reason', e),
                                             cleanup_error))
            # The operation fails with this error: the node remembers it
            # as its last attestation (no verdict was reached).
            last_attestation.remember_verdict(
                task.node, None, last_attestation.ERROR, str(e))
            task.node.save()
            raise e
        metrics.started(record_.operation_of(task.node).name)
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

    def _pool(self):
        """The interface's bounded pool of check threads (made once)."""
        with _POOL_LOCK:
            if getattr(self, '_check_pool', None) is None:
                self._check_pool = checks.Pool()
                self._bulk_supported = {}
            return self._check_pool

    @periodics.periodic(spacing=CONF.keylime.status_poll_interval)
    def _check_attestations(self, manager, context):
        """Periodic task: one round of verdict checks (:mod:`.checks`).

        Verdicts are read without locks, with one bulk request per
        verifier where it can; reads and actions run in the interface's
        pool of ``[keylime]max_concurrent_checks`` threads. One node's
        error fails that node alone.
        """
        pool = self._pool()
        checks.Round(self, pool, context, self._bulk_supported).run(manager)

    @periodics.periodic(spacing=CONF.keylime.status_poll_interval)
    def _confirm_removals(self, manager, context):
        """Periodic task: confirm agents left the verifier after a verdict.

        See :mod:`.removal`; only the nodes whose removal this conductor
        started.
        """
        removal.run(self._pool(), manager, context)

    @periodics.periodic(spacing=CONF.keylime.leftover_sweep_interval)
    def _sweep_removals(self, manager, context):
        """Periodic task: find removals to confirm among all nodes.

        Those this conductor did not start (a restart, a hash ring
        change); every ``[keylime]leftover_sweep_interval`` seconds.
        """
        removal.run(self._pool(), manager, context, sweep=True)

    @periodics.node_periodic(
        purpose='removing abandoned Keylime attestations',
        spacing=CONF.keylime.status_poll_interval,
        # Ironic's indexed provision_state: the failure states only.
        filters={'reserved': False,
                 'provision_state_in': record_.FAIL_STATES},
        predicate_extra_fields=['driver_internal_info'],
        predicate=lambda n: n.driver_internal_info.get(record_.STATE_KEY),
    )
    def _remove_abandoned_attestations(self, task, manager, context):
        """Periodic task: delete agents of operations that failed.

        An aborted or failed operation leaves its node in a failure
        state the verdict check does not look at; its agent must still
        leave the verifier.
        """
        self._remove_abandoned(task)

    @periodics.node_periodic(
        purpose='sweeping abandoned Keylime attestations',
        spacing=CONF.keylime.leftover_sweep_interval,
        filters={'reserved': False},
        predicate_extra_fields=['driver_internal_info', 'provision_state'],
        predicate=record_.may_be_abandoned,
    )
    def _sweep_abandoned_attestations(self, task, manager, context):
        """Periodic task: the same, for nodes in the other states.

        A node moved on from its failure state before a round saw it;
        every ``[keylime]leftover_sweep_interval`` seconds. Not the
        states of :data:`.record.TAKEOVER_STATES`, which Ironic fails
        when their conductor died (this task's lock would stop it).
        """
        self._remove_abandoned(task)

    def _remove_abandoned(self, task):
        """Remove one abandoned agent; one node's error stops nothing."""
        try:
            self.remove_abandoned_attestation(task)
        except (exception.NodeLocked, exception.NodeNotFound):
            raise  # the periodic skips the node and tries it next round
        except Exception:
            LOG.exception('Node %s: unexpected error while removing the '
                          'Keylime agent of an abandoned attestation; '
                          'retrying later', task.node.uuid)
