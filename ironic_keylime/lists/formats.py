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

"""The formats of the lists: allowlists and checksums.

Every function works on files in a private directory: lists are streamed,
never read whole into memory. Keylime's formats, but no Keylime code: the
build host's tools and the conductor share them.
"""

import collections
import hashlib
import os
import re
import tempfile

from ironic_keylime.lists import exception

#: Names of the list objects, as the operator workflow fixes them.
ALLOWLIST = 'allowlist'
CHECKSUM = 'allowlist_checksum'
EXCLUDELIST = 'excludelist'
EXCLUDELIST_CHECKSUM = 'excludelist_checksum'
#: The checksum object of each list.
CHECKSUM_OF = {ALLOWLIST: CHECKSUM, EXCLUDELIST: EXCLUDELIST_CHECKSUM}

#: Size of the chunks in which lists are copied and hashed.
CHUNK_SIZE = 64 * 1024

#: Hex digest lengths of the IMA hash algorithms.
DIGEST_LENGTHS = {'sha1': 40, 'sha256': 64, 'sha384': 96, 'sha512': 128}

MIB = 1024 * 1024
KIB = 1024
#: The defaults of ``[keylime]max_allowlist_size`` (MiB) and
#: ``max_excludelist_size`` (KiB). A Keylime verifier takes a request of at
#: most 100 MB by default (its ``max_upload_size``): a runtime policy built
#: from an allowlist of more than about 70 MiB, base64-encoded in the
#: tenant's request, does not fit. An image of 34,000 files has an
#: allowlist of about 4 MiB; a whole Debian host with its virtualenvs
#: (645,000 files) about 100 MiB.
DEFAULT_MAX_ALLOWLIST_MIB = 64
DEFAULT_MAX_EXCLUDELIST_KIB = 64

Limit = collections.namedtuple('Limit', ['max_bytes', 'setting', 'shown'])
Limit.__doc__ = """The largest size of a list read.

:ivar max_bytes: the limit in bytes.
:ivar setting: the option that sets it, for messages.
:ivar shown: the limit as the option says it, e.g. ``64 MiB``.
"""


def default_limits():
    """The limits of the lists with the options' defaults."""
    return {ALLOWLIST: Limit(DEFAULT_MAX_ALLOWLIST_MIB * MIB,
                             '[keylime]max_allowlist_size',
                             '%d MiB' % DEFAULT_MAX_ALLOWLIST_MIB),
            EXCLUDELIST: Limit(DEFAULT_MAX_EXCLUDELIST_KIB * KIB,
                               '[keylime]max_excludelist_size',
                               '%d KiB' % DEFAULT_MAX_EXCLUDELIST_KIB)}


def list_limits(conf):
    """The limits of the lists, from ``[keylime]`` of ``conf``."""
    return {ALLOWLIST: Limit(conf.keylime.max_allowlist_size * MIB,
                             '[keylime]max_allowlist_size',
                             '%d MiB' % conf.keylime.max_allowlist_size),
            EXCLUDELIST: Limit(conf.keylime.max_excludelist_size * KIB,
                               '[keylime]max_excludelist_size',
                               '%d KiB' % conf.keylime.max_excludelist_size)}


def too_large(what, limit):
    """The error for a list larger than its limit.

    :param what: the list and where it comes from.
    :param limit: its :class:`Limit`.
    :returns: a ListTooLarge.
    """
    return exception.ListTooLarge(
        'The %(what)s is larger than %(shown)s (%(setting)s); it was not '
        'used. Make it smaller, or raise %(setting)s on the conductors.'
        % {'what': what, 'shown': limit.shown, 'setting': limit.setting})


def capped(chunks, limit, what):
    """Pass chunks on until more than ``limit`` bytes came.

    :param chunks: an iterable of ``bytes``.
    :param limit: a :class:`Limit`.
    :param what: the list and where it comes from, for the message.
    :raises: ListTooLarge as soon as the chunks exceed the limit; what
        follows is not read.
    """
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit.max_bytes:
            raise too_large(what, limit)
        yield chunk


_SHA256_RE = re.compile(r'^[0-9a-fA-F]{64}$')
_ZEROS_RE = re.compile(r'^0+$')
_BOOT_AGGREGATE = 'boot_aggregate'


