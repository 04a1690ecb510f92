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

"""Verdicts from the output of ``keylime_tenant -c status``.

The tenant prints everything, log lines included, on stdout, and its exit
code says little (before Keylime 7.4 failures exited 0; in 7.14 an
"Invalid Quote" still exits 0). The verdict is therefore read from the
agent record the tenant prints, in each of the formats of the tenants we
support:

* Keylime 6.2 and older: ``Agent Status: "<state>"``;
* Keylime 6.3 to 7.4: a line ending in ``Agent Info:``, the JSON record on
  the next line;
* Keylime 7.5 and newer: ``Agent Info from Verifier (<ip>:<port>):``, the
  JSON record on the next line (the registrar's record, printed before it
  with ``from Registrar``, is not a verdict).

States map to verdicts as the verifier maps them
(``keylime/common/states.py``); Keylime 7.14 and newer also print the
verifier's own ``attestation_status``, which wins when it is worse.
"""

import collections
import json
import re

from ironic_keylime.keylime_client import exception

PASS = 'PASS'
FAIL = 'FAIL'
PENDING = 'PENDING'

#: Keylime's operational states (keylime/common/states.py).
STATE_NAMES = {
    0: 'Registered',
    1: 'Start',
    2: 'Saved',
    3: 'Get Quote',
    4: 'Get Quote (retry)',
    5: 'Provide V',
    6: 'Provide V (retry)',
    7: 'Failed',
    8: 'Terminated',
    9: 'Invalid Quote',
    10: 'Tenant Quote Failed',
}
_PASS_STATES = {3, 4, 5, 6}
_FAIL_STATES = {7, 9, 10}
_STATE_CODES = {name.lower(): code for code, name in STATE_NAMES.items()}
_SEVERITY = {PASS: 0, PENDING: 1, FAIL: 2}

AgentStatus = collections.namedtuple(
    'AgentStatus',
    ['verdict', 'state', 'last_event_id', 'attestation_count'])
AgentStatus.__doc__ = """The verifier's view of one agent.

:ivar verdict: ``PASS``, ``FAIL`` or ``PENDING``.
:ivar state: the operational state by name, e.g. ``Invalid Quote``.
:ivar last_event_id: Keylime's last failure event, e.g.
    ``ima.validation.ima-ng.not_in_allowlist``, or None.
:ivar attestation_count: successful attestations so far, or None when the
    verifier does not report it.
"""

_AGENT_STATUS_RE = re.compile(r'Agent Status:\s*"?(?P<state>[^"]+?)"?\s*$')
_AGENT_INFO_RE = re.compile(r'Agent Info(?: from (?P<source>\w+))?\b.*:\s*$')


def state_code(state):
    """Return the numeric code of an operational state.

    :param state: a code (``int`` or digits) or a state name.
    :raises: UnparsableOutput for an unknown state.
    """
    if isinstance(state, int) and state in STATE_NAMES:
        return state
    text = str(state).strip()
    if text.isdigit() and int(text) in STATE_NAMES:
        return int(text)
    try:
        return _STATE_CODES[text.lower()]
    except KeyError:
        raise exception.UnparsableOutput(
            'keylime_tenant reported an unknown operational state %r.'
            % state)


def verdict_for_state(code):
    """Map an operational state code to PASS, FAIL or PENDING."""
    if code in _PASS_STATES:
        return PASS
    if code in _FAIL_STATES:
        return FAIL
    return PENDING


def _worst(*verdicts):
    return max(verdicts, key=lambda v: _SEVERITY[v])


def status_from_record(record):
    """Build an :class:`AgentStatus` from a verifier agent record.

    :param record: the dict the verifier returns for one agent.
    :raises: UnparsableOutput if the record has no operational state.
    """
    if 'operational_state' not in record:
        raise exception.UnparsableOutput(
            'The agent record printed by keylime_tenant has no '
            'operational_state.')
    code = state_code(record['operational_state'])
    verdict = verdict_for_state(code)
    reported = record.get('attestation_status')
    if reported is not None:
        reported = str(reported).upper()
        if reported not in _SEVERITY:
            raise exception.UnparsableOutput(
                'keylime_tenant reported an unknown attestation_status %r.'
                % record['attestation_status'])
        verdict = _worst(verdict, reported)
    count = record.get('attestation_count')
    if verdict == PASS and count is not None and int(count) < 1:
        # No quote has been verified yet: not a pass.
        verdict = PENDING
    return AgentStatus(verdict=verdict,
                       state=STATE_NAMES[code],
                       last_event_id=record.get('last_event_id'),
                       attestation_count=count)


def _verifier_records(lines, uuid):
    """Yield the verifier's agent records found in tenant output."""
    for index, line in enumerate(lines):
        match = _AGENT_STATUS_RE.search(line)
        if match:
            yield {'operational_state': match.group('state')}
            continue
        match = _AGENT_INFO_RE.search(line)
        if not match or index + 1 >= len(lines):
            continue
        source = match.group('source')
        if source and source.lower() != 'verifier':
            continue
        try:
            data = json.loads(lines[index + 1])
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        record = data.get(uuid, data)
        if not isinstance(record, dict) or 'aik_tpm' in record:
            # The registrar's record (Keylime before 7.5 does not label
            # it): not a verdict.
            continue
        yield record


def parse_status(output, uuid):
    """Read the verdict of one agent from ``keylime_tenant -c status``.

    :param output: the tenant's stdout (``str``).
    :param uuid: the agent UUID asked about.
    :returns: an :class:`AgentStatus`.
    :raises: UnparsableOutput if the output holds no verdict.
    """
    records = list(_verifier_records(output.splitlines(), uuid))
    if not records:
        raise exception.UnparsableOutput(
            'The output of keylime_tenant -c status for agent %s holds no '
            'verdict of the verifier in a format we know.' % uuid)
    return status_from_record(records[-1])
