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

"""The conductor's HTTP server of deploy images, for the VM chain.

Ironic caches a deploy's image in ``[deploy]http_root`` and gives the
ramdisk a URL under ``[deploy]http_url``, which the conductor itself checks
first (a HEAD request). The conductor reaches this server at 127.0.0.1 and
a VM's guest at 10.0.2.2 (qemu's user network): one URL cannot serve
both. So ``http_url`` is the 127.0.0.1 one, and the node's ironic-python-
agent is given this server as its HTTP proxy (``driver_info/
image_http_proxy``, which Ironic hands to the agent): the server answers a
proxy request for its own 127.0.0.1 URL with the same file. It refuses any
other origin: it is not an open proxy. TEST ONLY.

    python -m ironic_keylime.harness.image_server PORT DIRECTORY
"""

import argparse
import functools
import http.server
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    """Files of a directory, also for proxy requests to this server."""

    def _own_path(self):
        """Turn a proxy request for this server's URL into a plain one.

        :returns: False when the request was for another origin (answered
            with 403).
        """
        parts = urllib.parse.urlsplit(self.path)
        if not (parts.scheme or parts.netloc):
            return True
        if parts.scheme == 'http' and parts.netloc == self.server.origin:
            self.path = urllib.parse.urlunsplit(
                ('', '', parts.path or '/', parts.query, ''))
            return True
        self.send_error(403, 'Not a proxy for %s' % parts.netloc)
        return False

    def do_GET(self):
        if self._own_path():
            super().do_GET()

    def do_HEAD(self):
        if self._own_path():
            super().do_HEAD()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('port', type=int)
    parser.add_argument('directory')
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', args.port),
        functools.partial(Handler, directory=args.directory))
    server.origin = '127.0.0.1:%d' % args.port
    server.serve_forever()


if __name__ == '__main__':
    main()