def open_private(path):
    """Create ``path`` for writing, readable by its owner only.

    :param path: a path that must not exist yet.
    :returns: a binary file object open for writing.
    :raises: FileExistsError if the path exists.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, 'wb')


def write_chunks(chunks, path):
    """Write an iterable of byte chunks to a new private file.

    :param chunks: an iterable of ``bytes``.
    :param path: the file to create (mode 0600).
    :returns: a tuple (size in bytes, SHA-256 hex digest of the content).
    """
    digest = hashlib.sha256()
    size = 0
    with open_private(path) as out:
        for chunk in chunks:
            if not chunk:
                continue
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def read_chunks(fileobj, chunk_size=CHUNK_SIZE):
    """Iterate over a binary file object in chunks.

    :param fileobj: a file object open in binary mode.
    :param chunk_size: bytes per chunk.
    """
    while True:
        chunk = fileobj.read(chunk_size)
        if not chunk:
            return
        yield chunk


def hash_file(path):
    """Hash a file without keeping it in memory.

    :param path: the file.
    :returns: a tuple (size in bytes, SHA-256 hex digest of the content).
    """
    digest = hashlib.sha256()
    size = 0
    with open(path, 'rb') as f:
        for chunk in read_chunks(f):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def checksum_text(digest, name):
    """A checksum file in ``sha256sum`` format.

    :param digest: the SHA-256 hex digest.
    :param name: the name of the list it protects.
    :returns: bytes, ``<digest>  <name>`` and a new line.
    """
    return ('%s  %s\n' % (digest, name)).encode('utf-8')


def parse_checksum(text, source=CHECKSUM, name=ALLOWLIST):
    """Read a SHA-256 checksum, bare or in ``sha256sum`` format.

    Accepts ``<hex>`` or ``<hex>  <name>`` (also ``<hex> *<name>``) on the
    first non-empty line.

    :param text: the content of the checksum file (``str`` or ``bytes``).
    :param source: where the text comes from, for the error message.
    :param name: the list it protects (``allowlist`` or ``excludelist``).
    :returns: the digest, lower case.
    :raises: ListError if the text holds no SHA-256 hex digest.
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', errors='replace')
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        candidate = line.split(None, 1)[0]
        if _SHA256_RE.match(candidate):
            return candidate.lower()
        break
    raise exception.ListError(
        'The %(name)s checksum in %(src)s is not a SHA-256 hex digest '
        '(64 hexadecimal characters, alone or as "<digest>  %(name)s" '
        'like sha256sum prints it). Recreate it with '
        '"sha256sum %(name)s > %(checksum)s".' %
        {'src': source, 'name': name, 'checksum': CHECKSUM_OF[name]})


def verify_checksum(actual, expected, source=ALLOWLIST, name=ALLOWLIST,
                    against='its checksum'):
    """Compare the digest of a list with the digest it must have.

    :param actual: the SHA-256 hex digest computed while reading.
    :param expected: the digest from the checksum file or a pin.
    :param source: where the list comes from, for the message.
    :param name: the list (``allowlist`` or ``excludelist``).
    :param against: what gave ``expected``, for the message.
    :raises: ChecksumMismatch if they differ.
    """
    if actual.lower() != expected.lower():
        raise exception.ChecksumMismatch(
            'The %(name)s %(src)s does not match %(against)s: its '
            'SHA-256 digest is %(actual)s, %(against)s says %(expected)s. '
            'The list or its checksum was changed or damaged; nothing was '
            'sent to Keylime.' % {'name': name, 'src': source,
                                  'against': against, 'actual': actual,
                                  'expected': expected})


def allowlist_entry(line):
    """Split a flat allowlist line into (digest, path).

    :param line: a line of a flat allowlist.
    :returns: a tuple (digest, path), or None for a comment, an empty line
        or a line without a path.
    """
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    pieces = line.split(None, 1)
    if len(pieces) != 2:
        return None
    return pieces[0], pieces[1]


def count_entries(path):
    """Count the entries of a flat allowlist.

    :param path: the allowlist file.
    :returns: the number of ``<digest> <path>`` lines.
    """
    with open(path, encoding='utf-8', errors='replace') as f:
        return sum(1 for line in f if allowlist_entry(line))


def _rewrite_boot_aggregate(path, replace, first=None):
    """Rewrite the boot_aggregate entries of a flat allowlist in place.

    :param path: the allowlist file.
    :param replace: a callable given each boot_aggregate digest; it
        returns the line to write instead (bytes, or b'' to drop it), or
        None to keep the line.
    :param first: a line (bytes) to write before all others, or None.
    :returns: True when the file was changed.
    """
    directory = os.path.dirname(path)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.fixed-')
    changed = first is not None
    try:
        with open(path, 'rb') as src, os.fdopen(fd, 'wb') as out:
            if first is not None:
                out.write(first)
            for raw in src:
                entry = allowlist_entry(raw.decode('utf-8', 'replace'))
                if entry and entry[1] == _BOOT_AGGREGATE:
                    line = replace(entry[0])
                    if line is not None:
                        raw = line
                        changed = True
                out.write(raw)
        if changed:
            os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    return changed


def fix_boot_aggregate(path, algorithm):
    """Give an all-zero boot_aggregate entry the right length.

    Keylime's allowlist generator wrote SHA-1 sized zeros for
    ``boot_aggregate`` while the measurements used SHA-256 (Keylime issue
    702). Each all-zero ``boot_aggregate`` entry whose length does not
    match ``algorithm`` is rewritten with zeros of the right length. Other
    lines are copied unchanged.

    :param path: the allowlist file; rewritten in place when needed.
    :param algorithm: the IMA hash algorithm (a key of ``DIGEST_LENGTHS``).
    :returns: True when the file was changed.
    """
    length = DIGEST_LENGTHS[algorithm]

    def replace(digest):
        if _ZEROS_RE.match(digest) and len(digest) != length:
            return ('%s  %s\n' % ('0' * length, _BOOT_AGGREGATE)).encode()
        return None

    return _rewrite_boot_aggregate(path, replace)


def set_boot_aggregate(path, digest):
    """Make ``digest`` the allowlist's only boot_aggregate entry.

    The node's enrolled boot_aggregate (what its kernel computed over the
    boot PCRs) replaces whatever the allowlist accepted, the all-zero
    line of ramdisk allowlists included: a boot that differs no longer
    passes.

    :param path: the allowlist file; rewritten in place.
    :param digest: the hex digest.
    """
    line = ('%s  %s\n' % (digest, _BOOT_AGGREGATE)).encode()
    _rewrite_boot_aggregate(path, lambda _digest: b'', first=line)
