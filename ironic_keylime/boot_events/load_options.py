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

"""The kernel command line the kernel's EFI stub measures.

Started directly by the firmware (iPXE's ``kernel``, a boot entry, qemu's
``-kernel`` under OVMF), the Linux EFI stub (5.19 and later) measures its
``LoadOptions``, the command line in UTF-16LE with its final NUL, into
PCR 9 as an ``EV_EVENT_TAG`` event tagged ``LOADED_IMAGE::LoadOptions``
(``drivers/firmware/efi/libstub/efi-stub-helper.c``). The event's data
holds the tag and its name only: the log gives the command line's digest,
not its text.

So the text comes from elsewhere (the running kernel's ``/proc/cmdline``,
which the node's ramdisk reports) and is believed only if it hashes to
the measured digest (:func:`digest`): a claim proven by the quote, not
trusted.
"""

import hashlib
import struct

#: The event's tag (the kernel's ``EFISTUB_EVT_LOAD_OPTIONS``) and name,
#: at the start of its data.
TAG_ID = 0x8F3B22ED
TAG_NAME = b'LOADED_IMAGE::LoadOptions'
EVENT_TYPE = 'EV_EVENT_TAG'
PCR = 9
#: The longest command line believed (Linux's is at most 4096 bytes).
MAX_LENGTH = 4096


def digest(text):
    """The SHA-256 digest the EFI stub measures for a command line.

    :param text: the command line, as ``/proc/cmdline`` shows it.
    :returns: hex digest of its UTF-16LE encoding with a final NUL.
    """
    return hashlib.sha256(text.encode('utf-16-le') + b'\0\0').hexdigest()


def is_load_options(pcr, type_, data):
    """Whether an event of a binary log is the stub's ``LoadOptions``.

    :param data: the event's data (bytes): ``TAG_ID``, the length of the
        name (little-endian 32 bit), the name with its NUL.
    """
    if pcr != PCR or type_ != EVENT_TYPE or not isinstance(data, bytes):
        return False
    if len(data) < 8:
        return False
    tag, size = struct.unpack_from('<II', data)
    return tag == TAG_ID and data[8:8 + size].rstrip(b'\0') == TAG_NAME
