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

"""Compare a boot's UEFI events with the golden boot's.

Events are dicts ``{"pcr": int, "type": str, "sha256": hex, "text": str
or None}`` (:func:`normalize`); ``text`` is the data of the events whose
data is text (``EV_IPL``, ``EV_EFI_ACTION``), NULs at its end removed.

The rule, PCR by PCR (0 to 9), in log order:

* every event is the golden one: same type and SHA-256 digest;
* except the boot entries (``EV_EFI_VARIABLE_BOOT`` and ``BOOT2`` in PCR
  1, ``BootOrder`` and ``Boot####``): installing an operating system adds
  one, so they are left out on both sides (what is booted is measured
  into PCR 4 and compared);
* except GRUB's commands and kernel command line (``EV_IPL`` in PCR 8,
  ``grub_cmd: `` and ``kernel_cmdline: ``): their text must hash to their
  digest (GRUB measures the text after the prefix) and equal the golden
  text once the per-boot parameters are set aside
  (:mod:`.cmdline`);
* except the command line the kernel's EFI stub measured (an
  ``EV_EVENT_TAG`` in PCR 9 whose golden event holds the enrollment's
  command line, :mod:`.load_options`): the log gives its digest only, so
  another digest is accepted only for a command line given with the boot
  (the one its ramdisk reports) that hashes to it and equals the golden
  text once the per-boot parameters are set aside;
* except GRUB's configuration files (``EV_IPL`` in PCR 9 whose text is a
  path ending in ``.cfg``): their content holds the per-boot parameters,
  and every command GRUB runs from them is measured into PCR 8 and
  compared there; only their path must be the golden one.

:func:`differences` returns the differences in an operator's words, the
empty list when the boot is the golden one.
"""

import hashlib

from ironic_keylime.boot_events import cmdline
from ironic_keylime.boot_events import load_options

PCRS = tuple(range(10))
BOOT_ENTRY_TYPES = frozenset(['EV_EFI_VARIABLE_BOOT',
                              'EV_EFI_VARIABLE_BOOT2'])
NOT_EXTENDED = frozenset(['EV_NO_ACTION'])
TEXT_TYPES = frozenset(['EV_IPL', 'EV_EFI_ACTION'])
COMMAND_PREFIXES = ('grub_cmd: ', 'kernel_cmdline: ')
CONFIG_SUFFIX = '.cfg'
#: What each PCR holds, in the words of the messages.
PCR_WORDS = {
    0: 'the firmware changed (PCR 0)',
    1: 'a firmware setting changed (PCR 1)',
    2: 'an option ROM or UEFI driver changed (PCR 2)',
    3: 'an option ROM setting changed (PCR 3)',
    4: 'the boot loader or kernel changed (PCR 4)',
    5: 'the boot partition table or an ExitBootServices step changed '
       '(PCR 5)',
    6: 'a platform manufacturer\'s measurement changed (PCR 6)',
    7: 'the Secure Boot settings changed (PCR 7)',
    8: 'the boot loader\'s commands changed (PCR 8)',
    9: 'a file the boot loader or kernel loaded changed (PCR 9)',
}


def normalize(pcr, type_, sha256, data):
    """One event, in the form compared and stored.

    :param data: the event's data: bytes, or text already decoded.
    """
    text = None
    if type_ in TEXT_TYPES and data is not None:
        if isinstance(data, bytes):
            data = data.decode('utf-8', 'replace')
        text = data.rstrip('\0')
    return {'pcr': int(pcr), 'type': type_,
            'sha256': (sha256 or '').lower(), 'text': text}


def compared(events):
    """The events that are compared, by PCR: ``{pcr: [event, ...]}``."""
    by_pcr = {pcr: [] for pcr in PCRS}
    for event in events:
        if event['pcr'] not in by_pcr or event['type'] in NOT_EXTENDED:
            continue
        if event['pcr'] == 1 and event['type'] in BOOT_ENTRY_TYPES:
            continue
        by_pcr[event['pcr']].append(event)
    return by_pcr


def _command(event):
    """``(prefix, rest)`` of a GRUB command event, or None."""
    text = event.get('text')
    if event['pcr'] != 8 or event['type'] != 'EV_IPL' or text is None:
        return None
    for prefix in COMMAND_PREFIXES:
        if text.startswith(prefix):
            return prefix, text[len(prefix):]
    return None


