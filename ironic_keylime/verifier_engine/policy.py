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

"""The ``ironic-keylime`` measured-boot policy engine for Keylime's verifier.

Imported by the verifier (``[verifier]measured_boot_imports``), it
registers itself under :data:`NAME`; ``[verifier]measured_boot_policy_name
= ironic-keylime`` makes the verifier use it. For every quote whose UEFI
event log the verifier replayed against PCRs 0-9, it compares the log's
events with the golden boot's (:mod:`ironic_keylime.boot_events.compare`)
and refuses the boot, naming what changed, when they differ.

The measured-boot policy (Keylime's "refstate") that ironic-keylime sends
is a JSON object::

    {"ironic_keylime_boot_policy": 1,
     "golden_events": [{"pcr": 0, "type": "EV_S_CRTM_VERSION",
                        "sha256": "<hex>", "text": null}, ...],
     "per_boot_parameters": {"ipa-global-request-id": "req-[0-9a-f-]{36}"},
     "kernel_command_lines": ["<this boot's command line>"]}

``kernel_command_lines`` (optional) is what the node's ramdisk reports
for the boot being attested; the comparison believes one only where it
hashes to the digest the kernel's EFI stub measured.

Any other policy is refused: a verifier running this engine never passes
a node on a policy it does not understand.
"""

from keylime.mba.elchecking import policies
from keylime.mba.elchecking import tests

from ironic_keylime.boot_events import compare
from ironic_keylime.boot_events import policy as golden_policy
from ironic_keylime.verifier_engine import boot_aggregates

NAME = golden_policy.ENGINE


def _sha256(event):
    for digest in event.get('Digests') or []:
        if str(digest.get('AlgorithmId', '')).lower() == 'sha256':
            return str(digest.get('Digest', ''))
    return None


#: How tpm2-tools' ``tpm2_eventlog`` (5.4), which Keylime's verifier uses
#: to parse the log, writes a line break of an ``EV_IPL`` string (GRUB's
#: multi-line ``menuentry`` commands).
_YAML_LINE_BREAK = '"\n"'


def _data(event):
    """An event's text as it was measured, from tpm2-tools' rendering.

    A text rendered another way would not hash to the event's digest: the
    comparison then refuses the boot (never the other way round).
    """
    data = event.get('Event')
    if isinstance(data, dict):
        data = data.get('String')
    if not isinstance(data, str):
        return None
    return data.replace(_YAML_LINE_BREAK, '\n')


def events_of(eventlog):
    """The events of an event log as Keylime's verifier parsed it.

    :param eventlog: Keylime's parsed log (``{"events": [...]}``, from
        tpm2-tools' ``tpm2_eventlog``).
    :returns: events in :func:`ironic_keylime.boot_events.compare.
        normalize`'s form.
    :raises: ValueError when the log has no events list.
    """
    events = eventlog.get('events') if isinstance(eventlog, dict) else None
    if not isinstance(events, list):
        raise ValueError('the event log has no list of events')
    return [compare.normalize(e.get('PCRIndex'), e.get('EventType'),
                              _sha256(e), _data(e))
            for e in events if isinstance(e, dict)]


class GoldenBootTest(tests.Test):
    """The boot's events against the golden boot's."""

    def __init__(self, golden, parameters, command_lines=()):
        self.golden = golden
        self.parameters = parameters
        self.command_lines = command_lines

    def why_not(self, globs, subject):
        try:
            found = compare.differences(self.golden, events_of(subject),
                                        self.parameters, self.command_lines)
        except ValueError as e:
            return 'ironic-keylime: %s' % e
        if found:
            return 'ironic-keylime: ' + '; '.join(found)
        return ''


class GoldenBootPolicy(policies.Policy):
    """Keylime's policy interface over :class:`GoldenBootTest`."""

    def get_relevant_pcrs(self):
        return frozenset(compare.PCRS)

    def refstate_to_test(self, refstate):
        return GoldenBootTest(*golden_policy.check(refstate))


policies.register(NAME, GoldenBootPolicy())
# Keylime computes no 10-PCR boot aggregate for a log without events in
# PCR 8 or 9 (the EFI stub's path): see the module.
boot_aggregates.install()
