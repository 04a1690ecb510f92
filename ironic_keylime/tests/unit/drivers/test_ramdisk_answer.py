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

"""The bound on the ramdisk's answers, through Ironic's real agent client.

The ramdisk is an HTTP server on 127.0.0.1 that answers the command
endpoint of ironic-python-agent (``POST /v1/commands/``) as a tampered
ramdisk could: a JSON answer that never ends. Ironic's AgentClient and
requests are real.
"""

import http.server
import json
import threading

from ironic.common import states
from ironic.conductor import task_manager
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import agent
from ironic_keylime.tests import base

CHUNK = b'A' * 65536


class _Ramdisk(http.server.BaseHTTPRequestHandler):

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        plan = self.server.plan
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        if plan['flood'] is None:
            body = json.dumps({'command_status': 'SUCCEEDED',
                               'command_error': None,
                               'command_result': plan['result']}).encode()
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        # No length: the answer streams until the reader stops.
        self.end_headers()
        try:
            self.wfile.write(b'{"command_status": "SUCCEEDED", '
                             b'"command_error": null, '
                             b'"command_result": {"event_log": "')
            for _ in range(plan['flood'] // len(CHUNK)):
                self.wfile.write(CHUNK)
                plan['sent'] += len(CHUNK)
            self.wfile.write(b'"}}')
            plan['finished'] = True
        except (BrokenPipeError, ConnectionResetError):
            plan['cut'] = True


class RamdiskAnswerTestCase(base.DbTestCase):

    def setUp(self):
        super().setUp()
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      _Ramdisk)
        self.server.daemon_threads = True
        self.server.plan = {'flood': None, 'result': {}, 'sent': 0,
                            'finished': False, 'cut': False}
        thread = threading.Thread(target=self.server.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.node = obj_utils.create_test_node(
            self.context, uuid=uuidutils.generate_uuid(),
            driver='fake-hardware', provision_state=states.CLEANWAIT,
            driver_internal_info={
                'agent_url': 'http://127.0.0.1:%d' % self.server.server_port})

    def call(self):
        with task_manager.acquire(self.context, self.node.uuid) as task:
            return agent.call(task, 'keylime.read_boot_state', {'pcrs': [0]})

    def test_an_ordinary_answer_is_read(self):
        self.server.plan['result'] = {'bank': 'sha256', 'pcrs': {'0': 'a'}}
        self.assertEqual({'bank': 'sha256', 'pcrs': {'0': 'a'}},
                         self.call())

    def test_an_endless_answer_is_cut_at_the_bound(self):
        self.config(max_ramdisk_answer_size=256, group='keylime')
        self.server.plan['flood'] = 32 * 1024 * 1024
        error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                  self.call)
        self.assertIn('keylime.read_boot_state: the ramdisk answered with '
                      'more than 262144 bytes '
                      '([keylime]max_ramdisk_answer_size)', str(error))
        self.assertFalse(self.server.plan['finished'])
        # The conductor stopped reading near the bound (what the kernel's
        # socket buffers hold is sent, not read).
        self.assertLess(self.server.plan['sent'], 16 * 1024 * 1024)
