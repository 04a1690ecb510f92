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

"""The node's boot state, as the ramdisk reads it.

The SHA-256 bank's PCRs, read with ``tpm2_pcrread`` (tpm2-tools), and the
UEFI event log of the firmware when the kernel exposes one. Nothing here
touches a shell: the PCR numbers come from the conductor, are checked to
be integers from 0 to 23 and are passed as one argument of an argument
list.

The output of ``tpm2_pcrread sha256:0,1`` (tpm2-tools 5.4, Debian 12)::

      sha256:
        0 : 0x7F85193790DE75E46B70BFEC3614098F47332A6993DABAC6E38AD35F47DF5DA4
        1 : 0x0000000000000000000000000000000000000000000000000000000000000000

A PCR the TPM does not have, or a bank it does not allocate, is silently
left out (exit code 0): every PCR asked for must be in the output.
"""

import base64
import hashlib
import re

#: The one bank read; its digests are 64 hex digits.
BANK = 'sha256'
DIGEST_LENGTH = 64
#: PCR numbers of a TPM 2.0 PC client.
MAX_PCR = 23

_BANK_RE = re.compile(r'^\s*(?P<bank>[A-Za-z0-9_]+)\s*:\s*$')
_PCR_RE = re.compile(r'^\s*(?P<pcr>\d+)\s*:\s*0x(?P<digest>[0-9A-Fa-f]+)\s*$')


class BootStateError(Exception):
    """The boot state cannot be read; the message says why."""


def parse_pcrs(value):
    """Validate a list of PCR numbers given by the conductor.

    :param value: a list of integers from 0 to 23 (not booleans, not
        strings), not empty.
    :returns: the sorted list, without duplicates.
    :raises: ValueError naming what is wrong.
    """
    if not isinstance(value, list) or not value:
        raise ValueError('pcrs must be a non-empty list of PCR numbers '
                         '(0-%d), got %r' % (MAX_PCR, value))
    for pcr in value:
        if (isinstance(pcr, bool) or not isinstance(pcr, int)
                or not 0 <= pcr <= MAX_PCR):
            raise ValueError('pcrs: %r is not a PCR number (an integer '
                             'from 0 to %d)' % (pcr, MAX_PCR))
    return sorted(set(value))


def pcrread_argv(command, pcrs, tcti=None):
    """The argument list of ``tpm2_pcrread`` for PCRs of the SHA-256 bank.

    :param command: the command, a list (e.g. ``['tpm2_pcrread']``).
    :param pcrs: validated PCR numbers (:func:`parse_pcrs`).
    :param tcti: a TCTI for tpm2-tools (``--tcti``), or None for its
        default (``TPM2TOOLS_TCTI``, else the kernel's resource manager).
    """
    argv = list(command)
    if tcti:
        argv += ['--tcti', tcti]
    return argv + ['%s:%s' % (BANK, ','.join(str(p) for p in pcrs))]


def parse_pcrread(output, pcrs):
    """Read the SHA-256 digests of ``pcrs`` from ``tpm2_pcrread`` output.

    :param output: the command's standard output (``str``).
    :param pcrs: the PCR numbers asked for.
    :returns: a dict ``{"<pcr>": "<64 lower-case hex digits>"}``.
    :raises: BootStateError when a PCR asked for is missing, appears twice
        or has a digest of the wrong length, or the output has PCRs that
        were not asked for.
    """
    found = {}
    bank = None
    for line in output.splitlines():
        match = _BANK_RE.match(line)
        if match:
            bank = match.group('bank').lower()
            continue
        match = _PCR_RE.match(line)
        if not match or bank != BANK:
            continue
        pcr = int(match.group('pcr'))
        digest = match.group('digest').lower()
        if pcr in found:
            raise BootStateError('tpm2_pcrread printed PCR %d of the %s '
                                 'bank twice' % (pcr, BANK))
        if len(digest) != DIGEST_LENGTH:
            raise BootStateError(
                'tpm2_pcrread printed a digest of %d hex digits for PCR %d '
                'of the %s bank; expected %d' %
                (len(digest), pcr, BANK, DIGEST_LENGTH))
        found[pcr] = digest
    missing = sorted(set(pcrs) - set(found))
    if missing:
        raise BootStateError(
            'tpm2_pcrread did not report PCR(s) %s of the %s bank: the '
            'TPM has no such PCR or does not allocate the %s bank '
            '(Keylime needs it)' % (', '.join(map(str, missing)), BANK,
                                    BANK))
    extra = sorted(set(found) - set(pcrs))
    if extra:
        raise BootStateError('tpm2_pcrread reported PCR(s) %s, which were '
                             'not asked for' % ', '.join(map(str, extra)))
    return {str(pcr): digest for pcr, digest in sorted(found.items())}


