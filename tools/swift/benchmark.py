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

"""Read a large allowlist from a real Swift through the project's code.

Run by tools/swift/benchmark.sh (which starts and stops the harness
Swift), with the Python that has ironic-keylime installed::

    python tools/swift/benchmark.py [--size-mib 100]

Uploads an allowlist of the given size with its checksum, then reads it
three times, each in a fresh process, exactly as the conductor does
(``SwiftListSource`` on a keystoneauth1 session from Ironic's ``[swift]``
group, inside ``prepared_lists``: checksum check, entry count,
boot_aggregate fix; "fetch" is the part in ``SwiftListSource.fetch``,
"total" all of ``prepared_lists``): with an empty cache (download), with
the cache filled (cache hit), and with the cache disabled; and, as a
control of the measurement, once whole with a single swiftclient
``get_object`` (no streaming), which must show the list's size. For each
it prints the time, the throughput and the growth of the reading
process's peak resident memory (VmHWM, reset through
/proc/self/clear_refs after the imports).
"""

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time

CONTAINER = 'benchmark-lists'


def env(name):
    return os.environ['SWIFT_HARNESS_' + name]


def vm_hwm_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def vm_rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def make_allowlist(path, size):
    """Write a flat allowlist of about ``size`` bytes; return its digest."""
    digest = hashlib.sha256()
    written = 0
    number = 0
    with open(path, 'wb') as out:
        head = b'%s  boot_aggregate\n' % (b'0' * 64)
        out.write(head)
        digest.update(head)
        written += len(head)
        while written < size:
            lines = []
            for _ in range(1000):
                name = b'/usr/lib/benchmark/file-%09d' % number
                lines.append(b'%s  %s\n' % (
                    hashlib.sha256(name).hexdigest().encode(), name))
                number += 1
            block = b''.join(lines)
            out.write(block)
            digest.update(block)
            written += len(block)
    return written, digest.hexdigest()


def upload(path, size, digest):
    from swiftclient import client as swift_client
    conn = swift_client.Connection(authurl=env('AUTH_URL'), user=env('USER'),
                                   key=env('KEY'), retries=0)
    conn.put_container(CONTAINER)
    start = time.monotonic()
    with open(path, 'rb') as f:
        conn.put_object(CONTAINER, 'allowlist', f, content_length=size)
    elapsed = time.monotonic() - start
    conn.put_object(CONTAINER, 'allowlist_checksum',
                    ('%s  allowlist\n' % digest).encode())
    for name in ('excludelist',):
        try:
            conn.delete_object(CONTAINER, name)
        except Exception:
            pass
    return elapsed


class _Timed(object):
    """A list source that times the fetch of another."""

    def __init__(self, source):
        self.source = source
        self.seconds = None

    def describe(self):
        return self.source.describe()

    def fetch(self, workdir):
        start = time.monotonic()
        try:
            return self.source.fetch(workdir)
        finally:
            self.seconds = time.monotonic() - start


def child(cache_dir, cache_mib, control=False):
    """Read the lists as the conductor does; print figures as JSON.

    With ``control``, read the allowlist whole with one get_object call
    instead (what the figures would show for a non-streaming reader).
    """
    from ironic.conf import CONF
    from keystoneauth1 import loading as ks_loading

    from ironic_keylime import conf  # noqa: F401
    from ironic_keylime.lists import prepare
    from ironic_keylime.lists import swift

    CONF([], project='ironic', default_config_files=[])
    CONF.register_opts(ks_loading.get_auth_plugin_conf_options('v1password'),
                       group='swift')
    for name, value in (('auth_type', 'v1password'),
                        ('auth_url', env('AUTH_URL')),
                        ('username', env('USER')),
                        ('password', env('KEY'))):
        CONF.set_override(name, value, group='swift')
    CONF.set_override('list_cache_dir', cache_dir, group='keylime')
    CONF.set_override('list_cache_size', cache_mib, group='keylime')
    workroot = tempfile.mkdtemp(prefix='ik-bench-')
    rss_before = vm_rss_kib()
    # Reset the peak RSS to the current RSS (Linux 4.0+).
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    hwm_before = vm_hwm_kib()
    source = swift.source_from_conf(CONTAINER, CONF)
    # Where the allowlist came from is said in the debug log only.
    served = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: served.append(record.getMessage())
    logging.getLogger(swift.__name__).addHandler(handler)
    logging.getLogger(swift.__name__).setLevel(logging.DEBUG)
    start = time.monotonic()
    fetch_seconds = None
    origin = 'swift'
    if control:
        body = source.connection.call('allowlist', lambda c: c.get_object(
            CONTAINER, 'allowlist')[1])
        size = len(body)
        origin = 'whole'
        del body
    else:
        timed = _Timed(source)
        with prepare.prepared_lists(timed, parent=workroot) as lists:
            size = os.path.getsize(lists.allowlist)
        fetch_seconds = timed.seconds
        if any(line.startswith('object allowlist ')
               and line.endswith('served from the list cache')
               for line in served):
            origin = 'cache'
    elapsed = time.monotonic() - start
    hwm_after = vm_hwm_kib()
    os.rmdir(workroot)
    print(json.dumps({'origin': origin,
                      'size': size, 'seconds': elapsed,
                      'fetch_seconds': fetch_seconds or elapsed,
                      'rss_before_kib': rss_before,
                      'hwm_before_kib': hwm_before,
                      'hwm_after_kib': hwm_after}))


def run_child(cache_dir, cache_mib, control=False):
    out = subprocess.run(
        [sys.executable, __file__, '--child', cache_dir, str(cache_mib)]
        + (['--control'] if control else []),
        capture_output=True, text=True, timeout=600)
    if out.returncode:
        sys.exit('the reading process failed:\n%s' % out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mib', type=int, default=100)
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--control', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.control)
        return
    work = tempfile.mkdtemp(prefix='ik-bench-data-')
    path = os.path.join(work, 'allowlist')
    size, digest = make_allowlist(path, args.size_mib * 1024 * 1024)
    up = upload(path, size, digest)
    os.unlink(path)
    print('allowlist: %d bytes (%.1f MiB), uploaded in %.2f s'
          % (size, size / 1048576.0, up))
    cache_dir = os.path.join(work, 'cache')
    cache_mib = 2 * args.size_mib + 16
    runs = [('download, empty cache', cache_dir, cache_mib),
            ('cache hit', cache_dir, cache_mib),
            ('download, cache disabled', os.path.join(work, 'none'), 0),
            ('control: one get_object', os.path.join(work, 'none'), 0)]
    print('%-26s %6s %9s %9s %9s %9s %13s' % (
        'read', 'origin', 'fetch s', 'MiB/s', 'total s', 'base MiB',
        'peak growth'))
    for label, directory, mib in runs:
        r = run_child(directory, mib, control=label.startswith('control'))
        growth = (r['hwm_after_kib'] - r['hwm_before_kib']) / 1024.0
        print('%-26s %6s %9.2f %9.1f %9.2f %9.1f %9.2f MiB' % (
            label, r['origin'], r['fetch_seconds'],
            r['size'] / 1048576.0 / r['fetch_seconds'], r['seconds'],
            r['rss_before_kib'] / 1024.0, growth))
    for name in os.listdir(cache_dir):
        os.unlink(os.path.join(cache_dir, name))
    os.rmdir(cache_dir)
    os.rmdir(work)


if __name__ == '__main__':
    main()
