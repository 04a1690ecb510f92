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

"""Running a Keylime command, bounded in time and in output.

A command (``keylime_tenant``, ``keylime-policy``) runs with an argument
list, never through a shell, in a new session (``start_new_session``, not
a ``preexec_fn``, which is not safe in a threaded conductor), so that it
leads its own process group. Its standard output and error are read as
they come, never more than ``max_output`` bytes together: Keylime 7.14's
tenant prints what the node's agent answers, which a tampered ramdisk
controls. When the command runs longer than its timeout or prints more
than its bound, its whole process group is killed and reaped, and nothing
it printed is returned.
"""

import collections
import os
import selectors
import signal
import subprocess
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

#: The default bound of what one command prints, standard output and error
#: together (``[keylime]max_tenant_output_size``). keylime_tenant 7.14.3
#: prints 1 to 15 KiB (tests/fixtures/tenant-7.14.3).
DEFAULT_MAX_OUTPUT = 1024 * 1024
_READ_SIZE = 64 * 1024

Finished = collections.namedtuple(
    'Finished', ['returncode', 'stdout', 'stderr', 'elapsed'])
Finished.__doc__ = """A command that ran to its end.

:ivar returncode: its exit status.
:ivar stdout: what it printed on its standard output (bytes).
:ivar stderr: what it printed on its standard error (bytes).
:ivar elapsed: seconds it took.
"""


class Timeout(Exception):
    """The command ran longer than its timeout; its group was killed."""


class OutputTooLarge(Exception):
    """The command printed more than its bound; its group was killed."""


def kill_group(process):
    """Kill a command's process group and reap the command.

    :param process: a :class:`subprocess.Popen` started in a new session.
    """
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        LOG.error('%s (pid %s) did not die after SIGKILL', process.args[0],
                  process.pid)


def _read(process, deadline, max_output):
    """Read both pipes to their end; returns (stdout, stderr)."""
    chunks = {process.stdout.fileno(): [], process.stderr.fileno(): []}
    total = 0
    with selectors.DefaultSelector() as selector:
        for pipe in (process.stdout, process.stderr):
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout()
            for key, _events in selector.select(remaining):
                data = os.read(key.fd, _READ_SIZE)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                total += len(data)
                if total > max_output:
                    raise OutputTooLarge()
                chunks[key.fd].append(data)
    return (b''.join(chunks[process.stdout.fileno()]),
            b''.join(chunks[process.stderr.fileno()]))


def run(argv, timeout, max_output=DEFAULT_MAX_OUTPUT, env=None):
    """Run a command to its end, within its bounds.

    :param argv: the command and its arguments, a list of strings.
    :param timeout: seconds it may run.
    :param max_output: bytes it may print, standard output and error
        together.
    :param env: its environment, or None for ours.
    :returns: :class:`Finished`.
    :raises: OSError when it cannot be started.
    :raises: Timeout or OutputTooLarge: its process group was killed.
    """
    begin = time.monotonic()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, close_fds=True, env=env,
        start_new_session=True)
    try:
        stdout, stderr = _read(process, begin + timeout, max_output)
        try:
            returncode = process.wait(
                timeout=max(begin + timeout - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            raise Timeout()
    except BaseException:
        # Whatever is still in the group goes, also what the command
        # left behind when it exited first.
        kill_group(process)
        raise
    finally:
        process.stdout.close()
        process.stderr.close()
    return Finished(returncode, stdout, stderr, time.monotonic() - begin)
