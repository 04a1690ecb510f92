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

"""Lists from a Swift container (the users' workflow).

The conductor authenticates the way Ironic talks to Swift: a keystoneauth1
session from Ironic's ``[swift]`` group (auth plugin, session and adapter
options), and python-swiftclient on top of it. The container holds the
objects ``allowlist`` (required), ``allowlist_checksum`` (required unless
``[keylime]require_allowlist_checksum`` is off) and ``excludelist``
(optional).

Each list is streamed to the private directory in chunks and hashed while
it arrives; memory does not grow with its size. Lists are cached on the
conductor under their Swift ETag (see :mod:`ironic_keylime.lists.cache`);
the checksum object is small and always read from Swift, and the
allowlist's SHA-256 digest is computed from the bytes placed in the
private directory, whether they come from Swift or from the cache.
"""

import hashlib
from http import client as http_client
import os
import re
import socket
import time
from urllib import parse as urlparse

from ironic.common import keystone
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from oslo_log import log as logging
import requests
from swiftclient import client as swift_client
from swiftclient import exceptions as swift_exc
from urllib3 import exceptions as urllib3_exc

from ironic_keylime.conf import CONF
from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import lists as kl_lists
from ironic_keylime.lists import base
from ironic_keylime.lists import cache as list_cache

LOG = logging.getLogger(__name__)

#: The group of Ironic's configuration the conductor authenticates with.
AUTH_GROUP = 'swift'
#: Options of the auth group that may be shown in messages (no secrets).
SHOWN_AUTH_OPTIONS = ('auth_type', 'auth_url', 'username', 'user_id',
                      'user_domain_name', 'user_domain_id', 'project_name',
                      'project_id', 'project_domain_name',
                      'project_domain_id', 'system_scope', 'region_name',
                      'endpoint_override', 'valid_interfaces')
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


class _NotFound(Exception):
    """A 404 from Swift, kept apart so that callers can say which."""


class _Retriable(Exception):
    """A failure worth another try (connection, timeout, 5xx)."""


def auth_settings(conf=None, group=AUTH_GROUP):
    """Describe the auth settings of a group, without secrets.

    :param conf: the configuration (default: the global one).
    :param group: the option group.
    :returns: a string like ``[swift] auth_type=password, auth_url=...``.
    """
    conf = conf or CONF
    shown = []
    for name in SHOWN_AUTH_OPTIONS:
        try:
            value = conf[group][name]
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            continue
        if value in (None, '', []):
            continue
        if isinstance(value, list):
            value = ','.join(value)
        shown.append('%s=%s' % (name, value))
    return '[%s] %s' % (group, ', '.join(shown) or 'nothing set')


def with_account(url, account):
    """Replace the account (last path segment) of a storage URL.

    :param url: a storage URL such as ``https://host/v1/AUTH_x``.
    :param account: the account to use, or '' to keep the URL's.
    :returns: the storage URL of ``account``.
    """
    if not account:
        return url
    parts = urlparse.urlsplit(url)
    path = parts.path.rstrip('/').rsplit('/', 1)[0]
    return urlparse.urlunsplit(
        parts._replace(path='%s/%s' % (path, urlparse.quote(account))))


def _status_of(error):
    """The HTTP status of a keystoneauth error, if it carries one."""
    status = getattr(error, 'http_status', None)
    if status is None:
        response = getattr(error, 'response', None)
        status = getattr(response, 'status_code', None)
    return status


