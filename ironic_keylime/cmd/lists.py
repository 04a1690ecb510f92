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

``upload`` puts ``allowlist``, ``allowlist_checksum`` (computed here) and
``excludelist`` into a container; ``show`` reads the container through
the same code as the conductor and prints what a node would get. Both use
the standard OpenStack authentication options and ``OS_*`` environment
variables (keystoneauth1 loading), e.g. ``--os-auth-type v1password`` for
Swift's tempauth, or ``password`` with Keystone.
"""

import argparse
import hashlib
import os
import sys
import tempfile

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
import requests
from swiftclient import client as swift_client
from swiftclient import exceptions as swift_exc

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import lists as kl_lists
from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import prepare
from ironic_keylime.lists import swift


class CommandError(Exception):
    """A failure to report in one line, exit status 1."""


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
        'upload', help='upload an allowlist, its checksum (computed here) '
                       'and an excludelist')
    upload.add_argument('--container', required=True)
    upload.add_argument('--allowlist', required=True, metavar='FILE',
                        help='the allowlist ("<digest>  <path>" lines)')
    upload.add_argument('--excludelist', metavar='FILE',
                        help='the excludelist (one regular expression a '
                             'line). Without it, an excludelist already '
                             'in the container is deleted, so that it '
                             'cannot hide measurements of the new list.')
    show = sub.add_parser(
        'show', help='print the lists a node would get from a container '
                     'and the checksum verdict')
    show.add_argument('--container', required=True)
    show.add_argument('--no-require-checksum', action='store_true',
                      help='accept an allowlist without a checksum, as '
                           '[keylime]require_allowlist_checksum = False')
    return parser


def _session(args):
    auth = ks_loading.load_auth_from_argparse_arguments(args)
    return ks_loading.load_session_from_argparse_arguments(args, auth=auth)


def _auth_description(args):
    shown = []
    for name in ('os_auth_type', 'os_auth_url', 'os_username',
                 'os_user_id', 'os_project_name', 'os_project_id',
                 'os_user_domain_name', 'os_project_domain_name'):
        value = getattr(args, name, None)
        if value:
            shown.append('--%s=%s' % (name[3:].replace('_', '-'), value))
    return ', '.join(shown) or 'no authentication options'


def _endpoint(args, session):
    if args.os_storage_url:
        return args.os_storage_url
    try:
        return session.get_endpoint(service_type='object-store',
                                    interface=args.os_interface,
                                    region_name=args.os_region_name)
    except ks_exc.ClientException as e:
        raise CommandError('Cannot authenticate (%s: %s) with %s.'
                           % (type(e).__name__, e, _auth_description(args)))


def _sha256_of(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, 'rb') as f:
        for chunk in kl_lists.read_chunks(f):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _swift_call(what, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except swift_exc.ClientException as e:
        raise CommandError('Swift refused to %s: HTTP %s %s'
                           % (what, e.http_status, e.http_reason or ''))
    except (requests.RequestException, ks_exc.ClientException) as e:
        raise CommandError('Cannot %s: %s' % (what, e))


def upload(args, session, endpoint, out):
    """Upload the lists; the checksum is computed from the file."""
    conn = swift_client.Connection(
        session=session, os_options={'object_storage_url': endpoint},
        retries=2)
    for path in (args.allowlist, args.excludelist):
        if path and not os.path.isfile(path):
            raise CommandError('%s is not a file' % path)
    size, digest = _sha256_of(args.allowlist)
    with open(args.allowlist, encoding='utf-8', errors='replace') as f:
        if not any(kl_lists._allowlist_entry(line) for line in f):
            raise CommandError('%s has no "<digest>  <path>" entries; a '
                               'node cannot be attested with it.'
                               % args.allowlist)
    if args.excludelist:
        kl_lists.read_excludes(args.excludelist)
    c = args.container
    _swift_call('create container %s' % c, conn.put_container, c)
    with open(args.allowlist, 'rb') as f:
        _swift_call('upload the allowlist', conn.put_object, c,
                    kl_lists.ALLOWLIST, f, content_length=size,
                    content_type='text/plain')
    out.write('uploaded %s/%s (%d bytes)\n' % (c, kl_lists.ALLOWLIST, size))
    checksum = '%s  %s\n' % (digest, kl_lists.ALLOWLIST)
    _swift_call('upload the checksum', conn.put_object, c, kl_lists.CHECKSUM,
                checksum.encode(), content_type='text/plain')
    out.write('uploaded %s/%s (sha256 %s)\n' % (c, kl_lists.CHECKSUM, digest))
    if args.excludelist:
        xsize = os.path.getsize(args.excludelist)
        with open(args.excludelist, 'rb') as f:
            _swift_call('upload the excludelist', conn.put_object, c,
                        kl_lists.EXCLUDELIST, f, content_length=xsize,
                        content_type='text/plain')
        out.write('uploaded %s/%s (%d bytes)\n'
                  % (c, kl_lists.EXCLUDELIST, xsize))
    else:
        try:
            conn.delete_object(c, kl_lists.EXCLUDELIST)
            out.write('deleted the old %s/%s\n' % (c, kl_lists.EXCLUDELIST))
        except swift_exc.ClientException as e:
            if e.http_status != 404:
                raise CommandError('Cannot delete the old excludelist: '
                                   'HTTP %s' % e.http_status)
    return 0


def show(args, session, endpoint, out):
    """Fetch the lists as the conductor does and print the verdict."""
    conn = swift.SwiftConnection(account='', session=session,
                                 endpoint=endpoint,
                                 auth_description=_auth_description(args))
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
                fix_boot_aggregate=False, parent=parent) as lists:
            entries = kl_lists.count_entries(lists.allowlist)
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

    def fetch(self, workdir):
        fetched = self.source.fetch(workdir)
        self.out.write('%-19s %12d bytes  sha256 %s\n' % (
            kl_lists.ALLOWLIST, os.path.getsize(fetched.allowlist),
            fetched.allowlist_sha256))
        if fetched.checksum is None:
            self.out.write('%-19s absent\n' % kl_lists.CHECKSUM)
        else:
            self.out.write('%-19s says %s: %s\n' % (
                kl_lists.CHECKSUM, fetched.checksum,
                'match' if fetched.checksum == fetched.allowlist_sha256
                else 'MISMATCH'))
        if fetched.excludelist:
            self.out.write('%-19s %12d bytes\n' % (
                kl_lists.EXCLUDELIST, os.path.getsize(fetched.excludelist)))
        else:
            self.out.write('%-19s absent\n' % kl_lists.EXCLUDELIST)
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
    try:
        session = _session(args)
        endpoint = swift.with_account(_endpoint(args, session), args.account)
        if args.command == 'upload':
            return upload(args, session, endpoint, out)
        return show(args, session, endpoint, out)
    except (CommandError, exception.ListError) as e:
        sys.stderr.write('ironic-keylime-lists: %s\n' % e)
        return 1
    except ks_exc.ClientException as e:
        sys.stderr.write('ironic-keylime-lists: authentication failed '
                         '(%s: %s) with %s\n'
                         % (type(e).__name__, e, _auth_description(args)))
        return 1


if __name__ == '__main__':
    sys.exit(main())
