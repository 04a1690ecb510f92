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

"""Verified lists in a private directory, for the time of one command.

Everything keylime_tenant will read is made here: the verified allowlist
and excludelist, and the runtime policy built from them when the tenant
takes one. The Keylime client only turns these files into arguments.
"""

import collections
import contextlib
import os
import shutil
import tempfile

from oslo_log import log as logging

from ironic_keylime.lists import exception
from ironic_keylime.lists import excludes
from ironic_keylime.lists import formats
from ironic_keylime.lists import policy

LOG = logging.getLogger(__name__)

#: Prefix of the private directories, so that leftovers can be found.
WORKDIR_PREFIX = 'ironic-keylime-'
#: Name of the runtime policy in the private directory.
RUNTIME_POLICY = 'runtime_policy.json'

PreparedLists = collections.namedtuple(
    'PreparedLists', ['allowlist', 'excludelist', 'runtime_policy',
                      'runtime_policy_sha256', 'workdir'])
PreparedLists.__doc__ = """Verified lists, ready for keylime_tenant.

:ivar allowlist: path of the verified flat allowlist.
:ivar excludelist: path of the verified excludelist, or None.
:ivar runtime_policy: path of the runtime policy built from them, or None
    when the tenant takes the legacy files.
:ivar runtime_policy_sha256: SHA-256 hex digest of the runtime policy, or
    None.
:ivar workdir: the private directory they all live in.
"""


@contextlib.contextmanager
def private_directory(parent=None):
    """A directory only its owner can enter, removed on exit.

    :param parent: where to create it (None: the system default).
    """
    path = tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def prepared_lists(source, use_runtime_policy=None, require_checksum=True,
                   require_excludelist_checksum=True, allowlist_sha256=None,
                   excludelist_sha256=None, fix_boot_aggregate=True,
                   ima_hash_algorithm='sha256', boot_aggregate=None,
                   parent=None):
    """Fetch and verify the lists of ``source`` into a private directory.

    Each list is checked against the digest computed while it arrived,
    before anything else looks at it: against its pin when one is given
    (the pins win over the checksum files, which the owner of the lists
    can rewrite), else against its checksum file. Then the excludelist
    is checked against the probe paths, the allowlist must have entries,
    and the boot_aggregate fix is applied. The directory and every file
    in it are removed when the block ends, on success and on error.

    :param source: a :class:`ironic_keylime.lists.base.ListSource`.
    :param use_runtime_policy: a callable without arguments that says
        whether the tenant takes a runtime policy (then one is built from
        the lists) or the legacy files; None: the legacy files. It is
        asked once the lists are verified, so that lists that fail never
        cause a tenant to run.
    :param require_checksum: refuse an allowlist without a checksum
        (or pin).
    :param require_excludelist_checksum: refuse an excludelist without a
        checksum (or pin).
    :param allowlist_sha256: the SHA-256 hex digest the allowlist must
        have (``driver_info/keylime_allowlist_sha256``), or None.
    :param excludelist_sha256: the SHA-256 hex digest the excludelist
        must have (``driver_info/keylime_excludelist_sha256``), or None.
        With ``allowlist_sha256`` and without this, an excludelist is
        refused: it could undo the pinned allowlist.
    :param fix_boot_aggregate: apply the boot_aggregate fix.
    :param ima_hash_algorithm: the IMA hash algorithm of the nodes.
    :param boot_aggregate: the node's enrolled boot_aggregate (hex), or
        None; when given it is the allowlist's only boot_aggregate entry.
    :param parent: where to create the private directory.
    :returns: a context manager yielding
        :class:`PreparedLists`.
    :raises: ListError, ChecksumMismatch.
    """
    with private_directory(parent) as workdir:
        fetched = source.fetch(workdir)
        where = source.describe()
        _verify(formats.ALLOWLIST, where, fetched.allowlist_sha256,
                fetched.checksum, allowlist_sha256, require_checksum)
        if fetched.excludelist is None:
            if excludelist_sha256:
                raise exception.ListError(
                    'driver_info/keylime_excludelist_sha256 pins an '
                    'excludelist, but %s has none. Restore the excludelist '
                    'or remove the pin.' % where)
        else:
            if allowlist_sha256 and not excludelist_sha256:
                raise exception.ListError(
                    'driver_info/keylime_allowlist_sha256 pins the '
                    'allowlist, but the excludelist from %s is not pinned: '
                    'it could hide measurements of the pinned allowlist. '
                    'Set driver_info/keylime_excludelist_sha256 too, or '
                    'remove the excludelist.' % where)
            _verify(formats.EXCLUDELIST, where, fetched.excludelist_sha256,
                    fetched.excludelist_checksum, excludelist_sha256,
                    require_excludelist_checksum)
            excludes.read_excludes(fetched.excludelist, where)
        if not formats.count_entries(fetched.allowlist):
            raise exception.ListError(
                'The allowlist from %s has no entries ("<digest>  <path>" '
                'lines); an empty allowlist cannot attest a node.' % where)
        if fix_boot_aggregate and formats.fix_boot_aggregate(
                fetched.allowlist, ima_hash_algorithm):
            LOG.info('Gave the boot_aggregate entry of the allowlist from '
                     '%(where)s the length of %(alg)s (Keylime issue 702).',
                     {'where': where, 'alg': ima_hash_algorithm})
        if boot_aggregate:
            formats.set_boot_aggregate(fetched.allowlist, boot_aggregate)
        policy_path = policy_sha256 = None
        if use_runtime_policy is not None and use_runtime_policy():
            policy_path = os.path.join(workdir, RUNTIME_POLICY)
            policy_sha256 = policy.build_runtime_policy(
                fetched.allowlist, fetched.excludelist, policy_path)
        yield PreparedLists(allowlist=fetched.allowlist,
                            excludelist=fetched.excludelist,
                            runtime_policy=policy_path,
                            runtime_policy_sha256=policy_sha256,
                            workdir=workdir)


def _verify(name, where, actual, checksum, pin, required):
    """Check a list's digest against its pin, else its checksum.

    :param name: ``allowlist`` or ``excludelist``.
    :param where: where the list comes from, for messages.
    :param actual: the digest computed while the list arrived.
    :param checksum: the digest its checksum file gives, or None.
    :param pin: the digest driver_info pins, or None.
    :param required: refuse a list with neither.
    :raises: ChecksumMismatch, ListError.
    """
    if pin:
        if checksum and checksum != pin:
            LOG.warning('The %(name)s checksum from %(where)s (%(sum)s) '
                        'differs from driver_info/keylime_%(name)s_sha256 '
                        '(%(pin)s); the pin decides.',
                        {'name': name, 'where': where, 'sum': checksum,
                         'pin': pin})
        formats.verify_checksum(actual, pin, where, name,
                                'driver_info/keylime_%s_sha256' % name)
    elif checksum is None:
        if required:
            raise exception.ListError(
                'The %(name)s from %(where)s has no checksum, and '
                '[keylime]require_%(name)s_checksum is on. Provide '
                '%(checksum)s (the SHA-256 digest of the %(name)s) or '
                'driver_info/keylime_%(name)s_sha256.' %
                {'name': name, 'where': where,
                 'checksum': formats.CHECKSUM_OF[name]})
        LOG.warning('Using the %(name)s from %(where)s without a checksum, '
                    'as [keylime]require_%(name)s_checksum allows.',
                    {'name': name, 'where': where})
    else:
        formats.verify_checksum(actual, checksum, where, name)
