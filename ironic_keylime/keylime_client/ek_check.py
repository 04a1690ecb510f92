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

"""The tenant's own registrar read, checked against the pinned EK.

``keylime_tenant -c add`` reads the agent's record from the registrar
itself and attests with the attestation key it finds there, seconds after
the conductor read the same record to check the node's EK pin. A record
swapped in between (deleted and registered again with another TPM) would
be attested. Keylime's tenant option ``ek_check_script`` closes the gap:
after the agent's identity quote was checked against the AK of its read,
the tenant runs the script (no arguments, the tenant's environment plus
``AGENT_UUID``, ``EK`` (PEM), ``EK_TPM`` (base64 TPM2B_PUBLIC),
``EK_CERT``, ``PROVKEYS`` and ``TPM_CERT_STORE``) and refuses the agent
unless it exits 0 (``keylime/tenant.py`` ``validate_tpm_quote``, the same
in Keylime 6.8.0 and 7.14.3).

Our script is the ``ironic-keylime-ek-check`` command (:func:`main`). The
conductor gives the tenant, for the ``add`` run only, the option as
``KEYLIME_TENANT_EK_CHECK_SCRIPT`` and the expected fingerprint and a
private result file as :data:`EXPECTED_ENV` and :data:`RESULT_ENV`. The
script compares the fingerprint of ``EK_TPM`` (computed by
:func:`.ek.fingerprint`, as the conductor's own check) with the expected
one, writes what it saw to the result file and exits 1 on a difference.
The conductor then reads the result (:func:`read_result`): a tenant that
did not run the script (one that ignores the option) fails as well.
"""

import contextlib
import json
import os
import sys
import tempfile

from ironic_keylime.keylime_client import ek
from ironic_keylime.keylime_client import exception

#: The tenant option, as an environment override (Keylime's
#: ``KEYLIME_<COMPONENT>_<OPTION>``).
SCRIPT_ENV = 'KEYLIME_TENANT_EK_CHECK_SCRIPT'
#: The expected fingerprint (64 hex characters).
EXPECTED_ENV = 'IRONIC_KEYLIME_EK_SHA256'
#: Where the script writes what it saw (a file in a private directory).
RESULT_ENV = 'IRONIC_KEYLIME_EK_CHECK_RESULT'
#: The command's name (console script).
COMMAND = 'ironic-keylime-ek-check'
#: A result file larger than this is not ours.
_MAX_RESULT = 4096


def check(environ):
    """Compare the EK the tenant read with the expected fingerprint.

    :param environ: the script's environment (a mapping).
    :returns: (exit code, result dict, one line for the tenant's log).
    """
    expected = (environ.get(EXPECTED_ENV) or '').strip().lower()
    agent = environ.get('AGENT_UUID') or ''
    result = {'agent': agent, 'expected': expected, 'seen': None,
              'match': False}
    if len(expected) != 64 or not all(c in '0123456789abcdef'
                                      for c in expected):
        return 2, result, ('%s: %s is not a SHA-256 fingerprint; the '
                           'conductor sets it' % (COMMAND, EXPECTED_ENV))
    try:
        seen = ek.fingerprint(environ.get('EK_TPM'))
    except exception.InvalidEndorsementKey as e:
        result['error'] = str(e)
        return 1, result, ('%s: agent %s: %s' % (COMMAND, agent, e))
    result['seen'] = seen
    if seen != expected:
        return 1, result, (
            '%s: agent %s: the registrar now holds EK %s, not the EK %s the '
            'conductor checked; refused' % (COMMAND, agent, seen, expected))
    result['match'] = True
    return 0, result, ('%s: agent %s: EK %s as checked by the conductor'
                       % (COMMAND, agent, seen))


def _write_result(path, result):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(result, f)


