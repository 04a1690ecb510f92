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

"""What changed in a boot the verifier refused, in an operator's words.

Keylime's verifier gives the conductor a failure's event id only
(``measured_boot.policy_ironic-keylime``); the reason its ``ironic-keylime``
engine found is in the verifier's log. To put it on the node, the
conductor asks the running ramdisk for its UEFI event log once more and
compares it with the node's golden events by the engine's own rule
(:mod:`ironic_keylime.boot_events.compare`).

The ramdisk is not trusted: the verdict is the verifier's, and this only
words it. The text says where it comes from, and is bounded and made
printable (:mod:`ironic_keylime.common.untrusted`).
"""

from ironic.common import exception

from ironic_keylime.boot_events import compare
from ironic_keylime.boot_events import policy as golden_policy
from ironic_keylime.boot_events import tcg
from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.drivers.modules.keylime import mb_state
from ironic_keylime.keylime_client import events as kl_events

#: The verifier's event id of a boot its ironic-keylime engine refused.
ENGINE_EVENT = kl_events.policy_event(golden_policy.ENGINE)


def _differences(task, events):
    reading = agent.call(task, 'keylime.read_boot_state', {'pcrs': [0]})
    log = mb_state.event_log(task.node, reading)
    if log is None:
        return [_('the ramdisk reports no UEFI event log')]
    text = golden_events.reported_command_line(reading)
    return compare.differences(events, golden_events.from_log(log),
                               golden_events.PER_BOOT_PARAMETERS,
                               [text] if text is not None else [])


def explain(task, event_id):
    """Say what changed, for a FAIL of the verifier's engine.

    :param task: a TaskManager instance.
    :param event_id: the verdict's ``last_event_id``.
    :returns: text to add to the failure message (starting with a space),
        or an empty string when the failure is not the engine's, the node
        has no golden events or its ramdisk does not run.
    """
    node = task.node
    if str(event_id or '').strip() != ENGINE_EVENT:
        return ''
    try:
        events = golden_events.node_events(node)
    except exception.InvalidParameterValue:
        # Events that do not validate are never sent (the attestation
        # refuses them first): there is nothing to compare with.
        events = None
    if not events or not agent.ramdisk_running(node):
        return ''
    try:
        found = _differences(task, events)
    except (kl_ironic_exception.AttestationFailure,
            tcg.EventLogError) as e:
        return _(' The node\'s ramdisk could not be asked what changed '
                 '(%s); the verifier\'s log names it.') % untrusted.text(
                     str(e), untrusted.NOTE_LIMIT)
    if not found:
        return _(' The event log the ramdisk reports now matches the golden '
                 'boot; the verifier\'s log names what it refused.')
    return _(' What changed, by the event log the node\'s ramdisk reports '
             '(the verifier\'s log has its own account): %s.') % (
                 untrusted.text('; '.join(found), untrusted.ERROR_LIMIT))
