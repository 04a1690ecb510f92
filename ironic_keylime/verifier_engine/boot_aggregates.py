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

"""The boot aggregates of an event log whose PCR 8 or 9 has no event.

The verifier accepts an IMA log's ``boot_aggregate`` entry when it is one
of the aggregates Keylime computes from the replayed UEFI event log. IMA
computes it over PCRs 0-9 (TPM 2.0, kernel 5.8 and later). Keylime 7.14's
parser (``keylime.mba.elparsing.tpm2_tools_elparser``) computes the
10-PCR aggregate only when the log extends all ten PCRs: tpm2-tools'
``tpm2_eventlog`` lists only the PCRs that have events, so a boot with
none in PCR 8 (the kernel's EFI stub started by the firmware or iPXE,
without GRUB) never gets it, and every honest such boot fails on its
``boot_aggregate`` (measured in the VM chain).

Keylime's own check of the quote treats a PCR without events as zero, its
value after reset (``mb_pcrs_hashes.get(str(pcr), 0)`` in
``keylime.tpm.tpm_main``): the quoted PCRs 0-9 must equal the replayed
ones, zeros included. :func:`add_boot_aggregates` adds the aggregates
computed the same way, so the accepted aggregate is the one of the quoted
PCRs, as IMA computed it; Keylime's own aggregates stay.

Only while Keylime checks a quote of an agent whose measured-boot policy
is ironic-keylime's golden boot (:func:`checking`): Keylime compares the
log with the quoted PCRs only when the agent has a measured-boot policy.
For an agent without one (a node attested by its PCR policy and its
enrolled boot_aggregate) the log is the agent's word, and an aggregate
computed from it would make the enrolled one pointless; Keylime's own
behaviour is kept for it. Installed by :mod:`.policy` when the verifier
imports it.
"""

import contextlib
import contextvars
import functools
import hashlib
import inspect

from keylime.mba.elparsing import tpm2_tools_elparser
from keylime.tpm import tpm_main

from ironic_keylime.boot_events import policy as golden_policy

#: The name of the parser's function (module level: not mangled).
_TARGET = '__add_boot_aggregate'
#: How many PCRs an aggregate covers: 8 (SHA-1 logs, older kernels) and
#: 10 (IMA on TPM 2.0 since Linux 5.8).
PCR_COUNTS = (8, 10)
#: Keylime's own function, called first.
_ORIGINAL = getattr(tpm2_tools_elparser, _TARGET)
_ORIGINAL_CHECK = tpm_main.Tpm.check_pcrs
#: Whether the quote being checked is of a golden-boot agent.
_GOLDEN = contextvars.ContextVar('ironic_keylime_golden_boot',
                                 default=False)


@contextlib.contextmanager
def checking(mb_policy):
    """Within: logs are parsed for an agent with this policy."""
    token = _GOLDEN.set(golden_policy.is_golden_boot_policy(mb_policy))
    try:
        yield
    finally:
        _GOLDEN.reset(token)


def aggregates(pcrs, hash_name):
    """The boot aggregates of replayed PCR values, absent PCRs as zero.

    :param pcrs: ``{"<pcr>": int}`` as Keylime's parser gives them.
    :param hash_name: ``sha1``, ``sha256``...
    :returns: a list of hex digests, one per :data:`PCR_COUNTS`.
    :raises: AttributeError for an unknown hash.
    """
    found = []
    for count in PCR_COUNTS:
        h = getattr(hashlib, hash_name)()
        for pcr in range(count):
            value = pcrs.get(str(pcr), 0)
            h.update(bytes.fromhex('%0*x' % (h.digest_size * 2, value)))
        found.append(h.hexdigest())
    return found


def add_boot_aggregates(log):
    """Keylime's aggregates of a parsed log, and those with absent PCRs.

    :param log: the parsed log (``{"pcrs": {"sha256": {...}}, ...}``),
        completed in place as Keylime's own function does.
    """
    _ORIGINAL(log)
    if not _GOLDEN.get():
        return
    if not isinstance(log, dict) or not isinstance(log.get('pcrs'), dict):
        return
    known = log.setdefault('boot_aggregates', {})
    for hash_name, pcrs in log['pcrs'].items():
        try:
            extra = aggregates(pcrs, hash_name)
        except (AttributeError, TypeError, ValueError):
            continue
        listed = known.setdefault(hash_name, [])
        listed.extend(d for d in extra if d not in listed)


def _check_pcrs_of(check_pcrs):
    """Keylime's quote check, within :func:`checking` of its policy."""
    signature = inspect.signature(check_pcrs)

    @functools.wraps(check_pcrs)
    def wrapper(*args, **kwargs):
        arguments = signature.bind_partial(*args, **kwargs).arguments
        with checking(arguments.get('mb_policy')):
            return check_pcrs(*args, **kwargs)
    return wrapper


def install():
    """Make Keylime's parser use :func:`add_boot_aggregates` (once)."""
    if getattr(tpm2_tools_elparser, _TARGET) is _ORIGINAL:
        setattr(tpm2_tools_elparser, _TARGET, add_boot_aggregates)
    if tpm_main.Tpm.check_pcrs is _ORIGINAL_CHECK:
        tpm_main.Tpm.check_pcrs = _check_pcrs_of(_ORIGINAL_CHECK)
