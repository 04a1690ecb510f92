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

"""A private PostgreSQL cluster on 127.0.0.1 (functional tests, benchmarks).

Debian's PostgreSQL (``apt-get install postgresql``, done by
tools/functional.sh) provides ``initdb`` and ``pg_ctl``; the cluster's
data directory lives in the test's temporary directory, owned by an
unprivileged user (``postgres`` when the tests run as root: PostgreSQL
refuses to run as root), listens on a free port of 127.0.0.1 only, with
password authentication (a random password in private files), and is
stopped by the PID of its postmaster.
"""

import glob
import os
import pwd
import secrets
import signal
import subprocess
import time

from ironic_keylime.harness import services


class PostgresError(Exception):
    """The cluster did not start, or did not answer."""


def bin_dir():
    """The directory of Debian's newest PostgreSQL server programs.

    :raises: PostgresError when PostgreSQL is not installed.
    """
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                   key=lambda p: int(p.split('/')[4]))
    if not found:
        raise PostgresError('PostgreSQL is not installed (apt-get install '
                            'postgresql; tools/functional.sh does it as '
                            'root)')
    return os.path.dirname(found[-1])


class PostgresCluster(object):
    """A private cluster: initdb, start, a database, stop by PID.

    :param workdir: a directory of the test; the cluster goes into
        ``workdir/pg`` (made traversable for the cluster's user).
    """

    user = 'ironic'
    database = 'ironic'

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, 'pg')
        self.data = os.path.join(self.dir, 'data')
        self.port = services.free_port()
        self.password = secrets.token_hex(16)
        self.bin = bin_dir()
        self.pid = None
        if os.geteuid() == 0:
            account = pwd.getpwnam('postgres')
            self.uid, self.gid = account.pw_uid, account.pw_gid
            # The postgres user must reach workdir/pg.
            os.chmod(workdir, 0o711)
        else:
            self.uid = self.gid = None

    def _run(self, program, *args, timeout=120):
        kwargs = {}
        if self.uid is not None:
            kwargs = {'user': self.uid, 'group': self.gid,
                      'extra_groups': []}
        with open(os.path.join(self.dir, '%s.log' % program), 'ab') as out:
            subprocess.run([os.path.join(self.bin, program)] + list(args),
                           stdout=out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, check=True,
                           timeout=timeout, cwd=self.dir, **kwargs)

    @property
    def url(self):
        """The SQLAlchemy URL of the database (with its password)."""
        return 'postgresql+psycopg2://%s:%s@127.0.0.1:%d/%s' % (
            self.user, self.password, self.port, self.database)

    def start(self):
        """initdb, start the postmaster, create the database.

        :raises: PostgresError (with the end of the server log).
        """
        os.makedirs(self.dir, mode=0o700)
        pwfile = os.path.join(self.dir, 'pwfile')
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600),
                  'w') as f:
            f.write(self.password + '\n')
        if self.uid is not None:
            os.chown(self.dir, self.uid, self.gid)
            os.chown(pwfile, self.uid, self.gid)
        self._run('initdb', '-D', self.data, '-U', self.user,
                  '--pwfile', pwfile, '--auth', 'scram-sha-256',
                  '-E', 'UTF8', '--locale', 'C.UTF-8')
        os.unlink(pwfile)
        # Loopback TCP only, its socket in its own directory.
        self._run('pg_ctl', '-D', self.data, '-w', '-t', '60',
                  '-l', os.path.join(self.dir, 'server.log'), '-o',
                  '-h 127.0.0.1 -p %d -k %s' % (self.port, self.dir),
                  'start')
        with open(os.path.join(self.data, 'postmaster.pid')) as f:
            self.pid = int(f.readline())
        self._create_database()

    def _create_database(self):
        import psycopg2  # only the functional environment has it

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host='127.0.0.1', port=self.port,
                                        user=self.user,
                                        password=self.password,
                                        dbname='postgres')
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresError('PostgreSQL does not answer:\n%s'
                                        % self.log_tail())
                time.sleep(0.3)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute('CREATE DATABASE %s' % self.database)
        finally:
            conn.close()

    def stop(self):
        """Stop the postmaster by its PID (fast shutdown, then KILL)."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def log_tail(self, lines=40):
        """The end of the server log."""
        path = os.path.join(self.dir, 'server.log')
        if not os.path.exists(path):
            return ''
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
