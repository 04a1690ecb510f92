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

"""A stand-in ``keylime_tenant`` that replays real outputs.

Unit tests cannot run a Keylime verifier; they run this program as the
tenant executable instead, so that our code really starts a process,
passes it arguments and files, and reads what it prints. What it prints
comes from real runs of keylime_tenant 7.14.3 (``tests/fixtures``).

It reads a plan, a JSON file named by ``FAKE_TENANT_PLAN``::

    {"log": "/path/calls.jsonl", "fixtures": "/path/tenant-7.14.3",
     "commands": {"add": [STEP, ...], "status": [...], "delete": [...],
                  "--help": [...]}}

where a STEP is ``{"fixture": "tenant-status-ok-1"}`` (print its
``.stdout``/``.stderr`` and exit with its ``.rc``), or ``{"stdout": "...",
"rc": 1}``, or ``{"hang": 60, "child_pid_file": "/path"}`` (start a child
that sleeps too, then sleep), or ``{"flood": 10485760, "child_pid_file":
"/path"}`` (start a child that sleeps, print that many bytes as an agent's
endless answer would come, then sleep). The steps of a command are used in
turn; the last one repeats. Every call is logged with its argv, the
environment variables it was given (``env``: ours; ``keylime_env``: every
variable whose name starts with ``KEYLIME``), its process, group and
session ids, and the mode of every file named in its argv.

Given ``KEYLIME_TENANT_EK_CHECK_SCRIPT``, ``add`` first reads the agent's
record from the registrar of ``-r``/``-rp`` and runs the script as
Keylime's tenant does (:func:`_keylime_ek_check`), unless the step says
``"skip_ek_check": true`` (a tenant that ignores the option).
"""

import http.client
import json
import os
import ssl
import stat
import subprocess
import sys
import time

ENV_KEYS = ('KEYLIME_TENANT_CONFIG', 'KEYLIME_TENANT_TLS_DIR',
            'KEYLIME_TENANT_TRUSTED_SERVER_CA')


def _command(argv):
    if '--help' in argv:
        return '--help'
    if '-c' in argv:
        return argv[argv.index('-c') + 1]
    return 'add'


def _files(argv):
    found = {}
    for arg in argv:
        if os.path.isabs(arg) and os.path.exists(arg):
            st = os.stat(arg)
            with open(arg, 'rb') as f:
                data = f.read()
            found[arg] = {'mode': stat.S_IMODE(st.st_mode),
                          'dir_mode': stat.S_IMODE(
                              os.stat(os.path.dirname(arg)).st_mode),
                          'head': data[:200].decode('utf-8', 'replace'),
                          'tail': data[-400:].decode('utf-8', 'replace')}
    return found


def _next_step(plan, command, log):
    steps = plan['commands'].get(command)
    if not steps:
        return {'stdout': 'fake tenant: no plan for %s' % command, 'rc': 2}
    used = sum(1 for entry in log if entry['command'] == command)
    return steps[min(used, len(steps) - 1)]


