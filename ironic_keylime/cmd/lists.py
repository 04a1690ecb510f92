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

"""ironic-keylime-lists: publish lists in a Swift container and check them.

``upload`` puts ``allowlist`` and ``excludelist`` with their checksums
(``allowlist_checksum``, ``excludelist_checksum``, computed here) into a
container; ``show`` reads the container through
the same code as the conductor and prints what a node would get. Both use
the standard OpenStack authentication options and ``OS_*`` environment
variables (keystoneauth1 loading), e.g. ``--os-auth-type v1password`` for
Swift's tempauth, or ``password`` with Keystone.
"""

import argparse
import os
import sys
import tempfile

from keystoneauth1 import loading as ks_loading

from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import exception
from ironic_keylime.lists import formats
from ironic_keylime.lists import prepare
from ironic_keylime.lists import swift
from ironic_keylime.lists import swift_connection

#: Who connects, in the messages of the shared Swift code.
WHO = 'ironic-keylime-lists'
#: Seconds per request, retries and first retry delay of the command.
TIMEOUT = 30.0
RETRIES = 2
RETRY_DELAY = 1.0


def _parser(argv):
    parser = argparse.ArgumentParser(
        prog='ironic-keylime-lists',
        description='Publish Keylime lists in a Swift container for '
                    'driver_info/keylime_container, and show what a node '
                    'would get from a container.')
    ks_loading.register_session_argparse_arguments(parser)
    ks_loading.register_auth_argparse_arguments(parser, argv,
                                                default='password')
    parser.add_argument('--os-storage-url',
                        default=os.environ.get('OS_STORAGE_URL'),
                        help='Storage URL of the Swift account (default: '
                             'from the authentication; env OS_STORAGE_URL).')
    parser.add_argument('--os-interface',
                        default=os.environ.get('OS_INTERFACE', 'public'),
                        help='Endpoint interface in the catalog (env '
                             'OS_INTERFACE, default public).')
    parser.add_argument('--os-region-name',
                        default=os.environ.get('OS_REGION_NAME'),
                        help='Region of the endpoint (env OS_REGION_NAME).')
    parser.add_argument('--account', default='',
                        help='Swift account to use instead of the one of '
                             'the authenticated project, e.g. AUTH_<id> '
                             '(as [keylime]swift_account).')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    upload = sub.add_parser(
        'upload', help='upload an allowlist and an excludelist with '
                       'their checksums (computed here)')
    upload.add_argument('--container', required=True)
    upload.add_argument('--allowlist', required=True, metavar='FILE',
                        help='the allowlist ("<digest>  <path>" lines)')
    upload.add_argument('--excludelist', metavar='FILE',
                        help='the excludelist (one regular expression a '
                             'line). Without it, an excludelist already '
                             'in the container is deleted with its '
                             'checksum, so that it cannot hide '
                             'measurements of the new list.')
    show = sub.add_parser(
        'show', help='print the lists a node would get from a container '
                     'and the checksum verdict')
    show.add_argument('--container', required=True)
    show.add_argument('--no-require-checksum', action='store_true',
                      help='accept lists without checksums, as '
                           '[keylime]require_allowlist_checksum = False '
                           'and require_excludelist_checksum = False')
    return parser


def _auth_description(args):
    shown = []
    for name in ('os_auth_type', 'os_auth_url', 'os_username',
                 'os_user_id', 'os_project_name', 'os_project_id',
                 'os_user_domain_name', 'os_project_domain_name'):
        value = getattr(args, name, None)
        if value:
            shown.append('--%s=%s' % (name[3:].replace('_', '-'), value))
    return ', '.join(shown) or 'no authentication options'


