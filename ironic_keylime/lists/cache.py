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

"""A private, size-bounded cache of downloaded lists on the conductor.

Entries are opaque files named by a key the caller derives from where the
content came from and its version (for Swift: account URL, container,
object and ETag), so that a changed object has a new key and is never
served from an older entry. The cache holds no verdict: whoever reads an
entry hashes it again while copying it (the allowlist is checked against
its checksum on every use).

The directory is created with mode 0700 and must belong to the conductor's
user; entries are 0600 and written to a temporary file first, then renamed,
so that a reader sees a complete entry or none. The least recently used
entries are removed when the total size exceeds the bound. A cache that
cannot be used (bad owner, full disk) never fails an attestation: the
lists are downloaded as if it were empty.
"""

import hashlib
import os
import stat
import tempfile
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

_TMP_PREFIX = '.tmp-'
#: Temporary files older than this (seconds) are leftovers of a crash.
_TMP_MAX_AGE = 3600


class CacheUnusable(Exception):
    """The cache directory cannot be used safely."""


def make_key(*parts):
    """Derive an entry name from the parts that identify a content.

    :param parts: strings, e.g. account URL, container, object, ETag.
    :returns: a SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    for part in parts:
        data = str(part).encode('utf-8')
        digest.update(b'%d:' % len(data))
        digest.update(data)
    return digest.hexdigest()


class ListCache(object):
    """Lists kept on the conductor between attestations.

    :param directory: the cache directory (created 0700 when missing).
    :param max_bytes: the largest total size of the entries; 0 disables
        the cache.
    """

    def __init__(self, directory, max_bytes):
        self.directory = directory
        self.max_bytes = max_bytes

    @property
    def enabled(self):
        return bool(self.directory) and self.max_bytes > 0

    def _ensure_dir(self):
        """Create or check the directory.

        :raises: CacheUnusable if it is not a directory of this user, or
            cannot be created.
        """
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            st = os.lstat(self.directory)
        except OSError as e:
            raise CacheUnusable('cannot create %s: %s'
                                % (self.directory, e.strerror))
        if not stat.S_ISDIR(st.st_mode):
            raise CacheUnusable('%s is not a directory' % self.directory)
        if st.st_uid != os.geteuid():
            raise CacheUnusable('%s belongs to another user (uid %d)'
                                % (self.directory, st.st_uid))
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(self.directory, 0o700)

    def _path(self, key):
        if not key or not all(c in '0123456789abcdef' for c in key):
            raise ValueError('cache keys are lower case hex digests')
        return os.path.join(self.directory, key)

    def fits(self, size):
        """Say whether an entry of ``size`` bytes may be stored.

        :param size: the size in bytes, or None when unknown.
        """
        return self.enabled and (size is None or size <= self.max_bytes)

    def open(self, key):
        """Open an entry for reading and mark it as recently used.

        Entries that are not private regular files of this user are
        removed and reported as missing.

        :param key: the entry's key (see :func:`make_key`).
        :returns: a binary file object, or None when there is no entry.
        """
        if not self.enabled:
            return None
        path = self._path(key)
        if not os.path.lexists(self.directory):
            return None
        try:
            self._ensure_dir()
        except (CacheUnusable, OSError) as e:
            LOG.warning('The list cache in %(dir)s is not used: %(err)s',
                        {'dir': self.directory, 'err': e})
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            LOG.warning('Cannot read the list cache entry %(path)s: '
                        '%(err)s', {'path': path, 'err': e.strerror})
            return None
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid()
                or stat.S_IMODE(st.st_mode) & 0o077):
            os.close(fd)
            LOG.warning('Removing the list cache entry %s: not a private '
                        'file of the conductor.', path)
            self.discard(key)
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return os.fdopen(fd, 'rb')

    def discard(self, key):
        """Remove an entry, if it exists.

        :param key: the entry's key.
        """
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def writer(self, key):
        """Start writing an entry.

        :param key: the entry's key.
        :returns: an :class:`EntryWriter`, or None when the cache is
            disabled or unusable (the reason is logged).
        """
        if not self.enabled:
            return None
        try:
            self._ensure_dir()
            fd, tmp = tempfile.mkstemp(dir=self.directory,
                                       prefix=_TMP_PREFIX)
        except (CacheUnusable, OSError) as e:
            LOG.warning('The list cache in %(dir)s is not used: %(err)s',
                        {'dir': self.directory, 'err': e})
            return None
        return EntryWriter(self, self._path(key), fd, tmp)

    def entries(self):
        """List the entries.

        :returns: a list of (mtime, size, name), oldest first.
        """
        found = []
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return found
        for name in names:
            try:
                st = os.lstat(os.path.join(self.directory, name))
            except FileNotFoundError:
                continue
            if name.startswith(_TMP_PREFIX):
                if time.time() - st.st_mtime > _TMP_MAX_AGE:
                    self._unlink(name)
                continue
            found.append((st.st_mtime, st.st_size, name))
        return sorted(found)

    def _unlink(self, name):
        try:
            os.unlink(os.path.join(self.directory, name))
        except FileNotFoundError:
            pass

    def evict(self):
        """Remove the least recently used entries beyond the bound."""
        found = self.entries()
        total = sum(size for _mtime, size, _name in found)
        for _mtime, size, name in found:
            if total <= self.max_bytes:
                break
            LOG.debug('Evicting %s from the list cache', name)
            self._unlink(name)
            total -= size


class EntryWriter(object):
    """A cache entry being written; invisible until :meth:`commit`."""

    def __init__(self, cache, path, fd, tmp):
        self.cache = cache
        self.path = path
        self.tmp = tmp
        self.size = 0
        self.failed = False
        self._file = os.fdopen(fd, 'wb')

    def write(self, chunk):
        """Append a chunk; a write error abandons the entry quietly.

        :param chunk: bytes.
        """
        if self.failed:
            return
        self.size += len(chunk)
        if self.size > self.cache.max_bytes:
            self.abort()
            return
        try:
            self._file.write(chunk)
        except OSError as e:
            LOG.warning('Cannot write to the list cache (%s); the list '
                        'is used without being cached.', e.strerror)
            self.abort()

    def commit(self):
        """Make the entry visible, then evict old entries.

        :returns: True when the entry was stored.
        """
        if self.failed:
            return False
        try:
            self._file.close()
            os.replace(self.tmp, self.path)
        except OSError as e:
            LOG.warning('Cannot store a list in the cache: %s', e.strerror)
            self.abort()
            return False
        self.cache.evict()
        return True

    def abort(self):
        """Drop the entry."""
        self.failed = True
        try:
            self._file.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
