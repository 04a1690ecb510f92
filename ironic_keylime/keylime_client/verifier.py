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

"""A client of the Keylime verifier's REST API: verdicts and deletes.

``keylime_tenant`` still adds agents (it checks the agent with the
registrar and exchanges keys with it); reading a verdict and removing an
agent are one HTTPS request each here, in the conductor's process, on a
connection that is kept open between requests (one ``requests`` session
per verifier, see :func:`get_client`).

* The API version is negotiated with ``GET /version``: the highest 2.x
  version the verifier lists (the agent routes of v3 are push mode only
  and answer 404 in Keylime 7.14). Verifiers without ``/version`` or
  without a 2.x version are refused with a clear error.
* ``GET /v2.x/agents/{uuid}`` reads one agent; ``GET
  /v2.x/agents/?bulk=True`` (and ``&verifier=ID``) every agent of the
  verifier at once; ``DELETE /v2.x/agents/{uuid}`` removes one, and its
  202 "deletion in progress" is followed with ``GET`` until the agent is
  gone, within the timeout, or returned at once for the caller to
  confirm later (:meth:`VerifierClient.removal_state`).
* Mutual TLS with the tenant's certificates (:mod:`.tls`), over one
  kept ``requests`` session per verifier (:mod:`.https`).
* Verdicts are built by :func:`.status.status_from_record`, with every
  fail-closed rule of the tenant path; errors are those of the tenant
  client (:mod:`.exception`).
"""

import collections
import re
import threading
import time

from oslo_log import log as logging

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import https
from ironic_keylime.keylime_client import status as kl_status
from ironic_keylime.keylime_client import tls

LOG = logging.getLogger(__name__)

#: The major version of the verifier API this client speaks.
API_MAJOR = 2
#: Clients kept by get_client (one session each).
CACHE_SIZE = 16
#: Seconds between two reads while a deletion is in progress (at most).
DELETE_POLL_MAX = 1.0
#: The oldest API version whose verifier takes our enrollment body: 2.6
#: (Keylime 7.14, whose verifier negotiates the agent's API version on
#: first contact; the body was tested against 7.14.3).
ENROLL_MIN_API = (2, 6)
_NOT_FOUND = 'agent id not found'
#: Keylime's "Terminated" operational state: a deletion is in progress.
_TERMINATED = 8
#: What :meth:`VerifierClient.removal_state` returns.
GONE = 'gone'
TERMINATING = 'terminating'
PRESENT = 'present'
_AGENT_ID_RE = re.compile(r'^[\w.-]+$', re.ASCII)


