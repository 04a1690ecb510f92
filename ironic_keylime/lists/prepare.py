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

"""Verified lists in a private directory, for the time of one command."""

import contextlib
import shutil
import tempfile

from oslo_log import log as logging

from ironic_keylime.keylime_client import exception
from ironic_keylime.keylime_client import lists as kl_lists
from ironic_keylime.keylime_client import tenant

LOG = logging.getLogger(__name__)

#: Prefix of the private directories, so that leftovers can be found.
WORKDIR_PREFIX = 'ironic-keylime-'


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
def prepared_lists(source, require_checksum=True, fix_boot_aggregate=True,
                   ima_hash_algorithm='sha256', parent=None):
    """Fetch and verify the lists of ``source`` into a private directory.

    The checksum is checked against the digest computed while the
    allowlist arrived, before anything else looks at the list; the
    boot_aggregate fix is applied after it. The directory and every file
    in it are removed when the block ends, on success and on error.

    :param source: a :class:`ironic_keylime.lists.base.ListSource`.
    :param require_checksum: refuse an allowlist without a checksum.
    :param fix_boot_aggregate: apply the boot_aggregate fix.
    :param ima_hash_algorithm: the IMA hash algorithm of the nodes.
    :param parent: where to create the private directory.
    :returns: a context manager yielding
        :class:`ironic_keylime.keylime_client.tenant.PreparedLists`.
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
            kl_lists.verify_checksum(fetched.allowlist_sha256,
                                     fetched.checksum, where)
        if not kl_lists.count_entries(fetched.allowlist):
            raise exception.ListError(
                'The allowlist from %s has no entries ("<digest>  <path>" '
                'lines); an empty allowlist cannot attest a node.' % where)
        if fix_boot_aggregate and kl_lists.fix_boot_aggregate(
                fetched.allowlist, ima_hash_algorithm):
            LOG.info('Gave the boot_aggregate entry of the allowlist from '
                     '%(where)s the length of %(alg)s (Keylime issue 702).',
                     {'where': where, 'alg': ima_hash_algorithm})
        yield tenant.PreparedLists(allowlist=fetched.allowlist,
                                   excludelist=fetched.excludelist,
                                   workdir=workdir)
