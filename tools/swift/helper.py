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

"""Small helpers of tools/swift/harness.sh (standard library only).

    helper.py ports N                 N free ports on 127.0.0.1
    helper.py secrets                 hash prefix, suffix, Fernet key
    helper.py wait-ready PORT PID     until /healthcheck says OK
    helper.py storage-url PORT USER KEY   tempauth login, print the URL
"""

import base64
import os
import socket
import sys
import time
import urllib.request


def ports(count):
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    print(' '.join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def secrets():
    print(os.urandom(8).hex(), os.urandom(8).hex(),
          base64.urlsafe_b64encode(os.urandom(32)).decode())


def wait_ready(port, pid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not os.path.exists('/proc/%d' % pid):
            sys.exit('server (pid %d) died' % pid)
        try:
            with urllib.request.urlopen(
                    'http://127.0.0.1:%d/healthcheck' % port,
                    timeout=2) as r:
                if r.read() == b'OK':
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit('no answer on port %d' % port)


def storage_url(port, user, key):
    req = urllib.request.Request(
        'http://127.0.0.1:%d/auth/v1.0' % port,
        headers={'X-Auth-User': user, 'X-Auth-Key': key})
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.headers['X-Storage-Url'])


def main(argv):
    command, args = argv[0], argv[1:]
    if command == 'ports':
        ports(int(args[0]))
    elif command == 'secrets':
        secrets()
    elif command == 'wait-ready':
        wait_ready(int(args[0]), int(args[1]))
    elif command == 'storage-url':
        storage_url(int(args[0]), args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