class VerifierClient(object):
    """One Keylime verifier, reached over HTTPS with mutual TLS.

    :param host: the verifier's address.
    :param port: its port.
    :param certs: :class:`.tls.Certificates`.
    :param timeout: seconds one request may take; also the limit of
        :meth:`delete` as a whole.
    :param setting_names: how the caller's configuration names
        ``cert_dir``, ``timeout`` and ``max_answer``, for messages.
    :param max_answer: the largest answer read, in bytes.
    :raises: TenantCommandFailed if a certificate file cannot be used.
    """

    def __init__(self, host, port, certs, timeout=60, setting_names=None,
                 max_answer=https.DEFAULT_MAX_ANSWER):
        self._http = https.Connection('verifier', host, port, certs,
                                      timeout=timeout,
                                      setting_names=setting_names,
                                      max_answer=max_answer)
        self.certs = certs
        self.timeout = timeout
        self.address = self._http.address
        #: Who reports the records, for the messages of the status parser.
        self.source = 'the Keylime verifier at %s' % self.address
        self._version = None
        self._lock = threading.Lock()

    def close(self):
        """Close the connections of this client."""
        self._http.close()

    def _request(self, method, path, params=None, body=None):
        code, body = self._http.request(method, path, params=params,
                                        body=body)
        if code == 400 and 'version' in str(body.get('status', '')).lower():
            # "API Version not supported": the verifier changed under us.
            # This call fails; the next one negotiates again.
            with self._lock:
                self._version = None
        return code, body

    def _failed(self, method, path, code, body):
        return self._http.failed(method, path, code, body)

    def api_version(self):
        """The API version used with this verifier (negotiated once).

        :returns: a version string, e.g. ``2.6``.
        :raises: KeylimeError (a subclass) if the verifier cannot be
            asked or supports no 2.x version.
        """
        with self._lock:
            if self._version:
                return self._version
        code, body = self._request('GET', '/version')
        results = body.get('results')
        if code != 200 or not isinstance(results, dict):
            raise exception.UnparsableOutput(
                'The Keylime verifier at %s does not tell its API versions '
                '(GET /version answered %s).' % (self.address, code))
        offered = results.get('supported_versions')
        if not isinstance(offered, list):
            offered = [results.get('current_version')]
        version = negotiate(offered)
        if version is None:
            raise exception.TenantCommandFailed(
                'The Keylime verifier at %(addr)s supports the API versions '
                '%(offered)s; ironic-keylime needs a %(major)d.x version '
                '(Keylime 6.0 or newer).' %
                {'addr': self.address,
                 'offered': https.short(repr(offered)),
                 'major': API_MAJOR})
        LOG.debug('Using API version %(v)s of the Keylime verifier at '
                  '%(addr)s', {'v': version, 'addr': self.address})
        with self._lock:
            self._version = version
        return version

    def _agent_path(self, agent_uuid):
        if not isinstance(agent_uuid, str) or not _AGENT_ID_RE.match(
                agent_uuid) or agent_uuid in ('.', '..'):
            # Keylime's own rule (keylime.common.validators): nothing
            # else can reach another route or add a query.
            raise exception.UnparsableOutput(
                'The agent UUID %r is not a valid Keylime agent ID.'
                % (agent_uuid,))
        return '/v%s/agents/%s' % (self.api_version(), agent_uuid)

    def agent_record(self, agent_uuid):
        """The verifier's record of one agent.

        :param agent_uuid: the agent's UUID.
        :returns: the record (a dict) as the verifier returns it.
        :raises: AgentNotFound if the verifier does not have the agent;
            ServiceUnreachable, TenantTimeout, TenantCommandFailed,
            UnparsableOutput otherwise.
        """
        path = self._agent_path(agent_uuid)
        code, body = self._request('GET', path)
        if code == 404:
            raise exception.AgentNotFound(
                'The Keylime agent is not known to the verifier at %s.'
                % self.address)
        if code != 200:
            raise self._failed('GET', path, code, body)
        record = body.get('results')
        if not isinstance(record, dict):
            raise exception.UnparsableOutput(
                'The Keylime verifier at %s answered GET %s with no agent '
                'record.' % (self.address, path))
        # Tolerated: the record wrapped as {uuid: record}, as the tenant
        # prints it.
        if 'operational_state' not in record and isinstance(
                record.get(agent_uuid), dict):
            record = record[agent_uuid]
        return record

    def status(self, agent_uuid, since=None):
        """The verdict on one agent (``GET /v2.x/agents/{uuid}``).

        :param agent_uuid: the agent's UUID.
        :param since: when this attempt started: see
            :func:`ironic_keylime.keylime_client.status.status_from_record`.
        :returns: an :class:`ironic_keylime.keylime_client.status.AgentStatus`.
        :raises: AgentNotFound, ServiceUnreachable, TenantTimeout,
            TenantCommandFailed or UnparsableOutput; never a verdict by
            default.
        """
        return kl_status.status_from_record(self.agent_record(agent_uuid),
                                            since=since, source=self.source)

    def agent_records(self, verifier_id=None):
        """Every agent of the verifier, in one request (bulk).

        :param verifier_id: only the agents of this verifier ID (several
            verifiers sharing one database), or None for all.
        :returns: a dict of agent UUID to its record; use
            :func:`status_in` to read one agent's verdict from it.
        :raises: BulkUnsupported if the verifier only lists UUIDs (it
            has no bulk read: read agents one by one); ServiceUnreachable,
            TenantTimeout, TenantCommandFailed or UnparsableOutput.
        """
        path = '/v%s/agents/' % self.api_version()
        params = {'bulk': 'True'}
        if verifier_id:
            params['verifier'] = verifier_id
        code, body = self._request('GET', path, params=params)
        if code != 200:
            raise self._failed('GET', path + '?bulk=True', code, body)
        records = body.get('results')
        if not isinstance(records, dict):
            raise exception.UnparsableOutput(
                'The Keylime verifier at %s answered a bulk GET with no '
                'agent records.' % self.address)
        if isinstance(records.get('uuids'), list):
            raise exception.BulkUnsupported(
                'The Keylime verifier at %s has no bulk read of its agents.'
                % self.address)
        for uuid, record in records.items():
            if not isinstance(record, dict):
                raise exception.UnparsableOutput(
                    'The Keylime verifier at %s answered a bulk GET with a '
                    'record of agent %s that is not an object.'
                    % (self.address, uuid))
        return records

    def status_in(self, records, agent_uuid, since=None):
        """The verdict on one agent, from :meth:`agent_records`.

        :param records: what :meth:`agent_records` returned.
        :param agent_uuid: the agent's UUID.
        :param since: see :meth:`status`.
        :raises: AgentNotFound if the agent is not in ``records``;
            UnparsableOutput.
        """
        if agent_uuid not in records:
            raise exception.AgentNotFound(
                'The Keylime agent is not known to the verifier at %s.'
                % self.address)
        return kl_status.status_from_record(records[agent_uuid],
                                            since=since, source=self.source)

    def add(self, agent_uuid, body):
        """Enroll an agent (``POST /v{ver}/agents/{uuid}``).

        Only with a verifier that offers API :data:`ENROLL_MIN_API` or
        newer (Keylime 7.14): the body is the one its tenant sends
        (:func:`.enroll.body`).

        :param agent_uuid: the agent's UUID.
        :param body: the body, a dict.
        :raises: TenantCommandFailed when the verifier is too old for
            this, already holds the agent (409) or refused the body;
            ServiceUnreachable, TenantTimeout, UnparsableOutput.
        """
        path = self._agent_path(agent_uuid)
        version = tuple(int(p) for p in self.api_version().split('.'))
        if version < ENROLL_MIN_API:
            raise exception.TenantCommandFailed(
                'The Keylime verifier at %(addr)s speaks API %(v)s; '
                'enrollment over REST needs %(min)s or newer (Keylime '
                '7.14 and newer). Set [keylime]verifier_api to "tenant" '
                'for this verifier.' %
                {'addr': self.address, 'v': '%d.%d' % version,
                 'min': '%d.%d' % ENROLL_MIN_API})
        code, answer = self._request('POST', path, body=body)
        if code == 200:
            return
        if code == 409:
            raise exception.TenantCommandFailed(
                'The Keylime verifier at %(addr)s already holds agent '
                '%(uuid)s (or a policy of its name): %(why)s' %
                {'addr': self.address, 'uuid': agent_uuid,
                 'why': https.short(https.reason(answer))})
        raise self._failed('POST', path, code, answer)

    def verify_evidence(self, data):
        """Have the verifier judge evidence once (``verify/evidence``).

        :param data: the ``data`` of a ``tpm`` evidence request (quote,
            nonce, hash_alg, tpm_ek, tpm_ak and the policies).
        :returns: the list of failures the verifier reports (each a dict
            with ``type``, the event id), empty when it found none.
        :raises: KeylimeError (a subclass) if the request fails.
        """
        path = '/v%s/verify/evidence' % self.api_version()
        code, body = self._request('POST', path,
                                   body={'type': 'tpm', 'data': data})
        if code != 200:
            raise self._failed('POST', path, code, body)
        results = body.get('results') or {}
        failures = results.get('failures')
        if not isinstance(failures, list):
            raise self._failed('POST', path, code, body)
        return failures

    def delete(self, agent_uuid, wait=True):
        """Remove an agent from the verifier; an unknown agent is fine.

        A 202 (the verifier is attesting the agent: it is marked
        "Terminated" and removed once the current attestation ends) is
        followed with ``GET`` until the agent is gone, for at most
        ``timeout`` seconds in all, sleeping between reads; unless
        ``wait`` is False: then the 202 is returned at once, and the
        caller confirms the removal later with :meth:`removal_state`.

        :param agent_uuid: the agent's UUID.
        :param wait: whether to wait for the end of a deletion in
            progress.
        :returns: True when the agent is gone, False when ``wait`` is
            False and the verifier is still deleting it.
        :raises: TenantTimeout if the agent is still there at the end;
            TenantCommandFailed if the verifier refused (for example an
            agent of another verifier ID); ServiceUnreachable,
            UnparsableOutput.
        """
        deadline = time.monotonic() + self.timeout
        path = self._agent_path(agent_uuid)
        code, body = self._request('DELETE', path)
        if code == 200 or (code == 404 and _not_found(body)):
            return True
        if code != 202:
            raise self._failed('DELETE', path, code, body)
        if not wait:
            return False
        pause = 0.1
        while True:
            code, body = self._request('GET', path)
            if code == 404 and _not_found(body):
                return True
            if code != 200:
                raise self._failed('GET', path, code, body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise exception.TenantTimeout(
                    'The Keylime verifier at %(addr)s did not finish '
                    'deleting agent %(uuid)s within %(setting)s '
                    '(%(timeout)s s).' %
                    {'addr': self.address, 'uuid': agent_uuid,
                     'setting': self._http.setting_names['timeout'],
                     'timeout': self.timeout})
            time.sleep(min(pause, left))
            pause = min(pause * 2, DELETE_POLL_MAX)

    def removal_state(self, agent_uuid):
        """Where the removal of an agent stands (one ``GET``).

        :param agent_uuid: the agent's UUID.
        :returns: :data:`GONE` (the verifier answers "agent id not
            found"), :data:`TERMINATING` (it holds the agent in state
            "Terminated": a deletion is in progress) or :data:`PRESENT`
            (it holds the agent in another state: no deletion is in
            progress).
        :raises: ServiceUnreachable, TenantTimeout, TenantCommandFailed,
            UnparsableOutput.
        """
        path = self._agent_path(agent_uuid)
        code, body = self._request('GET', path)
        if code == 404 and _not_found(body):
            return GONE
        if code != 200:
            raise self._failed('GET', path, code, body)
        record = body.get('results')
        if isinstance(record, dict) and isinstance(record.get(agent_uuid),
                                                   dict):
            record = record[agent_uuid]
        if not isinstance(record, dict):
            raise exception.UnparsableOutput(
                'The Keylime verifier at %s answered GET %s with no agent '
                'record.' % (self.address, path))
        code = kl_status.state_code(record.get('operational_state'),
                                    source=self.source)
        return TERMINATING if code == _TERMINATED else PRESENT


def negotiate(offered):
    """The highest ``API_MAJOR``.x version among ``offered``, or None.

    :param offered: version strings, e.g. ``['1.0', '2.0', '2.6', '3.0']``.
    """
    best = None
    for text in offered or ():
        if not isinstance(text, str):
            continue
        parts = text.strip().lstrip('v').split('.')
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            continue
        key = (int(parts[0]), int(parts[1]))
        if key[0] == API_MAJOR and (best is None or key > best):
            best = key
    return '%d.%d' % best if best else None


def _not_found(body):
    # "agent id not found"; Keylime 7.14 answers 404 with another status
    # ("agent id associated to this verifier") for an agent of another
    # verifier ID, which is still there.
    return str(body.get('status', '')).strip().lower() == _NOT_FOUND


_clients = collections.OrderedDict()
_clients_lock = threading.Lock()


def get_client(host, port, cert_dir=None, tenant_config=None, timeout=60,
               setting_names=None, max_answer=https.DEFAULT_MAX_ANSWER):
    """The client of one verifier, kept for the next calls.

    Clients (and their open connections) are kept by verifier, files and
    timeout; a certificate file replaced on disk makes a new client. At
    most :data:`CACHE_SIZE` are kept.

    :param host: the verifier's address.
    :param port: its port.
    :param cert_dir: the tenant's certificate directory, or None.
    :param tenant_config: a Keylime tenant.conf, or None; see
        :func:`.tls.find_certificates`.
    :param timeout: seconds a request (and a whole delete) may take.
    :param setting_names: how the caller's configuration names
        ``cert_dir``, ``config``, ``timeout`` and ``max_answer``, for
        messages.
    :param max_answer: the largest answer read, in bytes.
    :returns: a :class:`VerifierClient`.
    :raises: KeylimeError if the certificates cannot be found or used.
    """
    certs = tls.find_certificates(cert_dir, tenant_config, setting_names)
    key = (host, int(port), certs, tls.file_stamps(certs), timeout,
           tuple(sorted((setting_names or {}).items())), max_answer)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    client = VerifierClient(host, port, certs, timeout=timeout,
                            setting_names=setting_names,
                            max_answer=max_answer)
    with _clients_lock:
        if key in _clients:
            # Another thread made one meanwhile: keep a single session.
            client.close()
            return _clients[key]
        _clients[key] = client
        while len(_clients) > CACHE_SIZE:
            _key, old = _clients.popitem(last=False)
            old.close()
    return client


def clear_clients():
    """Close and forget every kept client (tests, configuration reload)."""
    with _clients_lock:
        while _clients:
            _key, old = _clients.popitem()
            old.close()
