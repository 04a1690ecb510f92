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

"""The Keylime harness's ``keylime.env`` and the lists it measured.

``tools/keylime/harness.sh start RUNDIR`` writes ``RUNDIR/keylime.env``
(``KEYLIME_HARNESS_*=value`` lines); ``tools/functional.sh`` exports it
to the functional tests, the benchmarks read the file.
"""

import hashlib
import os
import shutil

PREFIX = 'KEYLIME_HARNESS_'
#: What keylime.env defines.
REQUIRED = tuple(PREFIX + name for name in (
    'DIR', 'TENANT', 'TENANT_CONFIG', 'CERT_DIR', 'VERIFIER',
    'VERIFIER_PORT', 'REGISTRAR', 'REGISTRAR_PORT', 'AGENT_UUID',
    'AGENT_ADDRESS', 'AGENT_PORT', 'ALLOWLIST', 'EXCLUDELIST'))


def read(run_dir):
    """The variables of ``RUN_DIR/keylime.env``.

    :returns: {``KEYLIME_HARNESS_<NAME>``: value}.
    """
    env = {}
    with open(os.path.join(run_dir, 'keylime.env')) as f:
        for line in f:
            if '=' in line:
                name, value = line.rstrip('\n').split('=', 1)
                env[name] = value
    return env


def without_prefix(env):
    """The same variables named without ``KEYLIME_HARNESS_``."""
    return {name[len(PREFIX):]: value for name, value in env.items()
            if name.startswith(PREFIX)}


def write_lists(directory, env, checksum=None):
    """Copy the harness's lists into ``directory``, as an admin would.

    Writes ``allowlist``, ``excludelist`` and their checksum files
    (``<name>.sha256``, one ``<sha256>  <name>`` line each).

    :param env: the harness's variables (:func:`read`).
    :param checksum: the allowlist checksum to write; by default the
        right one.
    :returns: (allowlist, its checksum, excludelist, its checksum) paths.
    """
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name in ('allowlist', 'excludelist'):
        path = os.path.join(directory, name)
        shutil.copyfile(env[PREFIX + name.upper()], path)
        with open(path, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if name == 'allowlist' and checksum is not None:
            digest = checksum
        with open(path + '.sha256', 'w') as f:
            f.write('%s  %s\n' % (digest, name))
        paths += [path, path + '.sha256']
    return tuple(paths)
