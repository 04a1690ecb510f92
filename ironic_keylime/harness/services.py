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

"""Processes of the real services, each in its own session.

A service is started in a session of its own (it may fork workers), and
stopped by signalling its process group only: SIGTERM, a wait, then
SIGKILL for whatever is left. Nothing here uses a shell.
"""

import configparser
import os
import signal
import socket
import subprocess
import sys
import time

import requests

#: The bin directory of the virtualenv running this Python.
BIN_DIR = os.path.dirname(sys.executable)


class ServiceError(Exception):
    """A service did not start, or did not do what was asked in time."""


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def assert_port_free(address, port):
    """Raise ServiceError when something listens on address:port."""
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex((address, port)) == 0:
            raise ServiceError('%s:%d is already in use' % (address, port))


def wait_listening(process, port, what, timeout=30):
    """Wait until a process started here listens on 127.0.0.1:port.

    :param process: its Popen (:func:`start`), which must keep running.
    :param what: what is waited for, for the message.
    :raises: ServiceError when it exits or time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError('%s exited with %s' % (what,
                                                      process.returncode))
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.2)
    raise ServiceError('%s did not listen on 127.0.0.1:%d within %s s'
                       % (what, port, timeout))


def write_config(path, config, private=False):
    """Write {section: {option: value}} as an ini file.

    :param private: create it readable by its owner only (it holds a
        password).
    """
    parser = configparser.ConfigParser(interpolation=None)
    for section, options in config.items():
        if section != 'DEFAULT':
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    mode = 0o600 if private else 0o666
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode),
              'w') as f:
        parser.write(f)


def dbsync(bin_dir, conf_file, *args, log=None, timeout=120):
    """Run ``ironic-dbsync --config-file CONF ARGS`` of bin_dir.

    :param log: a file for its output; by default it is returned.
    :returns: its output, when there is no log file.
    :raises: CalledProcessError when it fails.
    """
    argv = ([os.path.join(bin_dir, 'ironic-dbsync'), '--config-file',
             conf_file] + list(args))
    if log is None:
        return subprocess.run(argv, capture_output=True, text=True,
                              check=True, timeout=timeout).stdout
    with open(log, 'ab') as out:
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                       check=True, timeout=timeout)


def start(argv, output, env=None):
    """Start a command in its own session, its output appended to a file.

    :param env: its environment; by default this process's.
    :returns: the Popen.
    """
    with open(output, 'ab') as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def stop(process, timeout=30):
    """SIGTERM a process's group, wait, then SIGKILL what is left.

    :param process: a Popen of :func:`start` (its group id is its PID).
    :param timeout: seconds it has to exit after SIGTERM.
    """
    if process is None:
        return
    pgid = process.pid
    if process.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
    # Workers of the group that outlived their parent.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(paths, lines=80):
    """The last lines of each file that exists, each under its name."""
    text = []
    for path in paths:
        if os.path.exists(path):
            with open(path, errors='replace') as f:
                text.append('==> %s <==\n%s' % (
                    path, ''.join(f.readlines()[-lines:])))
    return '\n'.join(text)


def wait_for_drivers(url, processes, what, timeout, log_tail,
                     error=ServiceError, ready=None):
    """Wait until an Ironic API lists the fake-hardware driver.

    The API answers before the conductor has registered its hardware
    types: the driver says the conductor is up too.

    :param url: the API's root URL.
    :param processes: {name: Popen} that must keep running meanwhile.
    :param what: what is waited for, for the message.
    :param log_tail: returns the logs' ends, for the message.
    :param ready: a callable that must also return True (for example:
        several conductors registered), or None.
    :raises: ``error`` when a process exits or time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise error('%s exited with %s:\n%s' % (
                    name, process.returncode, log_tail()))
        try:
            resp = requests.get(
                url + '/v1/drivers', timeout=5,
                headers={'X-OpenStack-Ironic-API-Version': 'latest'})
            names = [d['name'] for d in resp.json().get('drivers', [])]
            if 'fake-hardware' in names and (ready is None or ready()):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.3)
    raise error('%s did not come up within %s s:\n%s'
                % (what, timeout, log_tail()))


class Service(object):
    """One service process, in its own session, that can be restarted.

    :param argv: the command.
    :param output: file receiving its stdout and stderr (appended).
    :param stop_timeout: seconds it has to exit after SIGTERM.
    """

    def __init__(self, argv, output, stop_timeout=60):
        self.argv = argv
        self.output = output
        self.stop_timeout = stop_timeout
        self.process = None
        #: Stopped on purpose.
        self.stopped = False

    def start(self):
        self.process = start(self.argv, self.output)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM its process group, then SIGKILL what is left."""
        if self.process is None:
            return
        self.stopped = True
        stop(self.process, self.stop_timeout)