def _read_log(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _argument(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def _keylime_ek_check(argv):
    """Run ``ek_check_script`` as keylime_tenant's ``add`` does.

    Keylime 6.8.0 and 7.14.3 (``keylime/tenant.py``: ``init_add`` reads
    the agent's record from the registrar, ``validate_tpm_quote`` runs
    the script with no arguments and the tenant's environment plus
    ``AGENT_UUID``, ``EK``, ``EK_TPM``, ``EK_CERT``, ``PROVKEYS`` and
    ``TPM_CERT_STORE``). Only ``EK`` is left out (it is the PEM form of
    ``EK_TPM``, made with Keylime's own TPM parser). This tenant reads
    the registrar for real, over mutual TLS, with the files of
    ``KEYLIME_TENANT_TLS_DIR``.

    :returns: None when no script is set, else (exit code, its output).
    """
    script = os.environ.get('KEYLIME_TENANT_EK_CHECK_SCRIPT')
    if not script:
        return None
    agent = _argument(argv, '-u')
    tls_dir = os.environ['KEYLIME_TENANT_TLS_DIR']
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(os.path.join(tls_dir, 'cacert.crt'))
    context.load_cert_chain(os.path.join(tls_dir, 'client-cert.crt'),
                            os.path.join(tls_dir, 'client-private.pem'))
    connection = http.client.HTTPSConnection(
        _argument(argv, '-r'), int(_argument(argv, '-rp')), timeout=10,
        context=context)
    try:
        connection.request('GET', '/v2.6/agents/%s' % agent)
        record = json.loads(connection.getresponse().read())['results']
    finally:
        connection.close()
    env = dict(os.environ, AGENT_UUID=agent, EK_TPM=record['ek_tpm'],
               EK_CERT=record.get('ekcert') or '', PROVKEYS='{}',
               TPM_CERT_STORE='/var/lib/keylime/tpm_cert_store')
    process = subprocess.run([script], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, check=False)
    return process.returncode, process.stdout.decode()


def _ek_check_failed(argv, output):
    """What keylime_tenant prints when the script refused the EK."""
    agent = 'Agent %s (%s:%s)' % (
        _argument(argv, '-u'), _argument(argv, '-t'), _argument(argv, '-tp'))
    sys.stdout.write(
        '2026-12-06 20:00:00.000 - keylime.cert_utils - ERROR - External '
        'check script failed to validate EK: %s\n'
        '2026-12-06 20:00:00.001 - keylime.tenant - ERROR - TPM Quote from '
        '%s is invalid for nonce: fakenonce\n' % (output, agent))
    return 1


def main():
    argv = sys.argv[1:]
    with open(os.environ['FAKE_TENANT_PLAN']) as f:
        plan = json.load(f)
    command = _command(argv)
    log = _read_log(plan['log'])
    step = _next_step(plan, command, log)
    with open(plan['log'], 'a') as f:
        f.write(json.dumps({'command': command, 'argv': argv,
                            'env': {k: os.environ.get(k) for k in ENV_KEYS},
                            'keylime_env': {
                                k: v for k, v in os.environ.items()
                                if k.upper().startswith('KEYLIME')},
                            'session': {'pid': os.getpid(),
                                        'pgid': os.getpgid(0),
                                        'sid': os.getsid(0)},
                            'files': _files(argv)}) + '\n')
    if command == 'add' and not step.get('skip_ek_check'):
        checked = _keylime_ek_check(argv)
        if checked is not None and checked[0] != 0:
            return _ek_check_failed(argv, checked[1])
    if 'hang' in step or 'flood' in step:
        child = subprocess.Popen([sys.executable, '-c',
                                  'import time; time.sleep(%d)'
                                  % step.get('hang', 60)])
        with open(step['child_pid_file'], 'w') as f:
            f.write(str(child.pid))
        if 'flood' in step:
            chunk = b'{"agent": "' + b'A' * 65536
            for _ in range(step['flood'] // len(chunk)):
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        time.sleep(step.get('hang', 60))
        return 0
    if 'fixture' in step:
        base = os.path.join(plan['fixtures'], step['fixture'])
        if not os.path.exists(base + '.stdout'):
            sys.stderr.write('fake tenant: no fixture %s\n' % base)
            return 3
        for suffix, stream in (('.stdout', sys.stdout),
                               ('.stderr', sys.stderr)):
            if os.path.exists(base + suffix):
                with open(base + suffix) as f:
                    stream.write(f.read())
        rc = 0
        if os.path.exists(base + '.rc'):
            with open(base + '.rc') as f:
                rc = int(f.read().strip() or 0)
        return step.get('rc', rc)
    sys.stdout.write(step.get('stdout', ''))
    sys.stderr.write(step.get('stderr', ''))
    return step.get('rc', 0)


if __name__ == '__main__':
    sys.exit(main())
