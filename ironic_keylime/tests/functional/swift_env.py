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

"""The real Swift of the functional tests (tools/swift/harness.sh).

``tools/functional.sh`` starts it and exports ``RUNDIR/swift.env``; these
helpers read that environment, configure Ironic's ``[swift]`` group for a
real login through python-swiftclient's keystoneauth1 plugin
``v1password`` (Swift's tempauth, no Keystone), and stop or start one of
its servers for the error tests.
"""

import os
import subprocess

from keystoneauth1 import loading as ks_loading
from swiftclient import client as swift_client

#: What swift.env defines.
REQUIRED = ('SWIFT_HARNESS_DIR', 'SWIFT_HARNESS_AUTH_URL',
            'SWIFT_HARNESS_USER', 'SWIFT_HARNESS_KEY',
            'SWIFT_HARNESS_STORAGE_URL', 'SWIFT_HARNESS_PROXY_PORT')


def available():
    """Say whether a harness Swift was started for these tests."""
    return all(os.environ.get(name) for name in REQUIRED)


def env(name):
    """One value of swift.env.

    :param name: the name without the ``SWIFT_HARNESS_`` prefix.
    """
    return os.environ['SWIFT_HARNESS_' + name]


def admin_connection():
    """A swiftclient connection of the account's admin (test:tester).

    Used by the tests to set up containers, not by the code under test.
    """
    return swift_client.Connection(authurl=env('AUTH_URL'),
                                   user=env('USER'), key=env('KEY'),
                                   auth_version='1', retries=0, timeout=10)


def configure(test, username=None, password=None, auth_url=None):
    """Point Ironic's ``[swift]`` group at the harness Swift.

    Registers the options of the ``v1password`` plugin through the test's
    config fixture, so that they are unregistered (after
    ``CONF.reset()``) when the test ends: a required ``auth_url`` left
    registered would make Ironic's next ``parse_args`` fail.

    :param test: an Ironic TestCase (has ``cfg_fixture`` and ``config``).
    :param username: tempauth user (default: the admin, test:tester).
    :param password: its key.
    :param auth_url: the auth URL (default: the harness proxy's).
    """
    test.cfg_fixture.register_opts(
        ks_loading.get_auth_plugin_conf_options('v1password'),
        group='swift')
    test.config(auth_type='v1password',
                auth_url=auth_url or env('AUTH_URL'),
                username=username or env('USER'),
                password=password or env('KEY'),
                group='swift')


def harness(*args):
    """Run tools/swift/harness.sh with ``args`` on this run's Swift.

    :param args: a subcommand and its arguments after RUNDIR, e.g.
        ``('stop-service', 'object')``.
    """
    script = os.environ.get('SWIFT_HARNESS_HARNESS') or os.path.join(
        os.path.dirname(__file__), '..', '..', '..', 'tools', 'swift',
        'harness.sh')
    subprocess.run([script, args[0], env('DIR')] + list(args[1:]),
                   check=True, timeout=120, stdout=subprocess.DEVNULL)
