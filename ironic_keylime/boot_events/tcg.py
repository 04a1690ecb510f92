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

"""Read a binary TCG2 event log (crypto-agile format).

The format of ``/sys/kernel/security/tpm0/binary_bios_measurements``
(TCG PC Client Platform Firmware Profile, section 10): a first event in
the SHA-1 format whose data is the ``Spec ID Event03`` giving each digest
algorithm's size, then ``TCG_PCR_EVENT2`` records: PCR index, event type,
the digests of every algorithm, the event data.

Only what a comparison needs is kept: the PCR, the event type's name, the
SHA-256 digest and the event data.
"""

import collections
import struct

#: An event: its PCR, type name (``EV_IPL``), SHA-256 digest (hex, or None
#: when the log has no SHA-256 bank) and data (bytes).
Event = collections.namedtuple('Event', ['pcr', 'type', 'sha256', 'data'])

SHA256_ALG = 0x000b
#: The event types a firmware and a boot loader log (TCG PC Client PFP
#: 1.05, table 9).
EVENT_TYPES = {
    0x00000000: 'EV_PREBOOT_CERT', 0x00000001: 'EV_POST_CODE',
    0x00000002: 'EV_UNUSED', 0x00000003: 'EV_NO_ACTION',
    0x00000004: 'EV_SEPARATOR', 0x00000005: 'EV_ACTION',
    0x00000006: 'EV_EVENT_TAG', 0x00000007: 'EV_S_CRTM_CONTENTS',
    0x00000008: 'EV_S_CRTM_VERSION', 0x00000009: 'EV_CPU_MICROCODE',
    0x0000000A: 'EV_PLATFORM_CONFIG_FLAGS', 0x0000000B: 'EV_TABLE_OF_DEVICES',
    0x0000000C: 'EV_COMPACT_HASH', 0x0000000D: 'EV_IPL',
    0x0000000E: 'EV_IPL_PARTITION_DATA', 0x0000000F: 'EV_NONHOST_CODE',
    0x00000010: 'EV_NONHOST_CONFIG', 0x00000011: 'EV_NONHOST_INFO',
    0x00000012: 'EV_OMIT_BOOT_DEVICE_EVENTS',
    0x80000001: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
    0x80000002: 'EV_EFI_VARIABLE_BOOT',
    0x80000003: 'EV_EFI_BOOT_SERVICES_APPLICATION',
    0x80000004: 'EV_EFI_BOOT_SERVICES_DRIVER',
    0x80000005: 'EV_EFI_RUNTIME_SERVICES_DRIVER',
    0x80000006: 'EV_EFI_GPT_EVENT', 0x80000007: 'EV_EFI_ACTION',
    0x80000008: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
    0x80000009: 'EV_EFI_HANDOFF_TABLES',
    0x8000000A: 'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
    0x8000000B: 'EV_EFI_HANDOFF_TABLES2',
    0x8000000C: 'EV_EFI_VARIABLE_BOOT2',
    0x800000E0: 'EV_EFI_VARIABLE_AUTHORITY',
    0x800000E1: 'EV_EFI_SPDM_FIRMWARE_BLOB',
    0x800000E2: 'EV_EFI_SPDM_FIRMWARE_CONFIG',
}
_SPEC_ID = b'Spec ID Event03\0'
#: Bounds that keep a damaged log from costing memory.
MAX_EVENTS = 10000
MAX_EVENT_DATA = 1024 * 1024


class EventLogError(ValueError):
    """The event log cannot be read; the message says where and why."""


class _Reader(object):
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, size, what):
        if size < 0 or self.pos + size > len(self.data):
            raise EventLogError('the event log ends inside %s (at byte %d '
                                'of %d)' % (what, self.pos, len(self.data)))
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u16(self, what):
        return struct.unpack('<H', self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack('<I', self.take(4, what))[0]

    def done(self):
        return self.pos >= len(self.data)


def type_name(value):
    """The name of an event type, or its number in hex."""
    return EVENT_TYPES.get(value, '0x%08x' % value)


def _digest_sizes(spec):
    """The algorithm sizes of the ``Spec ID Event03`` data."""
    reader = _Reader(spec)
    if reader.take(16, 'the Spec ID event signature') != _SPEC_ID:
        raise EventLogError('the event log is not in the crypto-agile '
                            'format (no "Spec ID Event03" first event)')
    reader.take(4 + 1 + 1 + 1 + 1, 'the Spec ID event header')
    sizes = {}
    for _ in range(reader.u32('the number of algorithms')):
        alg = reader.u16('an algorithm id')
        sizes[alg] = reader.u16('an algorithm size')
    return sizes


def parse(data):
    """Read the events of a binary TCG2 event log.

    :param data: the log (bytes).
    :returns: a list of :class:`Event`, in log order, the first (Spec ID)
        event left out.
    :raises: EventLogError when the log is not a crypto-agile TCG2 log or
        is cut short or damaged.
    """
    reader = _Reader(bytes(data))
    # The first event, in the SHA-1 (TCG_PCClientPCREvent) format.
    reader.u32('the first event\'s PCR')
    if reader.u32('the first event\'s type') != 0x3:
        raise EventLogError('the first event of the log is not EV_NO_ACTION')
    reader.take(20, 'the first event\'s digest')
    sizes = _digest_sizes(reader.take(reader.u32('the first event\'s size'),
                                      'the Spec ID event'))
    events = []
    while not reader.done():
        if len(events) >= MAX_EVENTS:
            raise EventLogError('the event log has more than %d events' %
                                MAX_EVENTS)
        pcr = reader.u32('an event\'s PCR')
        etype = reader.u32('an event\'s type')
        sha256 = None
        for _ in range(reader.u32('an event\'s digest count')):
            alg = reader.u16('an event\'s digest algorithm')
            if alg not in sizes:
                raise EventLogError('an event (number %d) has a digest of '
                                    'an algorithm the log did not declare '
                                    '(0x%04x)' % (len(events) + 1, alg))
            digest = reader.take(sizes[alg], 'an event\'s digest')
            if alg == SHA256_ALG:
                sha256 = digest.hex()
        size = reader.u32('an event\'s data size')
        if size > MAX_EVENT_DATA:
            raise EventLogError('an event (number %d) has %d bytes of data, '
                                'more than %d' % (len(events) + 1, size,
                                                  MAX_EVENT_DATA))
        events.append(Event(pcr, type_name(etype), sha256,
                            reader.take(size, 'an event\'s data')))
    return events
