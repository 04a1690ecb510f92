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

"""A fixture that installs the replaying tenant as an executable."""

import json
import os
import stat
import sys

import fixtures

from ironic_keylime.tests.unit import fake_tenant

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        'fixtures', 'tenant-7.14.3')


def output(name):
    """The text of a recorded output of the real tenant.

    :param name: its file in ``fixtures/tenant-7.14.3``, e.g.
        ``tenant-status-ok-1.stdout``.
    """
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class FakeTenant(fixtures.Fixture):
    """An executable ``keylime_tenant`` replaying real outputs.

    :param commands: the plan's commands (see
        :mod:`ironic_keylime.tests.unit.fake_tenant`).
    :ivar path: the executable, for ``[keylime]tenant_path``.
    """

    def __init__(self, commands):
        super().__init__()
        self.commands = commands

    def _setUp(self):
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.log_path = os.path.join(self.dir, 'calls.jsonl')
        self.plan_path = os.path.join(self.dir, 'plan.json')
        self.path = os.path.join(self.dir, 'keylime_tenant')
        with open(fake_tenant.__file__.replace('.pyc', '.py')) as src:
            body = src.read()
        with open(self.path, 'w') as f:
            f.write('#!%s\n%s' % (sys.executable, body))
        os.chmod(self.path, stat.S_IRWXU)
        self.set_commands(self.commands)
        self.useFixture(fixtures.EnvironmentVariable('FAKE_TENANT_PLAN',
                                                     self.plan_path))

    def set_commands(self, commands):
        """Replace the plan (the call log is kept)."""
        self.commands = commands
        with open(self.plan_path, 'w') as f:
            json.dump({'log': self.log_path, 'commands': commands,
                       'fixtures': FIXTURES}, f)

    def calls(self, command=None):
        """The calls made so far, optionally of one command."""
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            calls = [json.loads(line) for line in f if line.strip()]
        return [c for c in calls if command is None
                or c['command'] == command]

    def child_pid_file(self):
        """Where a hanging tenant writes the PID of its child."""
        return os.path.join(self.dir, 'child.pid')


#: A plan for a healthy Keylime 7.14.3: add works, status says PASS.
HEALTHY = {
    '--help': [{'fixture': 'tenant-help'}],
    'add': [{'fixture': 'tenant-add'}],
    'status': [{'fixture': 'tenant-status-ok-1'}],
    'delete': [{'fixture': 'tenant-delete-unknown'}],
}


def plan(**overrides):
    """The healthy plan with some commands replaced."""
    commands = dict(HEALTHY)
    commands.update(overrides)
    return commands
