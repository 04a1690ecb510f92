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

"""Lists in a Swift container: fetched by the conductor (with its cache),
published by ``ironic-keylime-lists``.

The container holds the objects ``allowlist`` (required),
``allowlist_checksum`` (required unless
``[keylime]require_allowlist_checksum`` is off) and ``excludelist``
(optional).

Each list is streamed to the private directory in chunks and hashed while
it arrives; memory does not grow with its size. Lists are cached on the
conductor under their Swift ETag (see :mod:`ironic_keylime.lists.cache`);
the checksum object is small and always read from Swift, and the
allowlist's SHA-256 digest is computed from the bytes placed in the
private directory, whether they come from Swift or from the cache. The
connection (authentication, TLS, retries, errors) is
:mod:`ironic_keylime.lists.swift_connection`.
"""

import collections
import hashlib
import os
import re

from oslo_log import log as logging

from ironic_keylime.lists import base
from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import exception
from ironic_keylime.lists import excludes
from ironic_keylime.lists import formats
from ironic_keylime.lists import swift_connection

LOG = logging.getLogger(__name__)

#: Largest checksum object read; a SHA-256 line is 64 characters.
CHECKSUM_MAX = 4096

_MD5_RE = re.compile(r'^[0-9a-f]{32}$')


def _etag(headers):
    """The ETag of an object, and its MD5 when the ETag is one.

    A plain object's ETag is the MD5 of its content. Large objects (a
    quoted ETag, X-Static-Large-Object or X-Object-Manifest) have an ETag
    that still changes with the content, but is not its MD5.

    :param headers: the headers of a HEAD or GET answer (lower case keys).
    :returns: a tuple (etag, md5 or None).
    """
    raw = headers.get('etag', '')
    etag = raw.strip('"').lower()
    large = (raw.startswith('"')
             or headers.get('x-static-large-object', '').lower() == 'true'
             or 'x-object-manifest' in headers)
    md5 = etag if (_MD5_RE.match(etag) and not large) else None
    return etag, md5


def source_from_conf(container, conf):
    """The conductor's source for a container, from its configuration.

    :param container: the container name (``driver_info/keylime_container``).
    :param conf: the configuration object (``[keylime]`` and Ironic's
        ``[swift]``).
    :returns: :class:`SwiftListSource`.
    """
    settings = swift_connection.settings_from_conf(conf)
    connection = swift_connection.SwiftConnection(
        settings,
        lambda: swift_connection.ironic_session(conf, settings.timeout),
        swift_connection.auth_settings(conf))
    cache = list_cache.ListCache(conf.keylime.list_cache_dir,
                                 conf.keylime.list_cache_size * 1024 * 1024)
    return SwiftListSource(container, connection, cache,
                           limits=formats.list_limits(conf))


