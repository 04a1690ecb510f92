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

"""The keylime extension of ironic-python-agent, on real files and commands.

The agent "service" is a pair of small shell scripts (there is no init
system here): restart writes a marker and starts ``sleep``, status checks
the marker. The extension runs them as it would run systemctl.
"""

import os
import socket
import sys
import threading

from ironic_python_agent import errors

from ironic_keylime.ipa import agent_config
from ironic_keylime.ipa import extension
from ironic_keylime.tests import base

NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'


class ExtensionTestCase(base.DbTestCase):

    block_execute = False  # runs the stand-in restart and status commands

    def setUp(self):
        super().setUp()
        d = self.tempdir
        self.conf_dir = os.path.join(d, 'agent.conf.d')
        self.main = os.path.join(d, 'agent.conf')
        agent_config.write_dropin(self.main, {'ip': '127.0.0.1',
                                              'port': 9002,
                                              'uuid': 'generate'})
        agent_config.write_dropin(
            os.path.join(self.conf_dir, agent_config.IMAGE_DROPIN),
            {'ip': '0.0.0.0', 'port': 9102, 'registrar_ip': '192.0.2.1',
             'registrar_port': 8890})
        self.marker = os.path.join(d, 'running')
        self.restarts = os.path.join(d, 'restarts')
        restart = ('echo x >> "%s"; touch "%s"' %
                   (self.restarts, self.marker))
        self.config(config_file=self.main, config_dir=self.conf_dir,
                    restart_command=['/bin/sh', '-c', restart],
                    status_command=['/bin/sh', '-c',
                                    'test -e "%s"' % self.marker],
                    start_timeout=0, group='keylime_agent')
        self.ext = extension.KeylimeExtension()

    def _restarts(self):
        if not os.path.exists(self.restarts):
            return 0
        with open(self.restarts) as f:
            return len(f.read().split())

    def _run(self, command, **params):
        result = self.ext.execute(command, **params)
        self.assertEqual('SUCCEEDED', result.command_status)
        return result.command_result

    def test_get_agent_info(self):
        info = self._run('get_agent_info')
        self.assertEqual({'uuid': None, 'uuid_mode': 'generate',
                          'address': None, 'port': 9102,
                          'registrar_ip': '192.0.2.1',
                          'registrar_port': 8890, 'running': False}, info)

    def test_get_agent_info_refuses_parameters(self):
        self.assertRaises(errors.InvalidCommandParamsError,
                          self.ext.execute, 'get_agent_info', foo=1)

    def test_configure_agent_writes_and_restarts(self):
        info = self._run('configure_agent', registrar_ip='10.0.0.5',
                         registrar_port='8891', agent_uuid=NODE_UUID)
        self.assertEqual(NODE_UUID, info['uuid'])
        self.assertEqual('fixed', info['uuid_mode'])
        self.assertEqual(('10.0.0.5', 8891),
                         (info['registrar_ip'], info['registrar_port']))
        self.assertTrue(info['restarted'])
        self.assertTrue(info['running'])
        self.assertEqual(1, self._restarts())
        dropin = os.path.join(self.conf_dir, agent_config.RUNTIME_DROPIN)
        self.assertEqual({'registrar_ip': '10.0.0.5',
                          'registrar_port': 8891, 'uuid': NODE_UUID},
                         agent_config.read_file(dropin))
        # Same values, agent running: no restart.
        again = self._run('configure_agent', registrar_ip='10.0.0.5',
                          registrar_port=8891, agent_uuid=NODE_UUID)
        self.assertFalse(again['restarted'])
        self.assertEqual(1, self._restarts())
        # Same values, agent stopped: started again.
        os.unlink(self.marker)
        third = self._run('configure_agent', registrar_ip='10.0.0.5',
                          registrar_port=8891, agent_uuid=NODE_UUID)
        self.assertTrue(third['restarted'])
        self.assertEqual(2, self._restarts())
        # Same values, agent running, restart asked (the conductor deleted
        # its registration): restarted, so that it registers again.
        fourth = self._run('configure_agent', registrar_ip='10.0.0.5',
                           registrar_port=8891, agent_uuid=NODE_UUID,
                           restart=True)
        self.assertTrue(fourth['restarted'])
        self.assertEqual(3, self._restarts())

    def test_uuid_mode_image_keeps_image_uuid(self):
        self.config(uuid_mode='image', group='keylime_agent')
        agent_config.write_dropin(
            os.path.join(self.conf_dir, agent_config.IMAGE_DROPIN),
            {'uuid': 'hash_ek', 'port': 9102})
        info = self._run('configure_agent', registrar_ip='10.0.0.5',
                         registrar_port=8891, agent_uuid=NODE_UUID)
        self.assertEqual('hash_ek', info['uuid_mode'])
        self.assertIsNone(info['uuid'])

    def test_bad_arguments_refused(self):
        cases = [
            ({'registrar_port': 8890}, 'registrar_ip required'),
            ({'registrar_ip': '10.0.0.1'}, 'registrar_port required'),
            ({'registrar_ip': '10.0.0.1', 'registrar_port': 8890,
              'registrar': 'x'}, 'unknown parameters registrar'),
            ({'registrar_ip': '10.0.0.1$(reboot)', 'registrar_port': 8890},
             'registrar_ip must be'),
            ({'registrar_ip': '10.0.0.1', 'registrar_port': -1},
             'registrar_port must be'),
            ({'registrar_ip': '10.0.0.1', 'registrar_port': 8890,
              'agent_uuid': 'node-1'}, 'agent_uuid must be a UUID'),
        ]
        for params, message in cases:
            e = self.assertRaises(errors.InvalidCommandParamsError,
                                  self.ext.execute, 'configure_agent',
                                  **params)
            self.assertIn(message, str(e))
        self.assertEqual(0, self._restarts())
        self.assertFalse(os.path.exists(
            os.path.join(self.conf_dir, agent_config.RUNTIME_DROPIN)))

    def test_restart_failure(self):
        self.config(restart_command=['/bin/sh', '-c',
                                     'echo unit not found >&2; exit 5'],
                    group='keylime_agent')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'configure_agent',
                              registrar_ip='10.0.0.5', registrar_port=8891)
        self.assertIn('exited with 5: unit not found', str(e))

    def test_restart_failure_reports_the_end_of_long_output(self):
        # Warnings first, the reason last: the error keeps the reason.
        self.config(restart_command=[
            sys.executable, '-c',
            'import sys; sys.stderr.write("warning " * 1000 + '
            '"unit not found"); sys.exit(5)'], group='keylime_agent')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'configure_agent',
                              registrar_ip='10.0.0.5', registrar_port=8891)
        self.assertIn('exited with 5: ...', str(e))
        self.assertTrue(str(e).endswith('unit not found'), str(e)[-100:])
        self.assertLess(len(str(e)), 1000)

    def test_missing_restart_command(self):
        self.config(restart_command=['/nonexistent/systemctl', 'restart'],
                    group='keylime_agent')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'configure_agent',
                              registrar_ip='10.0.0.5', registrar_port=8891)
        self.assertIn('could not be (re)started', str(e))

    def _agent_port(self, sock):
        agent_config.write_dropin(
            os.path.join(self.conf_dir, agent_config.IMAGE_DROPIN),
            {'ip': '0.0.0.0', 'port': sock.getsockname()[1]})

    def _listening_socket(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        sock.listen(1)
        self.addCleanup(sock.close)
        return sock

    def test_waits_for_the_agent_to_listen(self):
        # Nothing listens on the agent's port: the wait times out.
        self.config(start_timeout=1, group='keylime_agent')
        agent_config.write_dropin(
            os.path.join(self.conf_dir, agent_config.IMAGE_DROPIN),
            {'ip': '127.0.0.1', 'port': 1})
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'configure_agent',
                              registrar_ip='10.0.0.5', registrar_port=8891)
        self.assertIn('does not answer on 127.0.0.1 port 1', str(e))
        self.assertIn('10.0.0.5:8891', str(e))

    def test_a_bound_port_that_does_not_serve_is_not_ready(self):
        # The Keylime 6.x Python agent binds its port, then registers,
        # and serves once the registrar activated it (seen in a VM under
        # TCG: 1.7 s between the two); a configure_agent that returned
        # when the port merely listened let the conductor read the
        # registrar before the activation.
        self.config(start_timeout=3, group='keylime_agent')
        self._agent_port(self._listening_socket())
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'configure_agent',
                              registrar_ip='10.0.0.5', registrar_port=8891)
        self.assertIn('does not answer', str(e))
        self.assertIn('no answer in 2 s', str(e))

    def test_wait_succeeds_when_the_server_closes_at_once(self):
        # A server that accepts and closes without reading (a reset or an
        # end of stream to the hello) accepted the connection: it serves.
        sock = self._listening_socket()

        def serve():
            for _ in range(2):
                conn, _addr = sock.accept()
                conn.close()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        self.config(start_timeout=5, group='keylime_agent')
        self._agent_port(sock)
        info = self._run('configure_agent', registrar_ip='10.0.0.5',
                         registrar_port=8891)
        self.assertTrue(info['restarted'])

    def test_wait_succeeds_when_the_agent_answers(self):
        # A server that answers the hello (here with a plain HTTP error,
        # as a TLS server refusing the client would with an alert).
        sock = self._listening_socket()

        def serve():
            conn, _addr = sock.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b'HTTP/1.1 400 Bad Request\r\n\r\n')

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        self.config(start_timeout=5, group='keylime_agent')
        self._agent_port(sock)
        info = self._run('configure_agent', registrar_ip='10.0.0.5',
                         registrar_port=8891)
        self.assertTrue(info['restarted'])
        server.join(5)

    def test_unreadable_config(self):
        with open(self.main, 'w') as f:
            f.write('[agent\n')
        e = self.assertRaises(errors.CommandExecutionError,
                              self.ext.execute, 'get_agent_info')
        self.assertIn('cannot be read', str(e))

    def test_entry_point(self):
        from stevedore import extension as sv_extension
        mgr = sv_extension.ExtensionManager(
            namespace='ironic_python_agent.extensions', invoke_on_load=False)
        self.assertIs(extension.KeylimeExtension,
                      mgr['keylime'].plugin)
        self.assertTrue(sys.modules['ironic_keylime.ipa.extension'])
