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


"""What Keylime's failure events say about the TPM policy.

The verifier names its last failure in ``last_event_id``: the component,
then the event (``keylime/failure.py``), e.g. in Keylime 7.14.3
``pcr_validation.invalid_pcr_0`` for a PCR whose quoted value is not in
the agent's ``tpm_policy``, ``pcr_validation.missing_pcrs`` for PCRs of
the policy missing from the quote, and ``measured_boot.invalid_pcr_0``
for a PCR that does not match the measured-boot event log. With a
measured-boot policy (``mb_policy``) the verifier also reports
``pcr_validation.unused_pcr_0`` when the agent sent no event log,
``measured_boot.policy_<name>`` when the event log breaks the policy
(evaluated by the verifier's ``[verifier]measured_boot_policy_name``),
and ``measured_boot.parser.*`` when it cannot parse the log.
"""

import re

_PCR_EVENT_RE = re.compile(
    r'^(?P<component>pcr_validation|measured_boot)\.(?:[\w.]*\.)?'
    r'(?P<event>invalid_pcr|unused_pcr)_(?P<pcr>\d+)$')
_MISSING_PCRS = 'pcr_validation.missing_pcrs'
#: Keylime's config.TPM_DATA_PCR.
_DATA_PCR = 16


def pcr_failure(event_id):
    """Describe a failure event about a PCR, naming the PCR.

    :param event_id: Keylime's ``last_event_id``, or None.
    :returns: a sentence naming the PCR and what is wrong with it, or
        None when the event is not about a PCR.
    """
    if not event_id:
        return None
    event_id = str(event_id).strip()
    if event_id == _MISSING_PCRS:
        return ('the TPM quote lacks PCRs of the TPM policy (the TPM does '
                'not have them, or does not allocate their bank)')
    match = _PCR_EVENT_RE.match(event_id)
    if not match:
        return None
    pcr = int(match.group('pcr'))
    if pcr == _DATA_PCR:
        return ('PCR %d, where the agent binds the verifier\'s data, does '
                'not hold the expected value' % pcr)
    if match.group('component') == 'measured_boot':
        return ('PCR %d does not match the boot event log the agent sent'
                % pcr)
    if match.group('event') == 'unused_pcr':
        return ('PCR %d is covered by the measured-boot policy, but the '
                'agent sent no UEFI event log' % pcr)
    return 'PCR %d differs from every value the TPM policy allows' % pcr


def policy_event(engine):
    """The event id of a boot a measured-boot policy engine refused.

    :param engine: the engine's name (``[verifier]
        measured_boot_policy_name``).
    """
    return 'measured_boot.policy_%s' % engine


def measured_boot_failure(event_id):
    """Describe a failure event of the measured-boot policy.

    :param event_id: Keylime's ``last_event_id``, or None.
    :returns: a sentence saying what failed, or None when the event is
        not about the measured-boot policy.
    """
    event_id = str(event_id or '').strip()
    if not event_id.startswith('measured_boot.'):
        match = _PCR_EVENT_RE.match(event_id)
        if match and match.group('event') == 'unused_pcr':
            return pcr_failure(event_id)
        return None
    event = event_id[len('measured_boot.'):]
    if event.startswith('policy_'):
        return ('the UEFI event log breaks the measured-boot policy '
                '(Keylime\'s policy engine %s)' % event[len('policy_'):])
    if event.startswith('parser.'):
        return 'the verifier could not parse the agent\'s UEFI event log'
    if event == 'missing_pcrs':
        return ('the TPM quote lacks PCRs that the measured-boot policy '
                'needs')
    return pcr_failure(event_id) or ('the measured-boot policy failed '
                                     '(%s)' % event_id)


def missing_event_log(event_id):
    """Whether a failure event says the agent sent no UEFI event log.

    :param event_id: Keylime's ``last_event_id``, or None.
    """
    match = _PCR_EVENT_RE.match(str(event_id or '').strip())
    return bool(match and match.group('event') == 'unused_pcr')