class SwiftListSource(base.ListSource):
    """Lists from a Swift container.

    :param container: the container name (``driver_info/keylime_container``).
    :param connection: a
        :class:`ironic_keylime.lists.swift_connection.SwiftConnection`.
    :param cache: a :class:`ironic_keylime.lists.cache.ListCache`; one of
        size 0 reads every list from Swift.
    :param limits: the largest allowlist and excludelist read, a dict of
        :class:`ironic_keylime.lists.formats.Limit` by list name; None for
        the options' defaults.
    """

    def __init__(self, container, connection, cache, limits=None):
        self.container = container
        self.connection = connection
        self.cache = cache
        self.limits = limits or formats.default_limits()

    def describe(self):
        return 'Swift container %s' % self.container

    def _what(self, name):
        return 'object %s of container %s' % (name, self.container)

    def _not_found(self, conn, name):
        """Say whether the container or the object is missing."""
        try:
            conn.call('container %s' % self.container,
                      lambda c: c.head_container(self.container))
        except swift_connection.NotFound:
            return exception.ListError(
                'The Swift container %(c)s does not exist in the account '
                '%(url)s (driver_info/keylime_container). Create it and '
                'upload the lists, e.g. with "ironic-keylime-lists upload '
                '--container %(c)s --allowlist FILE".' %
                {'c': self.container, 'url': conn.url})
        return exception.ListError(
            'The Swift container %(c)s has no object %(name)s; upload it '
            '(object names: allowlist, allowlist_checksum, excludelist, '
            'excludelist_checksum).'
            % {'c': self.container, 'name': name})

    def fetch(self, workdir):
        """Copy the lists of the container into ``workdir``.

        :param workdir: a private directory.
        :returns: :class:`ironic_keylime.lists.base.FetchedLists`.
        :raises: ListError naming the missing or unreadable object, or the
            failure of Swift.
        """
        conn = self.connection
        cache = self.cache
        allowlist = os.path.join(workdir, formats.ALLOWLIST)
        try:
            digest = self._fetch_list(conn, cache, formats.ALLOWLIST,
                                      allowlist)
        except swift_connection.NotFound:
            raise self._not_found(conn, formats.ALLOWLIST)
        checksum = self._fetch_checksum(conn, formats.ALLOWLIST)
        excludelist = os.path.join(workdir, formats.EXCLUDELIST)
        try:
            exclude_digest = self._fetch_list(conn, cache,
                                              formats.EXCLUDELIST,
                                              excludelist)
        except swift_connection.NotFound:
            excludelist = exclude_digest = None
        return base.FetchedLists(
            allowlist=allowlist, allowlist_sha256=digest, checksum=checksum,
            excludelist=excludelist, excludelist_sha256=exclude_digest,
            excludelist_checksum=self._fetch_checksum(conn,
                                                      formats.EXCLUDELIST))

    def _fetch_checksum(self, conn, list_name):
        """The digest the checksum object of ``list_name`` gives, or None.

        Always read from Swift, never from the cache.
        """
        name = formats.CHECKSUM_OF[list_name]

        def get(c):
            _headers, body = c.get_object(self.container, name,
                                          resp_chunk_size=CHECKSUM_MAX)
            try:
                return next(iter(body), b'')
            finally:
                if hasattr(body, 'close'):
                    body.close()

        try:
            text = conn.call(self._what(name), get)
        except swift_connection.NotFound:
            return None
        return formats.parse_checksum(
            text, 'object %s of Swift container %s' % (name, self.container),
            list_name)

    def _fetch_list(self, conn, cache, name, path):
        """Place one list in ``path``, from the cache or from Swift.

        :returns: the SHA-256 hex digest of the bytes written to ``path``.
        :raises: NotFound when the object does not exist.
        """
        what = self._what(name)
        if cache.enabled:
            headers = conn.call(what, lambda c: c.head_object(
                self.container, name))
            etag, content_md5 = _etag(headers)
            key = list_cache.make_key(conn.url, self.container, name, etag)
            digest = self._from_cache(cache, key, etag, content_md5, path,
                                      name)
            if digest:
                LOG.debug('%s served from the list cache', what)
                return digest
        return conn.call(what, self._download, cache, name, path)

    def _from_cache(self, cache, key, etag, content_md5, path, name):
        if not etag:
            return None
        entry = cache.open(key)
        if entry is None:
            return None
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks():
            for chunk in formats.capped(formats.read_chunks(entry),
                                        self.limits[name], self._what(name)):
                md5.update(chunk)
                yield chunk

        with entry:
            try:
                _size, digest = formats.write_chunks(chunks(), path)
            except exception.ListTooLarge:
                os.unlink(path)
                raise
        if content_md5 and md5.hexdigest() != content_md5:
            LOG.warning('The list cache entry for %s does not match its '
                        'Swift ETag; removed, downloading again.', path)
            cache.discard(key)
            os.unlink(path)
            return None
        return digest

    def _download(self, conn, cache, name, path):
        """Stream an object to ``path`` (and to the cache).

        Runs inside :meth:`SwiftConnection.call`: a failure removes the
        partial files, and a retry starts over.
        """
        if os.path.exists(path):
            os.unlink(path)
        headers, body = conn.get_object(
            self.container, name, resp_chunk_size=formats.CHUNK_SIZE)
        etag, content_md5 = _etag(headers)
        length = headers.get('content-length')
        length = int(length) if length and length.isdigit() else None
        limit = self.limits[name]
        if length is not None and length > limit.max_bytes:
            if hasattr(body, 'close'):
                body.close()
            raise formats.too_large(self._what(name), limit)
        writer = None
        if etag and cache.fits(length):
            # conn.url is the account URL SwiftConnection gave it.
            writer = cache.writer(list_cache.make_key(
                conn.url, self.container, name, etag))
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks():
            for chunk in formats.capped(body, limit, self._what(name)):
                md5.update(chunk)
                if writer is not None:
                    writer.write(chunk)
                yield chunk

        try:
            size, digest = formats.write_chunks(chunks(), path)
            if ((length is not None and size != length)
                    or (content_md5 and md5.hexdigest() != content_md5)):
                raise swift_connection.Retriable(
                    'the download of %s was damaged: %d bytes with MD5 '
                    '%s, Swift announced %s bytes with ETag %s'
                    % (self._what(name), size, md5.hexdigest(), length,
                       etag))
        except BaseException:
            if writer is not None:
                writer.abort()
            if os.path.exists(path):
                os.unlink(path)
            raise
        finally:
            if hasattr(body, 'close'):
                body.close()
        if writer is not None:
            writer.commit()
        LOG.debug('Downloaded %(what)s: %(size)d bytes',
                  {'what': self._what(name), 'size': size})
        return digest


