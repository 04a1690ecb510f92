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

"""What changed, in words, for a FAIL of the verifier's engine.

Nodes and tasks are Ironic's own; the event log is the real one of an OVMF
``-kernel`` boot (tests/fixtures/uefi-event-log-ovmf). The ramdisk cannot
run in a unit test: its HTTP call (``AgentClient._command``) is replaced.
"""

from unittest import mock

from ironic.common import states
from ironic.conductor import task_manager
from ironic.drivers.modules import agent_client

from ironic_keylime.boot_events import load_options
from ironic_keylime.drivers.modules.keylime import boot_diagnosis
from ironic_keylime.drivers.modules.keylime import golden_events
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit import mb_policy_fixture as fixture

ENGINE_EVENT = 'measured_boot.policy_ironic-keylime'


def _log():
    with open(fixture.EVENT_LOG, 'rb') as f:
        return f.read()


# The HTTP call to the ramdisk: no ramdisk runs in a unit test.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class ExplainTestCase(base.KeylimeTestCase):

    def setUp(self):
        super().setUp()
        golden = golden_events.golden_from_log(_log(),
                                               fixture.EVENT_LOG_CMDLINE)
        info = dict(self.driver_info(),
                    keylime_golden_boot_events=golden_events.dump(golden))
        self.node = self.create_node(
            'clean', provision_state=states.CLEANING, driver_info=info,
            driver_internal_info={'agent_url': 'http://10.0.0.9:9999'})

    def explain(self, event_id=ENGINE_EVENT):
        with task_manager.acquire(self.context, self.node.uuid) as task:
            return boot_diagnosis.explain(task, event_id)

    def test_other_failures_ask_nothing(self, mock_command):
        self.assertEqual('', self.explain('ima.validation.ima-ng.'
                                          'not_in_allowlist'))
        mock_command.assert_not_called()

    def test_added_parameter_named(self, mock_command):
        # Golden: the same boot without panic=-1 (the stub's event holds
        # that line and its digest). This boot's log has the real line,
        # which the ramdisk reports and which hashes to the logged digest.
        golden_line = fixture.EVENT_LOG_CMDLINE.replace(' panic=-1', '')
        golden = golden_events.golden_from_log(_log(),
                                               fixture.EVENT_LOG_CMDLINE)
        for event in golden:
            if event['text'] == fixture.EVENT_LOG_CMDLINE:
                event.update(text=golden_line,
                             sha256=load_options.digest(golden_line))
        self.node.driver_info = dict(
            self.node.driver_info,
            keylime_golden_boot_events=golden_events.dump(golden))
        self.node.save()
        mock_command.return_value = base.ok(base.log_reading(
            _log(), kernel_cmdline=fixture.EVENT_LOG_CMDLINE))
        text = self.explain()
        self.assertIn("the kernel command line changed: added 'panic=-1'",
                      text)
        self.assertIn("by the event log the node's ramdisk reports", text)

    def test_same_boot_reported(self, mock_command):
        mock_command.return_value = base.ok(base.log_reading(
            _log(), kernel_cmdline=fixture.EVENT_LOG_CMDLINE))
        self.assertIn('matches the golden boot', self.explain())

    def test_no_event_log(self, mock_command):
        mock_command.return_value = base.ok(base.reading())
        self.assertIn('the ramdisk reports no UEFI event log',
                      self.explain())

    def test_invalid_stored_events_ask_nothing(self, mock_command):
        self.node.driver_info = dict(self.node.driver_info,
                                     keylime_golden_boot_events='[1]')
        self.node.save()
        self.assertEqual('', self.explain())
        mock_command.assert_not_called()

    def test_ramdisk_not_running_asks_nothing(self, mock_command):
        self.node.driver_internal_info = {}
        self.node.save()
        self.assertEqual('', self.explain())
        mock_command.assert_not_called()
