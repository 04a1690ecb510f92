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

"""Ask a verifier which measured-boot engine it runs, by its answers.

Keylime's verifier checks a measured-boot policy with the engine its
configuration names (``[verifier]measured_boot_policy_name``) and tells no
client which one; its default, ``accept-all``, ignores every policy
(Keylime issue #1932). A policy that only one engine refuses tells them
apart: :func:`probe` gets a fresh quote and UEFI event log from the node's
own agent (PCRs 0-9, no IMA log: the agent's IMA offset is not moved),
sends them to the verifier's one-shot ``POST /v2.x/verify/evidence`` with
a *canary* policy, and reads which failures the verifier reports. The
engine named is running only if the verifier refused the canary with that
engine's event (``measured_boot.policy_<engine>``). Keylime 7.14.3
evaluates a measured-boot policy in a one-shot check only with
``[verifier]measured_boot_evaluate = always`` (with ``once`` it evaluates
an agent's first quote only, and a one-shot check is none): the verifier
must be set so.

The agent is reached as the verifier reaches it: mutual TLS with the
tenant's client certificate, the agent's own certificate (from the
registrar read that was checked) the only one trusted.

This module knows nothing of Ironic.
"""

import os
import secrets
import tempfile

from ironic_keylime.keylime_client import events
from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import https
from ironic_keylime.keylime_client import tls

#: PCRs 0-9: the first measured-boot PCR makes the agent send its event
#: log; PCR 10 (IMA) is left out.
MASK = '0x3ff'
#: The agent API versions asked for, newest first (the 6.6 Python agent
#: speaks 2.1, the Rust agent 2.2 and newer).
AGENT_VERSIONS = ('2.2', '2.1', '2.0')


class EngineNotRunning(exception.KeylimeError):
    """The verifier does not run the measured-boot engine asked for."""


def _agent_quote(agent, nonce):
    """A quote of PCRs 0-9 with the agent's UEFI event log."""
    last = None
    for version in AGENT_VERSIONS:
        code, body = agent.request(
            'GET', '/v%s/quotes/integrity' % version,
            params={'nonce': nonce, 'mask': MASK, 'partial': '1'})
        if code == 200:
            results = body.get('results') or {}
            if not results.get('quote'):
                raise exception.UnparsableOutput(
                    'The Keylime agent at %s answered a quote request '
                    'without a quote.' % agent.address)
            return results
        last = (code, body)
    raise agent.failed('GET', '/v%s/quotes/integrity' % AGENT_VERSIONS[-1],
                       *last)


def _agent_connection(host, port, certs, mtls_cert, timeout, workdir):
    """A connection trusting only the agent's registered certificate."""
    path = os.path.join(workdir, 'agent-mtls.crt')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(mtls_cert)
    agent_certs = tls.Certificates(certs.client_cert, certs.client_key,
                                   (path,), certs.key_password)
    return https.Connection('agent', host, port, agent_certs,
                            timeout=timeout)


def probe(verifier, agent_host, agent_port, identity, canary, engine,
          timeout=60):
    """Check that ``verifier`` judges measured-boot policies with ``engine``.

    :param verifier: a :class:`.verifier.VerifierClient`.
    :param agent_host: the address of the node's agent.
    :param agent_port: its port.
    :param identity: the agent's :class:`.registrar.AgentIdentity` (the
        read that was checked): its EK, AK and mTLS certificate.
    :param canary: a measured-boot policy (JSON text) that ``engine``
        refuses whatever the boot.
    :param engine: the engine's name, e.g. ``ironic-keylime``.
    :param timeout: seconds each request may take.
    :returns: None when the verifier refused the canary with ``engine``'s
        event.
    :raises: EngineNotRunning naming what the verifier answered instead.
    :raises: KeylimeError when the agent or the verifier cannot be asked.
    """
    if not identity.mtls_cert:
        raise exception.KeylimeError(
            'The registrar holds no mTLS certificate for the Keylime agent: '
            'the verifier\'s measured-boot engine cannot be checked with a '
            'quote of the agent.')
    nonce = secrets.token_hex(10)
    with tempfile.TemporaryDirectory(prefix='ironic-keylime-probe-') as tmp:
        agent = _agent_connection(agent_host, agent_port, verifier.certs,
                                  identity.mtls_cert, timeout, tmp)
        try:
            results = _agent_quote(agent, nonce)
        finally:
            agent.close()
    if not results.get('mb_measurement_list'):
        raise EngineNotRunning(
            'The Keylime agent sent no UEFI event log with its quote: the '
            'verifier\'s measured-boot engine cannot be checked, and the '
            'node\'s boot cannot be compared with its golden events.')
    data = {'quote': results['quote'], 'nonce': nonce,
            'hash_alg': results.get('hash_alg') or 'sha256',
            'tpm_ek': identity.ek_tpm, 'tpm_ak': identity.aik_tpm,
            'tpm_policy': '{}', 'mb_policy': canary,
            'mb_log': results['mb_measurement_list']}
    failures = verifier.verify_evidence(data)
    expected = events.policy_event(engine)
    types = [str(f.get('type')) for f in failures if isinstance(f, dict)]
    if expected in types:
        return None
    raise EngineNotRunning(
        'The Keylime verifier at %(where)s does not judge measured-boot '
        'policies with the %(engine)s engine: it %(answer)s a policy that '
        'engine refuses. Its [verifier]measured_boot_policy_name is another '
        'engine (Keylime\'s default, accept-all, ignores every policy), or '
        'its measured_boot_evaluate is not "always" (a one-shot check is '
        'evaluated only then), so the node\'s boot cannot be shown to be '
        'compared with its golden events. Set measured_boot_imports = '
        '[\'ironic_keylime.verifier_engine.policy\'], '
        'measured_boot_policy_name = %(engine)s and measured_boot_evaluate '
        '= always on the verifier.' % {
            'where': verifier.address, 'engine': engine,
            'answer': ('refused, with %s,' % ', '.join(sorted(set(types)))
                       if types else 'accepted')})
