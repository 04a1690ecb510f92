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

"""A connection to Swift: authentication, TLS, bounded retries, errors.

The conductor authenticates the way Ironic talks to Swift: a keystoneauth1
session from Ironic's ``[swift]`` group (auth plugin, session and adapter
options), and python-swiftclient on top of it. ``ironic-keylime-lists``
hands in a session of its own. Either way the TLS settings of the session
(CA file, client certificate and key, insecure) apply to the object
requests too, not only to the authentication.

Both the conductor's fetch and the command's publish run their requests
through :meth:`SwiftConnection.call`, so they retry and word their errors
the same way.
"""

import collections
from http import client as http_client
import socket
import time
from urllib import parse as urlparse

from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from oslo_log import log as logging
import requests
from swiftclient import client as swift_client
from swiftclient import exceptions as swift_exc
from urllib3 import exceptions as urllib3_exc

from ironic_keylime.lists import exception

LOG = logging.getLogger(__name__)

#: The group of Ironic's configuration the conductor authenticates with.
AUTH_GROUP = 'swift'
#: Options of the auth group that may be shown in messages (no secrets).
SHOWN_AUTH_OPTIONS = ('auth_type', 'auth_url', 'username', 'user_id',
                      'user_domain_name', 'user_domain_id', 'project_name',
                      'project_id', 'project_domain_name',
                      'project_domain_id', 'system_scope', 'region_name',
                      'endpoint_override', 'valid_interfaces')
#: The longest wait between two tries, in seconds.
MAX_RETRY_DELAY = 60

Settings = collections.namedtuple(
    'Settings', ['account', 'timeout', 'retries', 'retry_delay'])
Settings.__doc__ = """How a :class:`SwiftConnection` talks to Swift.

:ivar account: the Swift account to use instead of the one of the
    authenticated project (e.g. ``AUTH_<id>``), or '' for that one.
:ivar timeout: seconds per request.
:ivar retries: how many more tries a request that failed for a passing
    reason gets.
:ivar retry_delay: seconds before the first retry, doubled at each one.
"""


def settings_from_conf(conf):
    """The conductor's :class:`Settings`, from ``[keylime]``.

    :param conf: the configuration object.
    """
    return Settings(account=conf.keylime.swift_account,
                    timeout=conf.keylime.swift_timeout,
                    retries=conf.keylime.swift_retries,
                    retry_delay=conf.keylime.swift_retry_delay)


class NotFound(Exception):
    """A 404 from Swift, kept apart so that callers can say which."""


class Retriable(Exception):
    """A failure worth another try (connection, timeout, 5xx)."""


def auth_settings(conf, group=AUTH_GROUP):
    """Describe the auth settings of a group, without secrets.

    :param conf: the configuration object.
    :param group: the option group.
    :returns: a string like ``[swift] auth_type=password, auth_url=...``.
    """
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


def ironic_session(conf, timeout):
    """A keystoneauth1 session and storage URL from Ironic's ``[swift]``.

    :param conf: the configuration object (Ironic's, with ``[swift]``).
    :param timeout: the session timeout when ``[swift]timeout`` is unset.
    :returns: a tuple (session, storage URL).
    :raises: whatever keystoneauth1 or Ironic raise for bad options or a
        failed authentication; :class:`SwiftConnection` words them.
    """
    # Imported here: only the conductor reads Ironic's options.
    from ironic.common import keystone

    auth = keystone.get_auth(AUTH_GROUP)
    session_kwargs = {'auth': auth}
    if conf[AUTH_GROUP].timeout is None:
        session_kwargs['timeout'] = timeout
    session = keystone.get_session(AUTH_GROUP, **session_kwargs)
    # The adapter options of [swift] (endpoint_override, valid_interfaces,
    # region_name) choose the storage URL.
    service_type = conf[AUTH_GROUP].service_type or 'object-store'
    return session, keystone.get_endpoint(
        AUTH_GROUP, session=session, service_type=service_type)