def _is_config(event):
    text = event.get('text')
    return (event['pcr'] == 9 and event['type'] == 'EV_IPL'
            and text is not None and text.endswith(CONFIG_SUFFIX))


def _is_load_options(event):
    return (event['pcr'] == load_options.PCR
            and event['type'] == load_options.EVENT_TYPE
            and event.get('text') is not None)


def _load_options_change(golden, current, parameters, command_lines):
    """The change of the EFI stub's command line, or None."""
    if current['sha256'] == golden['sha256']:
        return None
    want = cmdline.stable_tokens(golden['text'], parameters)
    for text in command_lines:
        if load_options.digest(text) != current['sha256']:
            continue
        got = cmdline.stable_tokens(text, parameters)
        if got == want:
            return None
        return 'the kernel command line changed: %s' % (
            cmdline.describe_change(want, got))
    return ('the kernel command line changed (PCR 9): the kernel\'s EFI '
            'stub measured one that is neither the golden command line nor '
            'the one the node reported for this boot (the stub logs its '
            'digest only)')


def _what(event):
    text = event.get('text')
    if text:
        shown = text if len(text) <= 80 else text[:80] + '...'
        return '%s %r' % (event['type'], shown)
    return event['type']


def _pair(golden, current, parameters, command_lines):
    """The difference between two events at one place, or None."""
    pcr = golden['pcr']
    if golden['type'] != current['type']:
        return '%s: %s where the golden boot has %s' % (
            PCR_WORDS[pcr], _what(current), _what(golden))
    if _is_load_options(golden):
        return _load_options_change(golden, current, parameters,
                                    command_lines)
    command = _command(golden)
    if command is not None:
        mine = _command(current)
        if mine is None or mine[0] != command[0]:
            return '%s: %s where the golden boot has %s' % (
                PCR_WORDS[pcr], _what(current), _what(golden))
        measured = hashlib.sha256(mine[1].encode('utf-8')).hexdigest()
        if measured != current['sha256']:
            return ('%s: the event log\'s text of a boot loader command '
                    'does not match its measured digest (the log was '
                    'altered)' % PCR_WORDS[pcr])
        want = cmdline.stable_tokens(command[1], parameters)
        got = cmdline.stable_tokens(mine[1], parameters)
        if want != got:
            return 'the kernel command line changed: %s' % (
                cmdline.describe_change(want, got))
        return None
    if _is_config(golden):
        if current.get('text') != golden['text']:
            return '%s: %s where the golden boot has %s' % (
                PCR_WORDS[pcr], _what(current), _what(golden))
        return None
    if golden['sha256'] != current['sha256']:
        if pcr == 9 and golden.get('text'):
            return 'the kernel or initrd changed: %s (PCR 9)' % (
                _what(current))
        return '%s: %s' % (PCR_WORDS[pcr], _what(current))
    return None


def differences(golden_events, events, parameters, command_lines=()):
    """How a boot differs from the golden boot.

    :param golden_events: the golden boot's events (:func:`normalize`).
    :param events: this boot's events.
    :param parameters: the per-boot parameters, ``{name: pattern}``.
    :param command_lines: kernel command lines given for this boot (what
        its ramdisk reports), for the EFI stub's digest: each is believed
        only if it hashes to the measured digest.
    :returns: a list of sentences, empty when the boot is the golden one.
    :raises: ValueError when a parameter's pattern does not compile.
    """
    compiled = cmdline.compile_parameters(parameters)
    golden = compared(golden_events)
    current = compared(events)
    found = []
    for pcr in PCRS:
        want, got = golden[pcr], current[pcr]
        for a, b in zip(want, got):
            difference = _pair(a, b, compiled, command_lines)
            if difference:
                found.append(difference)
                break
        else:
            if len(want) != len(got):
                extra = got[len(want):] or want[len(got):]
                found.append('%s: %d events where the golden boot has %d '
                             '(first %s: %s)' % (
                                 PCR_WORDS[pcr], len(got), len(want),
                                 'added' if len(got) > len(want)
                                 else 'missing', _what(extra[0])))
    return found
