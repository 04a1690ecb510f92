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

"""What is enrolled with the verifier, and its REST body.

An :class:`Enrollment` says everything an ``add`` sends: the agent and
its endpoint, the verifier and registrar, the verified lists, the TPM
and measured-boot policies, and the registrar read that was checked. The
tenant client turns it into arguments (:meth:`.tenant.Tenant.add`), the
REST client into the body :func:`body` builds, the one Keylime 7.14.3's
``keylime_tenant -c add`` sends (``keylime/tenant.py`` ``do_cvadd``, its
policies encoded as ``keylime/cli/policies.py`` ``process_policy`` does).
"""

import base64
import collections
import hashlib
import json

from ironic_keylime.keylime_client import exception

Enrollment = collections.namedtuple(
    'Enrollment', ['agent_uuid', 'agent', 'verifier', 'registrar', 'lists',
                   'tpm_policy', 'mb_policy', 'ek_sha256', 'identity'])
Enrollment.__doc__ = """One agent's enrollment with the verifier.

:ivar agent_uuid: the agent's UUID.
:ivar agent: the agent's :class:`.tenant.Endpoint`.
:ivar verifier: the verifier's :class:`.tenant.Endpoint`.
:ivar registrar: the registrar's :class:`.tenant.Endpoint`.
:ivar lists: the verified lists
    (:class:`ironic_keylime.lists.prepare.PreparedLists`).
:ivar tpm_policy: JSON text ``{"<pcr>": ["<digest>", ...]}``, or None.
:ivar mb_policy: the path of a measured-boot policy file, or None.
:ivar ek_sha256: the EK fingerprint the tenant's own registrar read must
    have, or None not to check it.
:ivar identity: the checked :class:`.registrar.AgentIdentity` (its
    ``aik_tpm`` and ``mtls_cert`` go to the verifier over REST), or None.
"""

#: Keylime's IMA PCR and the PCRs of measured boot (keylime/config.py).
IMA_PCR = 10
DATA_PCR = 16
MEASUREDBOOT_PCRS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15)
#: The tenant's defaults of the algorithms it accepts (7.14.3 tenant.conf).
ACCEPTED_ALGORITHMS = {
    'accept_tpm_hash_algs': ['sha512', 'sha384', 'sha256'],
    'accept_tpm_encryption_algs': ['ecc', 'rsa'],
    'accept_tpm_signing_algs': ['ecschnorr', 'rsassa'],
}


def _error(text):
    return exception.KeylimeError('Cannot enroll the agent over REST: %s'
                                  % text)


def tpm_policy_field(tpm_policy, runtime_policy=True, mb_policy=False):
    """The ``tpm_policy`` field, as the tenant encodes it.

    :param tpm_policy: JSON text ``{"<pcr>": [digests]}``, or None.
    :param runtime_policy: whether a runtime policy is sent (adds the IMA
        PCR to the mask).
    :param mb_policy: whether a measured-boot policy is sent (adds the
        measured-boot PCRs to the mask; none may be in the policy).
    :returns: JSON text with the digests in lower case and ``mask``.
    :raises: KeylimeError for a PCR the tenant would refuse.
    """
    try:
        policy = json.loads(tpm_policy or '{}')
    except ValueError as e:
        raise _error('the TPM policy is not JSON (%s).' % e)
    if not isinstance(policy, dict):
        raise _error('the TPM policy is not a JSON object.')
    mask = 0
    for key in list(policy):
        if not key.isdigit() or int(key) > 24 or int(key) in (
                DATA_PCR, IMA_PCR):
            raise _error('the TPM policy names PCR %r, which Keylime does '
                         'not accept there.' % key)
        if mb_policy and int(key) in MEASUREDBOOT_PCRS:
            raise _error('the TPM policy names PCR %s, which the '
                         'measured-boot policy checks.' % key)
        values = policy[key]
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(
                isinstance(v, str) for v in values):
            raise _error('the TPM policy of PCR %s is not a list of '
                         'digests.' % key)
        policy[key] = [v.lower() for v in values]
        mask |= 1 << int(key)
    if runtime_policy:
        mask |= 1 << IMA_PCR
    if mb_policy:
        for pcr in MEASUREDBOOT_PCRS:
            mask |= 1 << pcr
    policy['mask'] = hex(mask)
    return json.dumps(policy)


def _read(path, what):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise _error('the %s %s cannot be read (%s).' % (what, path, e))


def runtime_policy_field(lists):
    """The ``runtime_policy`` field: the file, checked, in base64.

    :param lists: the prepared lists, with a runtime policy.
    :raises: KeylimeError without a runtime policy, or when the file no
        longer has its digest.
    """
    if not lists.runtime_policy:
        raise _error('no runtime policy was built; the legacy allowlist '
                     'and excludelist go through keylime_tenant only (set '
                     '[keylime]policy_format to runtime-policy or auto).')
    data = _read(lists.runtime_policy, 'runtime policy')
    if hashlib.sha256(data).hexdigest() != lists.runtime_policy_sha256:
        raise _error('the runtime policy %s changed after it was checked.'
                     % lists.runtime_policy)
    return base64.b64encode(data).decode('ascii')


def mb_policy_field(path):
    """The ``mb_policy`` field: the policy's JSON, or None."""
    if path is None:
        return None
    try:
        return json.dumps(json.loads(_read(path, 'measured-boot policy')))
    except ValueError as e:
        raise _error('the measured-boot policy %s is not JSON (%s).'
                     % (path, e))


def body(enrollment, algorithms=None):
    """The body of ``POST /v{ver}/agents/{uuid}``.

    :param enrollment: an :class:`Enrollment` with an ``identity``.
    :param algorithms: the ``accept_tpm_*`` lists, or None for
        :data:`ACCEPTED_ALGORITHMS`.
    :returns: a dict.
    :raises: KeylimeError naming what cannot be sent.
    """
    identity = enrollment.identity
    if identity is None or not identity.aik_tpm:
        raise _error('no attestation key was read from the registrar.')
    return dict(
        algorithms or ACCEPTED_ALGORITHMS,
        v=None,
        cloudagent_ip=enrollment.agent.host,
        cloudagent_port=int(enrollment.agent.port),
        verifier_ip=enrollment.verifier.host,
        verifier_port=int(enrollment.verifier.port),
        tpm_policy=tpm_policy_field(enrollment.tpm_policy,
                                    runtime_policy=True,
                                    mb_policy=enrollment.mb_policy
                                    is not None),
        runtime_policy=runtime_policy_field(enrollment.lists),
        runtime_policy_name='',
        runtime_policy_key='',
        mb_policy=mb_policy_field(enrollment.mb_policy),
        mb_policy_name='',
        ima_sign_verification_keys='',
        metadata=json.dumps({}),
        revocation_key='',
        ak_tpm=identity.aik_tpm,
        mtls_cert=identity.mtls_cert,
        # None: the verifier negotiates the agent's API version on its
        # first contact (7.14's update_agent_api_version).
        supported_version=None)
