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

"""Test bases of ironic-keylime, on Ironic's own test helpers.

Ironic's test package must be imported before anything else of Ironic: it
selects oslo.service's threading backend. The driver modules are imported
here, at load time, because loading them lazily inside a test reaches a
``Popen`` that Ironic's ``TestCase`` blocks.
"""

import ironic.tests.unit  # noqa: F401  (must come first)

import os
import tempfile

from ironic.drivers import fake_hardware  # noqa: F401
from ironic.drivers import generic  # noqa: F401
from ironic.tests.unit.db import base as db_base

from ironic_keylime import conf  # noqa: F401  (registers the options)
from ironic_keylime.drivers.modules.keylime import attestation  # noqa: F401
from ironic_keylime.drivers.modules import noop  # noqa: F401

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


class DbTestCase(db_base.DbTestCase):
    """A test with Ironic's sqlite database and ironic-keylime's options.

    ``[DEFAULT]tempdir`` points at a directory of the test, so that a test
    can check that nothing is left behind in it.
    """

    def setUp(self):
        super().setUp()
        # Ironic's TestCase enables "fake" and "no-<type>" for every type;
        # there is no fake attestation interface.
        self.config(enabled_attestation_interfaces=['no-attestation',
                                                    'keylime'])
        self.tempdir = tempfile.mkdtemp(prefix='ik-test-')
        self.addCleanup(self._remove_tempdir)
        self.config(tempdir=self.tempdir)

    def _remove_tempdir(self):
        for root, dirs, files in os.walk(self.tempdir, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(self.tempdir)

    def leftovers(self):
        """Files and directories left in ``[DEFAULT]tempdir``."""
        return sorted(os.listdir(self.tempdir))