Change = collections.namedtuple('Change', ['action', 'name', 'size',
                                           'sha256'])
Change.__doc__ = """One object :func:`publish` changed.

:ivar action: ``uploaded`` or ``deleted``.
:ivar name: the object name.
:ivar size: its size in bytes (None when deleted).
:ivar sha256: the SHA-256 hex digest of the list it is, or protects.
"""


def _put_file(connection, container, name, path, size):
    def put(conn):
        # Opened on each try: a retry sends the whole file again.
        with open(path, 'rb') as f:
            conn.put_object(container, name, f, content_length=size,
                            content_type='text/plain')
    connection.call('object %s of container %s' % (name, container), put,
                    writing=True)


def _put_bytes(connection, container, name, data):
    connection.call('object %s of container %s' % (name, container),
                    lambda conn: conn.put_object(container, name, data,
                                                 content_type='text/plain'),
                    writing=True)


def _delete(connection, container, name):
    try:
        connection.call('object %s of container %s' % (name, container),
                        lambda conn: conn.delete_object(container, name),
                        writing=True)
    except swift_connection.NotFound:
        return False
    return True


def publish(connection, container, allowlist, excludelist=None):
    """Check lists, then upload them with their checksums.

    The checksums are computed here from the files. The excludelist is
    checked as the conductor checks it (valid expressions that exclude no
    probe path). Without an excludelist, one already in the container is
    deleted with its checksum, so that it cannot hide measurements of the
    new allowlist.

    :param connection: a
        :class:`ironic_keylime.lists.swift_connection.SwiftConnection`.
    :param container: the container (created when missing).
    :param allowlist: path of the flat allowlist.
    :param excludelist: path of the excludelist, or None.
    :returns: a list of :class:`Change`, in the order they were made.
    :raises: ListError when a list is unusable (nothing is uploaded) or
        Swift fails.
    """
    for path in (allowlist, excludelist):
        if path and not os.path.isfile(path):
            raise exception.ListError('%s is not a file' % path)
    if not formats.count_entries(allowlist):
        raise exception.ListError(
            '%s has no "<digest>  <path>" entries; a node cannot be '
            'attested with it.' % allowlist)
    size, digest = formats.hash_file(allowlist)
    if excludelist:
        excludes.read_excludes(excludelist, excludelist)
    connection.call('container %s' % container,
                    lambda conn: conn.put_container(container),
                    writing=True)
    changes = []
    lists = [(formats.ALLOWLIST, allowlist, size, digest)]
    if excludelist:
        lists.append((formats.EXCLUDELIST, excludelist)
                     + formats.hash_file(excludelist))
    for name, path, list_size, list_digest in lists:
        # Each list before its checksum: a node attested in between fails
        # on the mismatch, it never passes with a half-updated container.
        _put_file(connection, container, name, path, list_size)
        changes.append(Change('uploaded', name, list_size, list_digest))
        checksum = formats.checksum_text(list_digest, name)
        _put_bytes(connection, container, formats.CHECKSUM_OF[name],
                   checksum)
        changes.append(Change('uploaded', formats.CHECKSUM_OF[name],
                              len(checksum), list_digest))
    if not excludelist:
        for name in (formats.EXCLUDELIST, formats.EXCLUDELIST_CHECKSUM):
            if _delete(connection, container, name):
                changes.append(Change('deleted', name, None, None))
    return changes