def connection(args):
    """The Swift connection the arguments describe.

    Authentication happens at the first request, inside the shared
    connection code, which words its errors.

    :param args: the parsed arguments.
    :returns: a :class:`ironic_keylime.lists.swift_connection.SwiftConnection`.
    """
    def session_and_endpoint():
        auth = ks_loading.load_auth_from_argparse_arguments(args)
        session = ks_loading.load_session_from_argparse_arguments(
            args, auth=auth)
        endpoint = args.os_storage_url or session.get_endpoint(
            service_type='object-store', interface=args.os_interface,
            region_name=args.os_region_name)
        return session, endpoint

    settings = swift_connection.Settings(
        account=args.account, timeout=TIMEOUT, retries=RETRIES,
        retry_delay=RETRY_DELAY)
    return swift_connection.SwiftConnection(
        settings, session_and_endpoint, _auth_description(args), who=WHO)


def upload(args, conn, out):
    """Upload the lists; the checksums are computed from the files."""
    for change in swift.publish(conn, args.container, args.allowlist,
                                args.excludelist):
        if change.action == 'deleted':
            out.write('deleted the old %s/%s\n'
                      % (args.container, change.name))
        elif change.name in (formats.CHECKSUM,
                             formats.EXCLUDELIST_CHECKSUM):
            out.write('uploaded %s/%s (sha256 %s)\n'
                      % (args.container, change.name, change.sha256))
        else:
            out.write('uploaded %s/%s (%d bytes)\n'
                      % (args.container, change.name, change.size))
    return 0


def show(args, conn, out):
    """Fetch the lists as the conductor does and print the verdict."""
    # Never the conductor's cache: this shows what Swift holds now.
    source = swift.SwiftListSource(
        args.container, connection=conn,
        cache=list_cache.ListCache(None, 0))
    out.write('container: %s\n' % args.container)
    parent = tempfile.mkdtemp(prefix='ironic-keylime-lists-')
    try:
        with prepare.prepared_lists(
                _Recorder(source, out),
                require_checksum=not args.no_require_checksum,
                require_excludelist_checksum=not args.no_require_checksum,
                fix_boot_aggregate=False, parent=parent) as lists:
            entries = formats.count_entries(lists.allowlist)
            out.write('verdict: OK, a node would get an allowlist of %d '
                      'entries%s\n' % (entries, ' and an excludelist'
                                       if lists.excludelist else ''))
    except exception.ListError as e:
        out.write('verdict: FAIL, a node would fail: %s\n' % e)
        return 1
    finally:
        os.rmdir(parent)
    return 0


class _Recorder(object):
    """Wraps a source to print what it fetched."""

    def __init__(self, source, out):
        self.source = source
        self.out = out

    def describe(self):
        return self.source.describe()

    def _print(self, name, path, digest, checksum):
        checksum_name = formats.CHECKSUM_OF[name]
        if path is None:
            self.out.write('%-19s absent\n' % name)
        else:
            self.out.write('%-19s %12d bytes  sha256 %s\n' % (
                name, os.path.getsize(path), digest))
        if checksum is None:
            self.out.write('%-19s absent\n' % checksum_name)
        else:
            self.out.write('%-19s says %s: %s\n' % (
                checksum_name, checksum,
                'match' if checksum == digest else 'MISMATCH'))

    def fetch(self, workdir):
        fetched = self.source.fetch(workdir)
        self._print(formats.ALLOWLIST, fetched.allowlist,
                    fetched.allowlist_sha256, fetched.checksum)
        self._print(formats.EXCLUDELIST, fetched.excludelist,
                    fetched.excludelist_sha256, fetched.excludelist_checksum)
        return fetched


def main(argv=None, out=None):
    """Entry point of ironic-keylime-lists.

    :param argv: the arguments (default: sys.argv[1:]).
    :param out: where to print (default: stdout).
    :returns: the exit status.
    """
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    args = _parser(argv).parse_args(argv)
    conn = connection(args)
    try:
        conn.authenticate()
        if args.command == 'upload':
            return upload(args, conn, out)
        return show(args, conn, out)
    except exception.ListError as e:
        sys.stderr.write('%s: %s\n' % (WHO, e))
        return 1


if __name__ == '__main__':
    sys.exit(main())
