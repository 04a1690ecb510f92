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

"""The Keylime clients of the keylime interface, built from [keylime].

By default ``keylime_tenant`` adds agents (it looks the agent up at the
registrar, checks its EK, with ``ironic-keylime-ek-check`` against the
node's pin, and exchanges keys with it), reads the verdicts and removes
the agents. With ``[keylime]verifier_api = rest`` all three go through
the verifier's REST API, and no tenant process runs: the same verdicts
and errors at a small part of the cost (one HTTPS request on a kept
connection instead of a Python process). The agent is then added with
the attestation key of the registrar read whose EK was checked.
"""

import os
import sysconfig

from ironic_keylime.conf import CONF
from ironic_keylime.drivers.modules.keylime import metrics
from ironic_keylime.keylime_client import ek_check as kl_ek_check
from ironic_keylime.keylime_client import enroll as kl_enroll
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.keylime_client import verifier as kl_verifier

#: How the clients name our options in their messages.
SETTING_NAMES = {'path': '[keylime]tenant_path',
                 'cert_dir': '[keylime]tenant_cert_dir',
                 'config': '[keylime]tenant_config',
                 'timeout': '[keylime]command_timeout',
                 'ek_check_script': '[keylime]ek_check_script',
                 'max_output': '[keylime]max_tenant_output_size',
                 'max_answer': '[keylime]max_verifier_answer_size'}


def ek_check_script():
    """The ``ironic-keylime-ek-check`` command the tenant runs.

    ``[keylime]ek_check_script``, or the command installed with
    ironic-keylime beside the conductor's Python.
    """
    return CONF.keylime.ek_check_script or os.path.join(
        sysconfig.get_path('scripts'), kl_ek_check.COMMAND)


def tenant():
    """The conductor's keylime_tenant."""
    return kl_tenant.Tenant(path=CONF.keylime.tenant_path,
                            config=CONF.keylime.tenant_config,
                            cert_dir=CONF.keylime.tenant_cert_dir,
                            timeout=CONF.keylime.command_timeout,
                            setting_names=SETTING_NAMES,
                            ek_check_script=ek_check_script(),
                            max_output=CONF.keylime.max_tenant_output_size
                            * 1024)


def uses_rest():
    """Whether verdicts are read and agents removed over REST."""
    return CONF.keylime.verifier_api == 'rest'


def rest_client(verifier):
    """The REST client of a verifier (kept between calls).

    :param verifier: the verifier's :class:`tenant.Endpoint`.
    :raises: KeylimeError if its certificates cannot be used.
    """
    return kl_verifier.get_client(
        verifier.host, verifier.port,
        cert_dir=CONF.keylime.tenant_cert_dir or None,
        tenant_config=CONF.keylime.tenant_config or None,
        timeout=CONF.keylime.command_timeout,
        setting_names=SETTING_NAMES,
        max_answer=CONF.keylime.max_verifier_answer_size * 1024 * 1024)


def uses_runtime_policy():
    """Whether the lists go to Keylime as a runtime policy.

    Over REST always (Keylime 7.14 takes nothing else); with the tenant
    as ``[keylime]policy_format`` and the tenant's help say.

    :raises: KeylimeError for ``policy_format = legacy`` with REST.
    """
    if uses_rest():
        if CONF.keylime.policy_format == kl_tenant.POLICY_LEGACY:
            raise kl_exception.KeylimeError(
                '[keylime]policy_format is "legacy" while '
                '[keylime]verifier_api is "rest": the legacy lists go '
                'through keylime_tenant only. Set policy_format to auto '
                'or runtime-policy, or verifier_api to tenant.')
        return True
    return tenant().uses_runtime_policy(CONF.keylime.policy_format)


def add_agent(enrollment):
    """Add an agent to the verifier: by the tenant or over REST.

    :param enrollment: a :class:`kl_enroll.Enrollment`.
    :raises: KeylimeError (a subclass naming the cause).
    """
    if uses_rest():
        return rest_client(enrollment.verifier).add(
            enrollment.agent_uuid, kl_enroll.body(enrollment))
    return tenant().add(enrollment.agent_uuid, enrollment.agent,
                        enrollment.verifier, enrollment.registrar,
                        enrollment.lists, tpm_policy=enrollment.tpm_policy,
                        mb_policy=enrollment.mb_policy,
                        ek_sha256=enrollment.ek_sha256)


@metrics.timed('read_status')
def read_status(agent_uuid, verifier, registrar, since):
    """The verifier's verdict on an agent.

    :param agent_uuid: the agent's UUID.
    :param verifier: the verifier's :class:`tenant.Endpoint`.
    :param registrar: the registrar's :class:`tenant.Endpoint`.
    :param since: when the attempt started (PASS needs a quote verified
        after it).
    :returns: :class:`ironic_keylime.keylime_client.status.AgentStatus`.
    :raises: KeylimeError naming the cause.
    """
    if uses_rest():
        return rest_client(verifier).status(agent_uuid, since=since)
    return tenant().status(agent_uuid, verifier, registrar, since=since)


@metrics.timed('remove_agent')
def remove_agent(agent_uuid, verifier):
    """Remove an agent from the verifier (an unknown agent is fine).

    :raises: KeylimeError when the verifier may still hold it.
    """
    if uses_rest():
        return rest_client(verifier).delete(agent_uuid)
    return tenant().delete(agent_uuid, verifier)


@metrics.timed('request_removal')
def request_removal(agent_uuid, verifier):
    """Ask the verifier to remove an agent, without waiting for it.

    With REST, a DELETE whose 202 (the verifier is attesting the agent
    and removes it when that attestation ends) is not waited for. The
    tenant has no such delete: it is run to its end (it waits until the
    verifier has terminated the agent), and each check of a removal in
    progress would cost another tenant process.

    :returns: True when the agent is gone, False when its removal is in
        progress (confirm it later with :func:`removal_state`).
    :raises: KeylimeError when the verifier refused or did not answer.
    """
    if uses_rest():
        return rest_client(verifier).delete(agent_uuid, wait=False)
    tenant().delete(agent_uuid, verifier)
    return True


@metrics.timed('removal_state')
def removal_state(agent_uuid, verifier):
    """Where the removal of an agent stands, read without side effects.

    :returns: ``kl_verifier.GONE``, ``TERMINATING`` or ``PRESENT``;
        always ``PRESENT`` with the tenant, which cannot tell without a
        process (the removal then runs :func:`request_removal`, which
        waits).
    :raises: KeylimeError when the verifier cannot be read.
    """
    if uses_rest():
        return rest_client(verifier).removal_state(agent_uuid)
    return kl_verifier.PRESENT
