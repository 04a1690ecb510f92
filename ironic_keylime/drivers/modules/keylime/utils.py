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

"""Small helpers the keylime interface's modules share.

Like Ironic's own ``redfish/utils.py``: one place for the constants and
the wording more than one module of the interface needs.
"""

from ironic_keylime.common import exception as kl_ironic_exception

#: The clean step that records a node's golden boot state.
ENROLL_STEP = {'interface': 'attestation', 'step': 'enroll_boot_state'}

#: The digits of a hex digest in lower case.
HEX_DIGITS = frozenset('0123456789abcdef')


def short_repr(value, limit=120):
    """The repr of a value for a message, cut after ``limit`` characters.

    :param value: what an operator or the ramdisk gave.
    :param limit: the longest repr shown whole.
    :returns: the repr, or its first ``limit`` characters and ``...``.
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def attestation_failure(node, reason):
    """The error that fails a node's attestation.

    :param node: an Ironic node.
    :param reason: what went wrong and the fix (translated).
    :returns: an AttestationFailure naming the node, to raise.
    """
    return kl_ironic_exception.AttestationFailure(node=node.uuid,
                                                  reason=reason)
