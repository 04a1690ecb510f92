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

A state that the verifier calls a pass (3 to 6) is not enough: the verifier
sets "Get Quote" as soon as the agent is added, and keeps it while it
retries an agent that does not answer. A PASS also needs evidence that the
verifier has verified at least one quote of this attempt: an
``attestation_count`` of 1 or more (verifiers of Keylime 6.5 and newer), or,
where the verifier reports no count, a ``last_successful_attestation`` or
``last_received_quote`` later than the attempt's start. Without it the
verdict is PENDING. Every field is checked for its type: output of another
shape is an :class:`UnparsableOutput` error, never a verdict.
"""

import collections
import datetime
import json
import numbers
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
    ['verdict', 'state', 'last_event_id', 'attestation_count',
     'last_received_quote', 'last_successful_attestation'])
AgentStatus.__new__.__defaults__ = (None, None)
AgentStatus.__doc__ = """The verifier's view of one agent.

:ivar verdict: ``PASS``, ``FAIL`` or ``PENDING``.
:ivar state: the operational state by name, e.g. ``Invalid Quote``.
:ivar last_event_id: Keylime's last failure event, e.g.
    ``ima.validation.ima-ng.not_in_allowlist``, or None.
:ivar attestation_count: successful attestations so far, or None when the
    verifier does not report it (before Keylime 6.5).
:ivar last_received_quote: when the verifier last received a quote, in
    seconds since the epoch on the verifier's clock, or None when it does
    not report it; 0 means never.
:ivar last_successful_attestation: when a quote last passed, the same way
    (Keylime 7.0 and newer).
"""

_AGENT_STATUS_RE = re.compile(r'Agent Status:\s*"?(?P<state>[^"]+?)"?\s*$')
_AGENT_INFO_RE = re.compile(r'Agent Info(?: from (?P<source>\w+))?\b.*:\s*$')
_DIGITS_RE = re.compile(r'^[0-9]+$')
#: Who reports the records read from the tenant's output.
TENANT = 'keylime_tenant'


def state_code(state, source=TENANT):
    """Return the numeric code of an operational state.

    :param state: a code (``int`` or digits) or a state name.
    :param source: who reported it, for the message.
    :raises: UnparsableOutput for an unknown state.
    """
    if isinstance(state, int) and not isinstance(state, bool):
        if state in STATE_NAMES:
            return state
    elif isinstance(state, str):
        text = state.strip()
        if _DIGITS_RE.match(text) and int(text) in STATE_NAMES:
            return int(text)
        if text.lower() in _STATE_CODES:
            return _STATE_CODES[text.lower()]
    raise exception.UnparsableOutput(
        '%s reported an unknown operational state %r.' % (source, state))


def verdict_for_state(code):
    """Map an operational state code to PASS, FAIL or PENDING."""
    if code in _PASS_STATES:
        return PASS
    if code in _FAIL_STATES:
        return FAIL
    return PENDING


def _worst(*verdicts):
    return max(verdicts, key=lambda v: _SEVERITY[v])


def _epoch(since):
    """Seconds since the epoch of a start time, or None."""
    if since is None:
        return None
    if isinstance(since, datetime.datetime):
        if since.tzinfo is None:
            # Naive times are UTC, as oslo_utils.timeutils makes them.
            since = since.replace(tzinfo=datetime.timezone.utc)
        return since.timestamp()
    if isinstance(since, numbers.Real) and not isinstance(since, bool):
        return float(since)
    raise TypeError('since must be a datetime or seconds since the epoch, '
                    'not %r' % (since,))


def _number(record, name, source, integer=False):
    """A non-negative number of the record, or None when it is absent.

    :raises: UnparsableOutput when the value is of another type.
    """
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int) and value >= 0:
        return value
    elif (not integer and isinstance(value, float)
          and 0 <= value < float('inf')):
        return value
    raise exception.UnparsableOutput(
        '%(source)s reported %(name)s %(value)r, which is not a '
        'non-negative %(kind)s.' %
        {'name': name, 'value': value, 'source': source,
         'kind': 'integer' if integer else 'number'})


def _text(record, name, source):
    value = record.get(name)
    if value is None or isinstance(value, str):
        return value
    raise exception.UnparsableOutput(
        '%(source)s reported %(name)s %(value)r, which is not a '
        'string.' % {'name': name, 'value': value, 'source': source})


def _quote_verified(count, received, successful, since):
    """Whether the verifier has verified a quote of this attempt."""
    if count is not None:
        # The verifier's own count of verified quotes; it starts at 0
        # when the agent is added.
        return count >= 1
    if since is None:
        return False
    # No count: a quote the verifier received after the attempt began.
    stamp = successful if successful is not None else received
    return stamp is not None and stamp > since


def status_from_record(record, since=None, source=TENANT):
    """Build an :class:`AgentStatus` from a verifier agent record.

    :param record: the dict the verifier returns for one agent.
    :param since: when this attempt started (the agent was added), as a
        ``datetime`` (naive means UTC) or seconds since the epoch; or None.
        Only used when the verifier reports no ``attestation_count``: a
        quote received after it is then the evidence a PASS needs. With
        None, such a verifier never gives a PASS.
    :param source: who reported the record, for messages: the tenant by
        default, e.g. ``the Keylime verifier at 10.0.0.1:8881`` for a
        record read from the verifier's REST API.
    :returns: an :class:`AgentStatus`; its verdict is PASS only when the
        state is a pass and the verifier has verified a quote.
    :raises: UnparsableOutput if the record has no operational state, or a
        field of an unknown value or of the wrong type.
    """
    if not isinstance(record, dict) or 'operational_state' not in record:
        raise exception.UnparsableOutput(
            'The agent record reported by %s has no operational_state.'
            % source)
    code = state_code(record['operational_state'], source)
    verdict = verdict_for_state(code)
    reported = _text(record, 'attestation_status', source)
    if reported is not None:
        if reported.upper() not in _SEVERITY:
            raise exception.UnparsableOutput(
                '%s reported an unknown attestation_status %r.'
                % (source, reported))
        verdict = _worst(verdict, reported.upper())
    count = _number(record, 'attestation_count', source, integer=True)
    received = _number(record, 'last_received_quote', source)
    successful = _number(record, 'last_successful_attestation', source)
    if verdict == PASS and not _quote_verified(count, received, successful,
                                               _epoch(since)):
        # No evidence that a quote was verified: not a pass (yet).
        verdict = PENDING
    return AgentStatus(verdict=verdict,
                       state=STATE_NAMES[code],
                       last_event_id=_text(record, 'last_event_id', source),
                       attestation_count=count,
                       last_received_quote=received,
                       last_successful_attestation=successful)


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


def parse_status(output, uuid, since=None):
    """Read the verdict of one agent from ``keylime_tenant -c status``.

    :param output: the tenant's stdout (``str``).
    :param uuid: the agent UUID asked about (``str``).
    :param since: when this attempt started: see
        :func:`status_from_record`.
    :returns: an :class:`AgentStatus`.
    :raises: UnparsableOutput if the output holds no verdict, or one of an
        unknown shape, or if ``uuid`` is not a string.
    """
    if not isinstance(uuid, str):
        raise exception.UnparsableOutput(
            'The agent UUID %r is not a string.' % (uuid,))
    records = list(_verifier_records(output.splitlines(), uuid))
    if not records:
        raise exception.UnparsableOutput(
            'The output of keylime_tenant -c status for agent %s holds no '
            'verdict of the verifier in a format we know.' % uuid)
    return status_from_record(records[-1], since=since)
