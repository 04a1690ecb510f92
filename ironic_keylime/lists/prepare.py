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
                   fix_boot_aggregate=True, ima_hash_algorithm='sha256',
                   parent=None):
    """Fetch and verify the lists of ``source`` into a private directory.

    The checksum is checked against the digest computed while the
    allowlist arrived, before anything else looks at the list; the
    boot_aggregate fix is applied after it. The directory and every file
    in it are removed when the block ends, on success and on error.

    :param source: a :class:`ironic_keylime.lists.base.ListSource`.
    :param use_runtime_policy: a callable without arguments that says
        whether the tenant takes a runtime policy (then one is built from
        the lists) or the legacy files; None: the legacy files. It is
        asked once the lists are verified, so that lists that fail never
        cause a tenant to run.
    :param require_checksum: refuse an allowlist without a checksum.
    :param fix_boot_aggregate: apply the boot_aggregate fix.
    :param ima_hash_algorithm: the IMA hash algorithm of the nodes.
    :param parent: where to create the private directory.
    :returns: a context manager yielding
        :class:`PreparedLists`.
    :raises: ListError, ChecksumMismatch.
    """
    with private_directory(parent) as workdir:
        fetched = source.fetch(workdir)
        where = source.describe()
        if fetched.checksum is None:
            if require_checksum:
                raise exception.ListError(
                    'The allowlist from %s has no checksum, and '
                    '[keylime]require_allowlist_checksum is on. Provide '
                    'allowlist_checksum (the SHA-256 digest of the '
                    'allowlist).' % where)
            LOG.warning('Using the allowlist from %s without a checksum, '
                        'as [keylime]require_allowlist_checksum allows.',
                        where)
        else:
            formats.verify_checksum(fetched.allowlist_sha256,
                                    fetched.checksum, where)
        if not formats.count_entries(fetched.allowlist):
            raise exception.ListError(
                'The allowlist from %s has no entries ("<digest>  <path>" '
                'lines); an empty allowlist cannot attest a node.' % where)
        if fix_boot_aggregate and formats.fix_boot_aggregate(
                fetched.allowlist, ima_hash_algorithm):
            LOG.info('Gave the boot_aggregate entry of the allowlist from '
                     '%(where)s the length of %(alg)s (Keylime issue 702).',
                     {'where': where, 'alg': ima_hash_algorithm})
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