def read_event_log(path, max_bytes):
    """Read the firmware's event log, when there is one.

    :param path: the kernel's binary event log (securityfs).
    :param max_bytes: the largest log returned; a larger one is not read.
    :returns: a dict: ``event_log`` (base64, or None), ``event_log_size``
        (bytes, or None when there is no log), ``event_log_sha256`` (hex,
        or None) and ``event_log_note`` (why no log is returned, or None).
    """
    result = {'event_log': None, 'event_log_size': None,
              'event_log_sha256': None, 'event_log_note': None}
    try:
        with open(path, 'rb') as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        result['event_log_note'] = 'no UEFI event log at %s' % path
        return result
    except OSError as e:
        result['event_log_note'] = ('the UEFI event log at %s cannot be '
                                    'read: %s' % (path, e))
        return result
    if len(data) > max_bytes:
        result['event_log_note'] = (
            'the UEFI event log at %s is larger than %d bytes '
            '([keylime_agent]event_log_max_bytes) and was not returned'
            % (path, max_bytes))
        return result
    result.update(event_log=base64.b64encode(data).decode('ascii'),
                  event_log_size=len(data),
                  event_log_sha256=hashlib.sha256(data).hexdigest())
    if not data:
        result['event_log_note'] = 'the UEFI event log at %s is empty' % path
    return result


#: The longest kernel command line returned (Linux allows 2048 bytes on
#: x86 and up to 4096 elsewhere).
KERNEL_CMDLINE_MAX = 4096


def read_kernel_cmdline(path):
    """Read the running kernel's command line.

    The conductor needs it on the kernel's EFI-stub path, where the stub
    measures the command line into PCR 9 as a digest only: the verifier
    checks the text against that digest, so the text is a claim to be
    proven, not trusted.

    :param path: ``/proc/cmdline``.
    :returns: a dict: ``kernel_cmdline`` (the text without its final line
        break, or None) and ``kernel_cmdline_note`` (why none is
        returned, or None).
    """
    result = {'kernel_cmdline': None, 'kernel_cmdline_note': None}
    try:
        with open(path, 'rb') as f:
            data = f.read(KERNEL_CMDLINE_MAX + 2)
    except OSError as e:
        result['kernel_cmdline_note'] = (
            'the kernel command line at %s cannot be read: %s' % (path, e))
        return result
    if data.endswith(b'\n'):
        data = data[:-1]
    if len(data) > KERNEL_CMDLINE_MAX:
        result['kernel_cmdline_note'] = (
            'the kernel command line at %s is longer than %d bytes'
            % (path, KERNEL_CMDLINE_MAX))
        return result
    result['kernel_cmdline'] = data.decode('utf-8', 'replace')
    return result


#: The first entry of the IMA log, the aggregate the kernel computed over
#: PCRs 0-9 (0-7 for SHA-1) when IMA started: ``<pcr> <template hash>
#: ima-ng sha256:<digest> boot_aggregate`` (``ima``: a SHA-1 digest
#: without the algorithm).
_AGGREGATE_RE = re.compile(
    r'^\s*\d+\s+[0-9a-fA-F]+\s+ima(?:-ng|-sig)?\s+'
    r'(?:(?P<alg>sha1|sha256|sha384|sha512):)?(?P<digest>[0-9a-fA-F]+)'
    r'\s+boot_aggregate(?:\s|$)')
_AGGREGATE_LENGTHS = {'sha1': 40, 'sha256': 64, 'sha384': 96, 'sha512': 128}


def read_boot_aggregate(path):
    """Read the IMA log's boot_aggregate, when IMA measured one.

    :param path: the kernel's IMA log (``ascii_runtime_measurements``).
    :returns: a dict: ``boot_aggregate`` (lower-case hex, or None),
        ``boot_aggregate_algorithm`` (or None) and ``boot_aggregate_note``
        (why none is returned, or None). An all-zero aggregate (IMA
        started before the TPM driver) is not returned: it says nothing
        of the boot.
    """
    result = {'boot_aggregate': None, 'boot_aggregate_algorithm': None,
              'boot_aggregate_note': None}
    try:
        with open(path, encoding='ascii', errors='replace') as f:
            line = f.readline(4096)
    except OSError as e:
        result['boot_aggregate_note'] = ('the IMA log at %s cannot be read: '
                                         '%s' % (path, e))
        return result
    match = _AGGREGATE_RE.match(line)
    if not match:
        result['boot_aggregate_note'] = ('the first entry of the IMA log at '
                                         '%s is not a boot_aggregate' % path)
        return result
    algorithm = match.group('alg') or 'sha1'
    digest = match.group('digest').lower()
    if len(digest) != _AGGREGATE_LENGTHS[algorithm]:
        result['boot_aggregate_note'] = (
            'the boot_aggregate of the IMA log at %s has %d hex digits, not '
            'the %d of %s' % (path, len(digest),
                              _AGGREGATE_LENGTHS[algorithm], algorithm))
        return result
    if not digest.strip('0'):
        result['boot_aggregate_note'] = (
            'the IMA log\'s boot_aggregate is all zeros: IMA started before '
            'the TPM driver, or the node has no TPM')
        return result
    result.update(boot_aggregate=digest, boot_aggregate_algorithm=algorithm)
    return result
