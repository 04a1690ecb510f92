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

"""The ramdisk's report of its Keylime agent, validated before any use.

Whoever controls the node's ramdisk writes this report: the UUID, address
and port of the agent to attest. Each value is checked for its strict
form before it is recorded in driver_internal_info or logged; a refusal
shows the value with :func:`ironic_keylime.common.untrusted.text`.
"""

import ipaddress
import re

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.common.i18n import _
from ironic_keylime.common import untrusted

#: A UUID as the ramdisk must report it (any case).
_UUID_RE = re.compile(
    r'^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z')
#: A port given as a string: ASCII digits only.
_PORT_RE = re.compile(r'^[0-9]{1,5}\Z')


def _report_refused(node, what):
    return kl_ironic_exception.AttestationFailure(
        node=node.uuid,
        reason=_('the ramdisk\'s report of its Keylime agent was refused '
                 '(%s); nothing was recorded or sent to the verifier. Check '
                 'the ramdisk image (a tampered or wrongly built ramdisk), '
                 'or set driver_info/keylime_agent_uuid, '
                 'keylime_agent_address and keylime_agent_port so that the '
                 'ramdisk is not asked.') % what)


def checked(node, reported, info):
    """Validate what the ramdisk reported of its agent, before any use.

    :param node: an Ironic node, for messages.
    :param reported: the extension's answer.
    :param info: the node's KeylimeInfo.
    :returns: (uuid in lower case or None, address or None, port or None).
    :raises: AttestationFailure, showing the value safely (no control
        characters, bounded), when the answer is not a dict, the UUID not
        a UUID, the address not an IP address (other than the one
        driver_info gave the agent) or a wildcard, the port not from 1
        to 65535.
    """
    if not isinstance(reported, dict):
        raise _report_refused(node, _('not a JSON object: %s')
                              % untrusted.text(reported))
    uuid, address, port = (reported.get(k) for k in ('uuid', 'address',
                                                     'port'))
    if uuid in (None, ''):
        uuid = None
    elif not isinstance(uuid, str) or not _UUID_RE.match(uuid):
        raise _report_refused(node, _('an agent UUID that is not a UUID: '
                                      '%s') % untrusted.text(uuid))
    if address in (None, ''):
        address = None
    elif not (info.agent_address and address == info.agent_address):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is None or ip.is_unspecified or ip.is_multicast:
            raise _report_refused(node, _('an agent address that is not '
                                          'an IP address it can be reached '
                                          'at: %s') % untrusted.text(address))
        address = str(ip)
    if port in (None, ''):
        port = None
    elif not (isinstance(port, int) and not isinstance(port, bool)
              or isinstance(port, str) and _PORT_RE.match(port)
              ) or not 1 <= int(port) <= 65535:
        raise _report_refused(node, _('an agent port that is not from 1 '
                                      'to 65535: %s') % untrusted.text(port))
    else:
        port = int(port)
    return (uuid.lower() if uuid else None), address, port
