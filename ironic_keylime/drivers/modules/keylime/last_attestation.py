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

"""What a node remembers of its last attestation and enrollment.

The record of an attempt (:mod:`.record`) is dropped once its verdict is
acted on, and node history is capped and can be turned off. Each verdict
acted on therefore leaves ``driver_internal_info/keylime_last_attestation``
and each enrollment ``driver_internal_info/keylime_last_enrollment``; both
survive the end of the operation and are replaced by the next one. The
operators' ``openstack baremetal node attestation show`` and ``list``
commands read them; their fields are an interface (see the admin guide,
"Day two").

Written by the conductor alone, from what the conductor sent and what the
verifier answered: nothing the ramdisk reported is copied here unchecked.
"""

import hashlib

from oslo_utils import timeutils

from ironic_keylime.drivers.modules.keylime import metrics
from ironic_keylime.drivers.modules.keylime import record as record_

#: driver_internal_info key of the last verdict acted on.
ATTESTATION_KEY = 'keylime_last_attestation'
#: driver_internal_info key of the last enrollment of a golden boot state.
ENROLLMENT_KEY = 'keylime_last_enrollment'

PASS = 'PASS'
FAIL = 'FAIL'
TIMEOUT = 'timeout'
ERROR = 'error'
VERDICTS = (PASS, FAIL, TIMEOUT, ERROR)

#: The longest message kept (the whole one is in last_error or history).
MAX_MESSAGE = 2000


def digest(text):
    """SHA-256 (hex) of a policy as sent, or None when none was sent.

    :param text: a str or bytes, or None.
    """
    if text is None:
        return None
    if isinstance(text, str):
        text = text.encode('utf-8')
    return hashlib.sha256(text).hexdigest()


def file_digest(path):
    """SHA-256 (hex) of a file the conductor wrote and sent, or None."""
    if not path:
        return None
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def golden_state(node, tpm_policy, mb_policy_path):
    """What an attempt is checked against, for its attempt record.

    :param node: the node.
    :param tpm_policy: the TPM policy sent (JSON text), or None.
    :param mb_policy_path: the measured-boot policy file sent, or None.
    :returns: a dict of digests and the enrollment time.
    """
    enrollment = (node.driver_internal_info or {}).get(ENROLLMENT_KEY) or {}
    return {'tpm_policy_sha256': digest(tpm_policy),
            'mb_policy_sha256': file_digest(mb_policy_path),
            'enrolled_at': enrollment.get('at')}


def remember_verdict(node, attempt, verdict, message, event_id=None,
                     ek_sha256=None):
    """Keep the verdict acted on and count it (the caller saves the node).

    :param node: the node.
    :param attempt: the attempt's record (:func:`.record.new`), or None
        when no attempt was in progress.
    :param verdict: one of :data:`VERDICTS`.
    :param message: the message put in last_error or node history.
    :param event_id: Keylime's last event id of a FAIL, or None.
    :param ek_sha256: the EK fingerprint seen for the agent, or None.
    """
    attempt = attempt or {}
    verifier = attempt.get('verifier')
    operation = attempt.get('operation') or record_.operation_of(node).name
    seconds = (record_.elapsed(attempt) if attempt.get('started_at')
               else None)
    metrics.verdict(operation, verdict, seconds)
    node.set_driver_internal_info(ATTESTATION_KEY, {
        'verdict': verdict,
        'at': timeutils.utcnow().isoformat(),
        'operation': operation,
        'step': record_.STEP['step'],
        'attempt': attempt.get('attempt'),
        'verifier': ('%s:%s' % tuple(verifier)) if verifier else None,
        'event_id': event_id,
        'message': message[:MAX_MESSAGE],
        'golden_state': attempt.get('golden_state') or {},
        'ek_sha256': ek_sha256 or attempt.get('ek_seen'),
    })


def remember_enrollment(node, pcrs, tpm_policy, boot_aggregate,
                        mb_policy_sha256):
    """Keep what an enrollment recorded (the caller saves the node).

    :param node: the node.
    :param pcrs: the PCRs enrolled (ints or strings).
    :param tpm_policy: the TPM policy recorded (JSON text).
    :param boot_aggregate: the IMA boot_aggregate recorded, or None.
    :param mb_policy_sha256: the pin of the measured-boot policy, or None.
    """
    node.set_driver_internal_info(ENROLLMENT_KEY, {
        'at': timeutils.utcnow().isoformat(),
        'pcrs': sorted(int(p) for p in pcrs),
        'tpm_policy_sha256': digest(tpm_policy),
        'boot_aggregate': boot_aggregate,
        'mb_policy_sha256': mb_policy_sha256,
    })