class SwiftConnection(object):
    """A python-swiftclient connection on a keystoneauth1 session.

    Nothing is sent before the first request. Every request is tried
    ``[keylime]swift_retries`` more times when it fails for a passing
    reason, waiting ``[keylime]swift_retry_delay`` seconds, doubled at
    each retry.

    :param account: the Swift account to read (default
        ``[keylime]swift_account``, itself defaulting to the account of
        the authenticated project).
    :param session: a keystoneauth1 session (default: one from Ironic's
        ``[swift]`` group, built at the first request).
    :param endpoint: the storage URL with ``session`` (default: the
        session's object-store endpoint).
    :param timeout: seconds per request (``[keylime]swift_timeout``).
    :param retries: retries of passing failures
        (``[keylime]swift_retries``).
    :param retry_delay: first wait between tries
        (``[keylime]swift_retry_delay``).
    :param auth_description: what messages say of the auth settings
        (default: the ``[swift]`` options, without secrets).
    """

    def describe_auth(self):
        """The auth settings used, without secrets."""
        return self.auth_description or auth_settings()

    def __init__(self, account=None, session=None, endpoint=None,
                 timeout=None, retries=None, retry_delay=None,
                 auth_description=None):
        self.auth_description = auth_description
        self.account = (CONF.keylime.swift_account if account is None
                        else account)
        self.timeout = (CONF.keylime.swift_timeout if timeout is None
                        else timeout)
        self.retries = (CONF.keylime.swift_retries if retries is None
                        else retries)
        self.delay = (CONF.keylime.swift_retry_delay if retry_delay is None
                      else retry_delay)
        self._session = session
        self._endpoint = endpoint
        self._conn = None
        self.url = None

    def _session_from_ironic(self):
        """A session and the storage URL from Ironic's [swift] group."""
        try:
            auth = keystone.get_auth(AUTH_GROUP)
            session_kwargs = {'auth': auth}
            if CONF[AUTH_GROUP].timeout is None:
                session_kwargs['timeout'] = self.timeout
            session = keystone.get_session(AUTH_GROUP, **session_kwargs)
            # The adapter options of [swift] (endpoint_override,
            # valid_interfaces, region_name) choose the storage URL.
            service_type = CONF[AUTH_GROUP].service_type or 'object-store'
            return session, keystone.get_endpoint(
                AUTH_GROUP, session=session, service_type=service_type)
        except Exception as e:
            # keystoneauth's errors, and Ironic's own for bad options.
            self._raise_auth_error(e)

    def _connect(self):
        if self._conn is not None:
            return self._conn
        if self._session is None:
            session, endpoint = self._session_from_ironic()
        else:
            session = self._session
            try:
                endpoint = self._endpoint or session.get_endpoint(
                    service_type='object-store', interface='public')
            except Exception as e:
                self._raise_auth_error(e)
        self.url = with_account(endpoint, self.account)
        self._conn = swift_client.Connection(
            session=session, os_options={'object_storage_url': self.url},
            retries=0, timeout=self.timeout)
        return self._conn

    def _raise_auth_error(self, error):
        status = _status_of(error)
        name = type(error).__name__
        if isinstance(error, (ks_exc.ConnectionError, requests.ConnectionError,
                              requests.Timeout)):
            raise _Retriable('cannot reach the authentication service: '
                             '%s' % error)
        if status is not None and 500 <= status <= 599:
            raise _Retriable('the authentication service answered %s'
                             % status)
        if (status in (401, 403) or name in ('Unauthorized',
                                             'KeystoneUnauthorized')):
            raise exception.ListError(
                'Swift refused the credentials of the conductor '
                '(authentication failed, HTTP %(status)s). Check the '
                'credentials of the conductor; the settings used were: '
                '%(settings)s.' % {'status': status or 401,
                                   'settings': self.describe_auth()})
        raise exception.ListError(
            'The conductor cannot authenticate to Swift (%(name)s: '
            '%(err)s). Check %(settings)s.' %
            {'name': name, 'err': error, 'settings': self.describe_auth()})

    def call(self, what, func, *args, **kwargs):
        """Run ``func(connection, ...)`` with bounded retries.

        :param what: what is being done, for messages.
        :param func: a callable taking the swiftclient connection first.
        :raises: _NotFound on a 404.
        :raises: ListError on every other failure, after the retries for
            passing ones.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    return func(self._connect(), *args, **kwargs)
                except swift_exc.ClientException as e:
                    self._classify(e, what)
                except (requests.RequestException, socket.error,
                        http_client.HTTPException, urllib3_exc.HTTPError,
                        ks_exc.ConnectionError) as e:
                    # urllib3 and http.client errors: a body cut while
                    # it streams.
                    raise _Retriable(str(e) or type(e).__name__)
            except _Retriable as e:
                if attempt > self.retries:
                    raise exception.ListError(
                        'Swift did not serve %(what)s at %(url)s after '
                        '%(n)d attempt(s): %(err)s. Is Swift up and '
                        'reachable from the conductor? ([keylime]'
                        'swift_retries, swift_timeout bound the wait.)' %
                        {'what': what, 'url': self.url or self.describe_auth(),
                         'n': attempt, 'err': e})
                wait = min(self.delay * 2 ** (attempt - 1), 60)
                LOG.warning('Swift failed to serve %(what)s (%(err)s); '
                            'trying again in %(wait).1f s (attempt '
                            '%(n)d of %(max)d).',
                            {'what': what, 'err': e, 'wait': wait,
                             'n': attempt + 1, 'max': self.retries + 1})
                time.sleep(wait)

    def _classify(self, error, what):
        status = error.http_status
        if status == 404:
            raise _NotFound(what)
        if status in (401, 403):
            raise exception.ListError(
                'The conductor cannot read %(what)s: Swift answered '
                '%(status)s %(reason)s. Grant the conductor\'s user read '
                'access to the container (or use a container of the '
                'account it reads). Auth settings used: %(settings)s; '
                'account URL %(url)s.' %
                {'what': what, 'status': status,
                 'reason': error.http_reason or '',
                 'settings': self.describe_auth(), 'url': self.url})
        if status is None or status in (408, 499) or 500 <= status <= 599:
            reason = error.http_reason or error.msg or ''
            raise _Retriable('HTTP %s %s' % (status, reason))
        raise exception.ListError(
            'Swift refused to serve %(what)s: HTTP %(status)s %(reason)s.'
            % {'what': what, 'status': status,
               'reason': error.http_reason or ''})


class SwiftListSource(base.ListSource):
    """Lists from a Swift container.

    :param container: the container name (``driver_info/keylime_container``).
    :param connection: a :class:`SwiftConnection` (default: a new one from
        the configuration).
    :param cache: a :class:`ironic_keylime.lists.cache.ListCache` (default:
        the one of ``[keylime]list_cache_dir`` and ``list_cache_size``).
    """

    def __init__(self, container, connection=None, cache=None):
        self.container = container
        self.connection = connection
        self.cache = cache
        #: How each list was obtained by the last fetch: 'swift' or 'cache'.
        self.origin = {}

    def describe(self):
        return 'Swift container %s' % self.container

    def _what(self, name):
        return 'object %s of container %s' % (name, self.container)

    def _not_found(self, conn, name):
        """Say whether the container or the object is missing."""
        try:
            conn.call('container %s' % self.container,
                      lambda c: c.head_container(self.container))
        except _NotFound:
            return exception.ListError(
                'The Swift container %(c)s does not exist in the account '
                '%(url)s (driver_info/keylime_container). Create it and '
                'upload the lists, e.g. with "ironic-keylime-lists upload '
                '--container %(c)s --allowlist FILE".' %
                {'c': self.container, 'url': conn.url})
        return exception.ListError(
            'The Swift container %(c)s has no object %(name)s; upload it '
            '(object names: allowlist, allowlist_checksum, excludelist).'
            % {'c': self.container, 'name': name})

    def fetch(self, workdir):
        """Copy the lists of the container into ``workdir``.

        :param workdir: a private directory.
        :returns: :class:`ironic_keylime.lists.base.FetchedLists`.
        :raises: ListError naming the missing or unreadable object, or the
            failure of Swift.
        """
        conn = self.connection or SwiftConnection()
        cache = self.cache
        if cache is None:
            cache = list_cache.ListCache(
                CONF.keylime.list_cache_dir,
                CONF.keylime.list_cache_size * 1024 * 1024)
        self.origin = {}
        allowlist = os.path.join(workdir, kl_lists.ALLOWLIST)
        try:
            digest = self._fetch_list(conn, cache, kl_lists.ALLOWLIST,
                                      allowlist)
        except _NotFound:
            raise self._not_found(conn, kl_lists.ALLOWLIST)
        checksum = self._fetch_checksum(conn)
        excludelist = os.path.join(workdir, kl_lists.EXCLUDELIST)
        try:
            self._fetch_list(conn, cache, kl_lists.EXCLUDELIST, excludelist)
        except _NotFound:
            excludelist = None
        return base.FetchedLists(allowlist=allowlist,
                                 allowlist_sha256=digest,
                                 checksum=checksum,
                                 excludelist=excludelist)

    def _fetch_checksum(self, conn):
        name = kl_lists.CHECKSUM

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
        except _NotFound:
            return None
        return kl_lists.parse_checksum(
            text, 'object %s of Swift container %s' % (name, self.container))

    def _fetch_list(self, conn, cache, name, path):
        """Place one list in ``path``, from the cache or from Swift.

        :returns: the SHA-256 hex digest of the bytes written to ``path``.
        :raises: _NotFound when the object does not exist.
        """
        what = self._what(name)
        if cache.enabled:
            headers = conn.call(what, lambda c: c.head_object(
                self.container, name))
            etag, content_md5 = _etag(headers)
            key = list_cache.make_key(conn.url, self.container, name, etag)
            digest = self._from_cache(cache, key, etag, content_md5, path)
            if digest:
                self.origin[name] = 'cache'
                LOG.debug('%s served from the list cache', what)
                return digest
        return conn.call(what, self._download, cache, name, path)

    def _from_cache(self, cache, key, etag, content_md5, path):
        if not etag:
            return None
        entry = cache.open(key)
        if entry is None:
            return None
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks():
            for chunk in kl_lists.read_chunks(entry):
                md5.update(chunk)
                yield chunk

        with entry:
            _size, digest = kl_lists.write_chunks(chunks(), path)
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
            self.container, name, resp_chunk_size=kl_lists.CHUNK_SIZE)
        etag, content_md5 = _etag(headers)
        length = headers.get('content-length')
        length = int(length) if length and length.isdigit() else None
        writer = None
        if etag and cache.fits(length):
            # conn.url is the account URL SwiftConnection gave it.
            writer = cache.writer(list_cache.make_key(
                conn.url, self.container, name, etag))
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks():
            for chunk in body:
                md5.update(chunk)
                if writer is not None:
                    writer.write(chunk)
                yield chunk

        try:
            size, digest = kl_lists.write_chunks(chunks(), path)
            if ((length is not None and size != length)
                    or (content_md5 and md5.hexdigest() != content_md5)):
                raise _Retriable(
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
        self.origin[name] = 'swift'
        LOG.debug('Downloaded %(what)s: %(size)d bytes',
                  {'what': self._what(name), 'size': size})
        return digest
