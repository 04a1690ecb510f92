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

"""An earlier release of ironic-keylime next to this one, one database.

:func:`install_release` installs the ironic-keylime of an earlier commit
of this repository (``git archive``, then ``pip install --no-deps
--target``) into a directory of its own; its conductor runs with the same
Python, the same Ironic 39 and the same libraries as this checkout's, the
earlier package first on ``PYTHONPATH``: only ironic-keylime differs, as
in a rolling upgrade of the plugin alone.

:class:`MixedReleaseCluster` is :class:`conductors_env.ConductorsCluster`
with each conductor running either release ('old' or 'new'), restartable
in the other one: the roll and the rollback of an operator.
"""

import os
import signal
import subprocess
import sys
import tarfile
import time

from ironic_keylime.harness import services
from ironic_keylime.tests.functional import conductors_env

#: The previous landed release: the last commit of the second round
#: (2026-12-03 16:42, "Registrar client: one check of a refused client
#: certificate ..."), the main branch a user installed before the third
#: round's work began (2026-12-06). pbr names it 0.0.1.dev210.
OLD_RELEASE = '8c972c98a51d66695085725a9d05d785c67c7d06'

#: The checkout this package comes from (its git history holds the
#: earlier release).
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

#: Addresses of their own: test_conductors_real's cluster may run on the
#: same machine (JSON-RPC listens on Ironic's default port 8089).
ADDRESSES = {'a': '127.0.0.4', 'b': '127.0.0.5'}

#: Where the conductor command is, and which ironic-keylime it imports.
_PROBE = ('import importlib.metadata, ironic_keylime; '
          'print(ironic_keylime.__file__); '
          'print(importlib.metadata.version("ironic-keylime"))')


class ReleaseError(Exception):
    """The earlier release could not be installed as asked."""


def install_release(ref, workdir):
    """Install ironic-keylime of commit ``ref`` under ``workdir``.

    No network: ``--no-deps --no-index --no-build-isolation`` (pbr and
    setuptools are this virtualenv's); the version is the one pbr gives
    that commit in a git checkout (``PBR_VERSION``, since an archive has
    no history).

    :returns: the directory to put first on ``PYTHONPATH`` (its ``bin``
        has the release's commands).
    :raises: ReleaseError when this checkout's history lacks ``ref``, or
        the installed package is not the one imported from that directory.
    :raises: CalledProcessError when git or pip fails.
    """
    try:
        count = subprocess.run(
            ['git', '-C', TOP, 'rev-list', '--count', ref],
            capture_output=True, text=True, check=True,
            timeout=60).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise ReleaseError(
            'the previous release (commit %s) is taken from the git history '
            'of %s, which does not have it (%s); run the test from a clone '
            'with its history (not a shallow one)' % (
                ref, TOP, (getattr(e, 'stderr', None) or str(e)).strip()))
    version = '0.0.1.dev%s' % count
    archive = os.path.join(workdir, 'release.tar')
    source = os.path.join(workdir, 'release-src')
    target = os.path.join(workdir, 'release')
    subprocess.run(['git', '-C', TOP, 'archive', '--format=tar', '-o',
                    archive, ref], check=True, timeout=60)
    with tarfile.open(archive) as tar:
        tar.extractall(source, filter='data')
    env = dict(os.environ, PBR_VERSION=version)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet',
                    '--no-deps', '--no-index', '--no-build-isolation',
                    '--target', target, source],
                   env=env, check=True, capture_output=True, timeout=300)
    # The release's own package is the one imported, under its version
    # (run from its directory: not this checkout's from the cwd).
    found = subprocess.run([sys.executable, '-c', _PROBE],
                           env=release_environment(target), cwd=target,
                           capture_output=True, text=True, check=True,
                           timeout=120).stdout.split()
    expected = os.path.join(target, 'ironic_keylime', '__init__.py')
    if found[-2:] != [expected, version]:
        raise ReleaseError('the release in %s imports %s, not %s %s'
                           % (target, found[-2:], expected, version))
    return target


def release_environment(target):
    """The environment of a process that runs the release in ``target``."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [target] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                    if p])
    return env


class MixedReleaseCluster(conductors_env.ConductorsCluster):
    """Two conductors, each on the old or the new ironic-keylime.

    The API is always this checkout's ``ironic-attest-api``.

    :param old_release: the directory :func:`install_release` returned.
    :param releases: {conductor name: 'old' or 'new'} at start.
    Other parameters are :class:`conductors_env.ConductorsCluster`'s.
    """

    addresses = ADDRESSES

    def __init__(self, workdir, keylime, old_release, releases, **kwargs):
        super().__init__(workdir, keylime, **kwargs)
        self.old_release = old_release
        self.releases = dict(releases)

    def start_service(self, name):
        """Start a conductor in its release, or the API."""
        if self.releases.get(name) != 'old':
            return super().start_service(name)
        conf = self._service_config(name)
        # The release's console script: sys.path[0] is its bin directory,
        # and PYTHONPATH puts the release before this checkout.
        self.processes[name] = services.start(
            [os.path.join(self.old_release, 'bin',
                          'ironic-attest-conductor'), '--config-file', conf],
            os.path.join(self.workdir, '%s.out' % name),
            env=release_environment(self.old_release))

    def terminate(self, name):
        """SIGTERM a service, as an operator stops it; do not wait."""
        os.killpg(self.processes[name].pid, signal.SIGTERM)

    def wait_exit(self, name, timeout=120):
        """Wait for a terminated service to exit; SIGKILL it after timeout.

        :returns: whether it exited by itself.
        """
        process = self.processes.pop(name)
        try:
            process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
        finally:
            services.stop(process)

    def stop_service(self, name, timeout=120):
        """Stop a service: SIGTERM, up to ``timeout`` s, then SIGKILL.

        :returns: the seconds it took.
        """
        process = self.processes.pop(name)
        started = time.monotonic()
        services.stop(process, timeout=timeout)
        return time.monotonic() - started

    def restart(self, name, release):
        """Stop conductor ``name`` and start it in ``release``."""
        if name in self.processes:
            self.stop_service(name)
        self.releases[name] = release
        self.start_service(name)