def main(environ=None):
    """The ``ironic-keylime-ek-check`` command, run by keylime_tenant.

    :returns: 0 when the EK is the expected one, 1 when not, 2 when run
        without the conductor's settings.
    """
    environ = os.environ if environ is None else environ
    code, result, line = check(environ)
    path = environ.get(RESULT_ENV)
    if path:
        try:
            _write_result(path, result)
        except OSError as e:
            line += '; cannot write %s (%s)' % (path, e)
            code = code or 2
    print(line)
    return code


@contextlib.contextmanager
def prepared(script, expected, setting='the path of ironic-keylime-ek-check'):
    """The tenant's environment for one ``add`` with the EK check.

    :param script: the absolute path of the ``ironic-keylime-ek-check``
        command.
    :param expected: the expected fingerprint.
    :param setting: how the caller's configuration names ``script``.
    :returns: a context manager giving (environment variables, result
        path); the result lives in a private directory removed on exit.
    :raises: KeylimeError if the script is not an executable file.
    """
    if not script or not os.path.isabs(script) or not (
            os.path.isfile(script) and os.access(script, os.X_OK)):
        raise exception.KeylimeError(
            'The EK check command %r cannot be run: keylime_tenant must '
            'check the EK it reads from the registrar with it. Install '
            'ironic-keylime with its %s command on the conductor, or set '
            '%s to its absolute path.' % (script, COMMAND, setting))
    with tempfile.TemporaryDirectory(prefix='ironic-keylime-ek-') as tmp:
        yield ({SCRIPT_ENV: script, EXPECTED_ENV: expected,
                RESULT_ENV: os.path.join(tmp, 'result.json')},
               os.path.join(tmp, 'result.json'))


def forget_result(path):
    """Remove a result before the tenant runs (again)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_result(path, agent_uuid, expected, tenant_ok):
    """Read what the script saw, and fail unless it saw the expected EK.

    :param path: the result file given to the tenant.
    :param agent_uuid: the agent that was added.
    :param expected: the expected fingerprint.
    :param tenant_ok: whether the tenant said it added the agent.
    :raises: EndorsementKeyChanged when the tenant's registrar read held
        another EK; EndorsementKeyNotChecked when the script did not run
        (or left no usable result) although the tenant added the agent.
    :returns: None when the tenant failed before the script ran (its own
        error applies).
    """
    try:
        with open(path, 'rb') as f:
            data = f.read(_MAX_RESULT + 1)
        result = json.loads(data.decode('utf-8'))
        if len(data) > _MAX_RESULT or not isinstance(result, dict):
            raise ValueError('not a result of %s' % COMMAND)
    except FileNotFoundError:
        result = None
    except (OSError, ValueError) as e:
        raise exception.EndorsementKeyNotChecked(
            'the result of the EK check of agent %s (%s) cannot be read: %s'
            % (agent_uuid, path, e))
    if result is None:
        if not tenant_ok:
            return None
        raise exception.EndorsementKeyNotChecked(
            'keylime_tenant added agent %s without running %s on the EK it '
            'read from the registrar: this keylime_tenant ignores the '
            'ek_check_script option given as %s (Keylime 6.x before the '
            'environment overrides?). The EK that Keylime attests with is '
            'not the one the conductor checked; upgrade the tenant.'
            % (agent_uuid, COMMAND, SCRIPT_ENV))
    if result.get('agent') != agent_uuid or result.get('expected') != expected:
        raise exception.EndorsementKeyNotChecked(
            'the EK check of agent %s answered for another agent or '
            'fingerprint (%r)' % (agent_uuid, result))
    if not result.get('match') or result.get('seen') != expected:
        raise exception.EndorsementKeyChanged(
            'the registrar\'s record of the Keylime agent %s changed after '
            'the conductor checked it: keylime_tenant read an endorsement '
            'key with SHA-256 fingerprint %s, not %s, and did not add the '
            'agent. Another TPM registered under the agent\'s UUID; check '
            'the node and its ramdisk.%s'
            % (agent_uuid, result.get('seen') or 'unreadable', expected,
               (' (%s)' % result['error']) if result.get('error') else ''))
    return result


if __name__ == '__main__':
    sys.exit(main())
