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

"""Addresses and ports, checked the same way on both sides.

The conductor checks the ``keylime_*`` addresses and ports of
``driver_info``, and the ramdisk's extension checks the same values again
when the conductor hands them over; both use these functions, so that a
value the conductor accepts is never refused later in the ramdisk.

Standard library only: the ironic-python-agent extension imports this in
the ramdisk, where Ironic is not installed.
"""

import ipaddress
import re

_HOSTNAME_RE = re.compile(
    r'^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')


def parse_address(value):
    """Check an IP address or a host name.

    :param value: the value, a string; an IPv6 address may be in brackets.
    :returns: the address, stripped (an IPv6 address without brackets,
        an IP address in its canonical form).
    :raises: ValueError when it is neither an IP address nor a host name
        (a dotted string of digits only is not taken for a host name).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(value)
    text = value.strip()
    candidate = text[1:-1] if text.startswith('[') else text
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if _HOSTNAME_RE.match(text) and not text.replace('.', '').isdigit():
        return text
    raise ValueError(value)


def parse_port(value):
    """Check a TCP port: an integer or a string of digits, 1 to 65535.

    :param value: the value.
    :returns: the port as an int.
    :raises: ValueError when it is not a port.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(value)
    return value
