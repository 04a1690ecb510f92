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

"""Failures reported in the output of ``keylime_tenant``.

The tenant logs its errors to stdout and often exits 0 all the same; this
module turns its output into the error an operator can act on. Only short
error lines are quoted: the output also holds the agent's keys and
certificates, which have no place in a node's ``last_error``.
"""

import re

from ironic_keylime.keylime_client import exception

#: Longest quote of the tenant's own words in a message.
MAX_QUOTE = 300

_ERROR_LINE_RE = re.compile(
    r' - (?:ERROR|CRITICAL) - (?P<msg>.*)$|^(?P<exc>\w+(?:\.\w+)*Error: .*)$')
_POOL_RE = re.compile(
    r"ConnectionPool\(host='(?P<host>[^']+)', port=(?P<port>\d+)\)")
_UNREACHABLE_MARKERS = (
    'Connection refused', 'Failed to establish a new connection',
    'Max retries exceeded', 'timed out', 'Name or service not known',
    'No route to host', 'Temporary failure in name resolution',
)
_TLS_MARKERS = ('SSLError', 'CERTIFICATE_VERIFY_FAILED', 'SSL:')
_NOT_ON_REGISTRAR_RE = re.compile(
    r'does not exist on (?:the )?registrar|'
    r'data not found in (?:the )?registrar', re.IGNORECASE)
_NOT_ON_VERIFIER_RE = re.compile(
    r'does not exist on (?:the )?Verifier|'
    r'Verifier at \S+ with Port \d+ does not have agent', re.IGNORECASE)


def quote(text):
    """Shorten the tenant's words for a message."""
    text = ' '.join(text.split())
    if len(text) > MAX_QUOTE:
        text = text[:MAX_QUOTE - 3] + '...'
    return text


def error_lines(output):
    """Return the tenant's ERROR and CRITICAL messages, in order."""
    found = []
    for line in output.splitlines():
        match = _ERROR_LINE_RE.search(line.strip())
        if match:
            found.append(match.group('msg') or match.group('exc'))
    return found


def _service_of(host, port, services):
    for name, endpoint in services.items():
        if endpoint and str(endpoint[1]) == str(port):
            return name, endpoint
    return None, (host, port)


def find_failure(output, services, command,
                 cert_dir_setting='the tenant\'s certificate directory'):
    """Find the failure the tenant reported, if any.

    :param output: the tenant's stdout and stderr, joined.
    :param services: a dict of service name (``verifier``, ``registrar``,
        ``agent``) to a ``(host, port)`` tuple.
    :param command: the tenant command, for the message.
    :param cert_dir_setting: how the caller names the certificate
        directory, for the message.
    :returns: an exception instance, or None when no failure is reported.
    """
    if any(marker in output for marker in _TLS_MARKERS):
        return exception.TenantCommandFailed(
            'keylime_tenant -c %(cmd)s could not set up TLS with Keylime: '
            '%(err)s. Check %(setting)s: it must hold the verifier\'s '
            'cacert.crt, client-cert.crt and client-private.pem.' %
            {'cmd': command, 'err': quote(_last_error(output)),
             'setting': cert_dir_setting})
    if any(marker in output for marker in _UNREACHABLE_MARKERS):
        match = None
        for match in _POOL_RE.finditer(output):
            pass
        if match:
            name, endpoint = _service_of(match.group('host'),
                                         match.group('port'), services)
        else:
            name, endpoint = None, ('?', '?')
        return exception.ServiceUnreachable(
            'The Keylime %(name)s at %(host)s:%(port)s did not answer '
            '(keylime_tenant -c %(cmd)s: %(err)s).' %
            {'name': name or 'service', 'host': endpoint[0],
             'port': endpoint[1], 'cmd': command,
             'err': quote(_last_error(output, _UNREACHABLE_MARKERS))})
    # After the connection failures: a tenant that cannot reach the
    # registrar also says that the agent does not exist on it.
    if _NOT_ON_REGISTRAR_RE.search(output):
        registrar = services.get('registrar') or ('?', '?')
        return exception.AgentNotFound(
            'The Keylime agent is not registered with the registrar at '
            '%s:%s. Check that the Keylime agent runs on the node, that '
            'it registered with this registrar, and that its UUID is the '
            'one given to Ironic.' % tuple(registrar))
    if _NOT_ON_VERIFIER_RE.search(output):
        verifier = services.get('verifier') or ('?', '?')
        return exception.AgentNotFound(
            'The Keylime agent is not known to the verifier at %s:%s.'
            % tuple(verifier))
    return None


def _last_error(output, markers=()):
    """The tenant's last error, preferring one that names a marker."""
    lines = error_lines(output)
    relevant = [line for line in lines
                if any(marker in line for marker in markers)]
    if relevant:
        return relevant[-1]
    if lines:
        return lines[-1]
    stripped = [line for line in output.splitlines() if line.strip()]
    return stripped[-1] if stripped else 'no output'


def command_failed(output, returncode, command):
    """Build the error for a tenant command that failed for another cause.

    :param output: the tenant's stdout and stderr, joined.
    :param returncode: its exit code.
    :param command: the tenant command.
    """
    return exception.TenantCommandFailed(
        'keylime_tenant -c %(cmd)s failed (exit code %(rc)s): %(err)s' %
        {'cmd': command, 'rc': returncode,
         'err': quote(_last_error(output))})