def tls_options(session):
    """python-swiftclient's TLS arguments from a keystoneauth1 session.

    swiftclient sends the object requests with its own HTTP connection,
    not through the session: without these, the CA file, the client
    certificate and ``insecure`` would only apply to the token request.

    :param session: a keystoneauth1 session.
    :returns: a dict of ``cacert``, ``insecure``, ``cert``, ``cert_key``.
    """
    verify = getattr(session, 'verify', True)
    cert = getattr(session, 'cert', None)
    cert_key = None
    if isinstance(cert, (tuple, list)):
        cert, cert_key = cert
    return {'cacert': verify if isinstance(verify, str) else None,
            'insecure': verify is False,
            'cert': cert or None,
            'cert_key': cert_key or None}


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
    ``settings.retries`` more times when it fails for a passing reason,
    waiting ``settings.retry_delay`` seconds, doubled at each retry.

    :param settings: :class:`Settings`.
    :param session_factory: a callable returning (session, storage URL),
        called at the first request; for the conductor
        ``lambda: ironic_session(CONF, settings.timeout)``.
    :param auth_description: what messages say of the auth settings
        (never a secret).
    :param who: who connects, for messages (``the conductor``).
    """

    def __init__(self, settings, session_factory, auth_description,
                 who='the conductor'):
        self.settings = settings
        self.session_factory = session_factory
        self.auth_description = auth_description
        self.who = who
        self._conn = None
        #: The account URL, known after the first request.
        self.url = None

    def _connect(self):
        if self._conn is not None:
            return self._conn
        try:
            session, endpoint = self.session_factory()
        except Exception as e:
            # keystoneauth's errors, and Ironic's own for bad options.
            self._raise_auth_error(e)
        self.url = with_account(endpoint, self.settings.account)
        self._conn = swift_client.Connection(
            session=session, os_options={'object_storage_url': self.url},
            retries=0, timeout=self.settings.timeout,
            **tls_options(session))
        return self._conn

    def authenticate(self):
        """Authenticate and find the account URL now, with the retries.

        :raises: ListError when the credentials are refused or the
            service cannot be reached.
        """
        self.call('the account', lambda conn: None)

    def _raise_auth_error(self, error):
        status = _status_of(error)
        name = type(error).__name__
        if isinstance(error, (ks_exc.ConnectionError, requests.ConnectionError,
                              requests.Timeout)):
            raise Retriable('cannot reach the authentication service: %s'
                            % error)
        if status is not None and 500 <= status <= 599:
            raise Retriable('the authentication service answered %s'
                            % status)
        if (status in (401, 403) or name in ('Unauthorized',
                                             'KeystoneUnauthorized')):
            raise exception.ListError(
                'Swift refused the credentials of %(who)s (authentication '
                'failed, HTTP %(status)s). Check the credentials; the '
                'settings used were: %(settings)s.' %
                {'who': self.who, 'status': status or 401,
                 'settings': self.auth_description})
        raise exception.ListError(
            'Swift authentication failed: %(who)s cannot authenticate '
            '(%(name)s: %(err)s). Check %(settings)s.' %
            {'who': self.who, 'name': name, 'err': error,
             'settings': self.auth_description})

    def call(self, what, func, *args, writing=False, **kwargs):
        """Run ``func(connection, ...)`` with bounded retries.

        :param what: what is being read or written, for messages.
        :param func: a callable taking the swiftclient connection first;
            it must be safe to run again (a retry starts over).
        :param writing: the request writes (for the wording of a 403).
        :raises: NotFound on a 404.
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
                    self._classify(e, what, writing)
                except (requests.RequestException, socket.error,
                        http_client.HTTPException, urllib3_exc.HTTPError,
                        ks_exc.ConnectionError) as e:
                    # urllib3 and http.client errors: a body cut while
                    # it streams.
                    raise Retriable(str(e) or type(e).__name__)
            except Retriable as e:
                if attempt > self.settings.retries:
                    raise exception.ListError(
                        'Swift did not serve %(what)s at %(url)s after '
                        '%(n)d attempt(s): %(err)s. Is Swift up and '
                        'reachable from %(who)s? (The retries and the '
                        'timeout bound the wait: [keylime]swift_retries, '
                        'swift_timeout on the conductor.)' %
                        {'what': what,
                         'url': self.url or self.auth_description,
                         'n': attempt, 'err': e, 'who': self.who})
                wait = min(self.settings.retry_delay * 2 ** (attempt - 1),
                           MAX_RETRY_DELAY)
                LOG.warning('Swift failed to serve %(what)s (%(err)s); '
                            'trying again in %(wait).1f s (attempt '
                            '%(n)d of %(max)d).',
                            {'what': what, 'err': e, 'wait': wait,
                             'n': attempt + 1,
                             'max': self.settings.retries + 1})
                time.sleep(wait)

    def _classify(self, error, what, writing):
        status = error.http_status
        if status == 404:
            raise NotFound(what)
        if status in (401, 403):
            raise exception.ListError(
                'Access denied: %(who)s cannot %(verb)s %(what)s: Swift '
                'answered '
                '%(status)s %(reason)s. Grant its user %(verb)s access to '
                'the container (or use a container of the account it '
                'uses). Auth settings used: %(settings)s; account URL '
                '%(url)s.' %
                {'who': self.who,
                 'verb': 'write' if writing else 'read', 'what': what,
                 'status': status, 'reason': error.http_reason or '',
                 'settings': self.auth_description, 'url': self.url})
        if status is None or status in (408, 499) or 500 <= status <= 599:
            reason = error.http_reason or error.msg or ''
            raise Retriable('HTTP %s %s' % (status, reason))
        raise exception.ListError(
            'Swift refused to %(verb)s %(what)s: HTTP %(status)s '
            '%(reason)s.' % {'verb': 'store' if writing else 'serve',
                             'what': what, 'status': status,
                             'reason': error.http_reason or ''})
