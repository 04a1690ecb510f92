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

"""The elements' build-time hooks, run by bash as diskimage-builder would.

Each hook runs with the element's own environment.d file sourced first
and a ``get_image_element_array`` on PATH that answers what
diskimage-builder's function does (the elements' directories). The whole
image build is ``tools/vm/build-ramdisk.sh`` and
``tools/elements/build-check.sh``; the names as diskimage-builder resolves
them, ``tools/elements/check.sh names``.
"""

import os
import subprocess

import fixtures
from oslotest import base as test_base

from ironic_keylime.tests import image_tree

ELEMENTS = os.path.join(image_tree.TOP, 'elements')
AGENT = 'ironic-keylime-agent'
EMULATOR = 'ironic-keylime-tpm-emulator'


def _read(*path):
    with open(os.path.join(*path)) as f:
        return f.read()


class AgentSourceTestCase(test_base.BaseTestCase):
    """ironic-keylime-agent's extra-data.d: where ironic-keylime comes from."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.hooks = os.path.join(self.tmp, 'hooks')
        os.makedirs(self.hooks)
        bindir = os.path.join(self.tmp, 'bin')
        os.makedirs(bindir)
        # diskimage-builder's function, as a command: the element map.
        fake = os.path.join(bindir, 'get_image_element_array')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "[%s]=%s"\n'
                    % (AGENT, os.path.join(ELEMENTS, AGENT)))
        os.chmod(fake, 0o755)
        self.env = {'PATH': bindir + ':' + os.environ['PATH'],
                    'TMP_HOOKS_PATH': self.hooks,
                    # A distribution with a package of the agent: nothing
                    # else to give.
                    'DISTRO_NAME': 'centos'}

    def _run(self, source):
        env = dict(self.env, DIB_IRONIC_KEYLIME_SOURCE=source)
        element = os.path.join(ELEMENTS, AGENT)
        script = ('. "%s/environment.d/10-ironic-keylime-agent.bash" && '
                  'exec bash "%s/extra-data.d/50-ironic-keylime-agent"'
                  % (element, element))
        return subprocess.run(['bash', '-c', script], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)

    def test_no_source_refused(self):
        # Before: the source tree holding the element, else the index.
        result = self._run('')
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertIn('DIB_IRONIC_KEYLIME_SOURCE is not set', result.stderr)
        self.assertIn('does not install from a package index',
                      result.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.hooks, AGENT, 'ironic-keylime.source')))

    def test_requirement_refused(self):
        # Before: handed to pip in the chroot as a requirement.
        for source in ('ironic-keylime', 'ironic-keylime==1.0.0'):
            result = self._run(source)
            self.assertEqual(1, result.returncode, result.stderr)
            self.assertIn('DIB_IRONIC_KEYLIME_SOURCE=%s is not a directory'
                          % source, result.stderr)
            self.assertIn('not a pinned artifact', result.stderr)

    def test_wheel_given(self):
        wheel = os.path.join(self.tmp,
                             'ironic_keylime-1.0.0-py3-none-any.whl')
        with open(wheel, 'wb') as f:
            f.write(b'not really a wheel')
        result = self._run(wheel)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(
            '/tmp/in_target.d/%s/%s\n' % (AGENT, os.path.basename(wheel)),
            _read(self.hooks, AGENT, 'ironic-keylime.source'))
        # The artifact's digest is in the build log.
        self.assertIn('sha256 5012353aa6a0734b', result.stderr)

    def test_source_tree_given(self):
        tree = os.path.join(self.tmp, 'tree')
        os.makedirs(os.path.join(tree, 'ironic_keylime'))
        with open(os.path.join(tree, 'setup.cfg'), 'w') as f:
            f.write('[metadata]\nname = ironic-keylime\n')
        result = self._run(tree)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(
            '/tmp/in_target.d/%s/ironic-keylime\n' % AGENT,
            _read(self.hooks, AGENT, 'ironic-keylime.source'))
        self.assertTrue(os.path.isfile(
            os.path.join(self.hooks, AGENT, 'ironic-keylime', 'setup.cfg')))


class DeprecatedNamesTestCase(test_base.BaseTestCase):
    """The old names: thin elements that pull in the new ones."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def _run(self, name, elements_path, distro):
        hook = os.path.join(ELEMENTS, name, 'extra-data.d',
                            '01-%s-deprecated' % name)
        env = {'PATH': os.environ['PATH'], 'ELEMENTS_PATH': elements_path,
               'DISTRO_NAME': distro}
        return subprocess.run(['bash', hook], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)

    def _dib_tpm_emulator(self):
        """A second element named tpm-emulator, with packages (as DIB's)."""
        other = os.path.join(self.tmp, 'dib-elements')
        os.makedirs(os.path.join(other, 'tpm-emulator'))
        with open(os.path.join(other, 'tpm-emulator',
                               'package-installs.yaml'), 'w') as f:
            f.write('tpm2-tss:\n')
        return other

    def test_old_names_depend_on_new_ones(self):
        for old, new in (('keylime-agent', AGENT),
                         ('tpm-emulator', EMULATOR)):
            self.assertEqual([new],
                             _read(ELEMENTS, old, 'element-deps').split())

    def test_old_names_bring_no_packages(self):
        # Packages of their own would be merged with DIB's same-named
        # element: the clash the rename removes.
        for old in ('keylime-agent', 'tpm-emulator'):
            for ext in ('yaml', 'json'):
                self.assertFalse(os.path.exists(os.path.join(
                    ELEMENTS, old, 'package-installs.' + ext)))

    def test_keylime_agent_warns(self):
        result = self._run('keylime-agent', ELEMENTS, 'debian')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('DEPRECATED', result.stderr)
        self.assertIn("'-e ironic-keylime-agent'", result.stderr)

    def test_tpm_emulator_alone_warns(self):
        result = self._run('tpm-emulator', ELEMENTS, 'debian')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('DEPRECATED', result.stderr)
        self.assertIn("'-e ironic-keylime-tpm-emulator'", result.stderr)

    def test_tpm_emulator_clash_on_debian_refused(self):
        other = self._dib_tpm_emulator()
        for distro in ('debian', 'ubuntu'):
            result = self._run('tpm-emulator', ELEMENTS + ':' + other,
                               distro)
            self.assertEqual(1, result.returncode, result.stderr)
            self.assertIn(os.path.join(other, 'tpm-emulator',
                                       'package-installs.yaml'),
                          result.stderr)
            self.assertIn("'-e ironic-keylime-tpm-emulator' instead of "
                          "'-e tpm-emulator'", result.stderr)

    def test_tpm_emulator_clash_elsewhere_warns(self):
        other = self._dib_tpm_emulator()
        result = self._run('tpm-emulator', ELEMENTS + ':' + other, 'centos')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('WARNING: diskimage-builder also installs',
                      result.stderr)
