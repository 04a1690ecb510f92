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

"""The golden boot policy, described once for both of its sides.

The conductor sends a node's golden boot events to the verifier as a
measured-boot policy made by :func:`make`
(:mod:`ironic_keylime.drivers.modules.keylime.golden_events`); the
verifier's ``ironic-keylime`` engine (:mod:`ironic_keylime.verifier_engine`)
judges a boot only with a policy that passes :func:`check`. The conductor
validates the events it stores with :func:`valid_event`, the same rule.

Free of Ironic and of Keylime: the verifier imports it.
"""

import json
import re

from ironic_keylime.boot_events import load_options

#: The measured-boot engine that judges the policy, in the verifier.
ENGINE = 'ironic-keylime'
#: The key that marks the policy; its value is the version.
MARKER = 'ironic_keylime_boot_policy'
VERSION = 1
#: The fields of a golden event, as
#: :func:`ironic_keylime.boot_events.compare.normalize` makes them.
EVENT_FIELDS = ('pcr', 'type', 'sha256', 'text')
#: The most kernel command lines a policy may give for one boot.
MAX_COMMAND_LINES = 4
_SHA256 = re.compile(r'[0-9a-f]{64}')


def valid_event(event):
    """Whether a golden event has the fields and types of the policy."""
    return (isinstance(event, dict) and set(event) == set(EVENT_FIELDS)
            and isinstance(event['pcr'], int)
            and not isinstance(event['pcr'], bool)
            and isinstance(event['type'], str)
            and isinstance(event['sha256'], str)
            and _SHA256.fullmatch(event['sha256']) is not None
            and isinstance(event['text'], (str, type(None))))


def make(events, per_boot_parameters, kernel_command_lines=()):
    """The policy of a node's golden events (a dict).

    :param events: the golden events (:func:`valid_event`).
    :param per_boot_parameters: ``{name: value pattern}`` of the kernel
        parameters that may change at every boot.
    :param kernel_command_lines: the command lines the node reports for
        the boot being attested (the EFI stub's path), if any.
    """
    policy = {MARKER: VERSION, 'golden_events': list(events),
              'per_boot_parameters': dict(per_boot_parameters)}
    if kernel_command_lines:
        policy['kernel_command_lines'] = list(kernel_command_lines)
    return policy


def is_golden_boot_policy(policy):
    """Whether a measured-boot policy (a dict or JSON text) is marked one.

    Only the mark: :func:`check` validates the rest.
    """
    if isinstance(policy, (str, bytes)):
        try:
            policy = json.loads(policy)
        except ValueError:
            return False
    return isinstance(policy, dict) and MARKER in policy


def check(policy):
    """Validate a golden boot policy.

    :returns: ``(golden events, per-boot parameters, kernel command
        lines)``.
    :raises: ValueError saying what is wrong.
    """
    if not isinstance(policy, dict) or policy.get(MARKER) != VERSION:
        raise ValueError('the measured-boot policy is not an ironic-keylime '
                         'golden boot policy (version %d): this verifier '
                         'runs the %s engine' % (VERSION, ENGINE))
    golden = policy.get('golden_events')
    parameters = policy.get('per_boot_parameters') or {}
    if not isinstance(golden, list) or not golden:
        raise ValueError('the measured-boot policy has no golden events')
    for event in golden:
        if not valid_event(event):
            raise ValueError('the measured-boot policy has a malformed '
                             'golden event: %r' % (event,))
    if not isinstance(parameters, dict):
        raise ValueError('the per-boot parameters of the measured-boot '
                         'policy are not an object')
    lines = policy.get('kernel_command_lines') or []
    if (not isinstance(lines, list) or len(lines) > MAX_COMMAND_LINES
            or not all(isinstance(t, str)
                       and len(t) <= load_options.MAX_LENGTH
                       for t in lines)):
        raise ValueError('the kernel command lines of the measured-boot '
                         'policy are not a list of at most %d strings of '
                         'at most %d characters'
                         % (MAX_COMMAND_LINES, load_options.MAX_LENGTH))
    return golden, parameters, lines
