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

"""The contract of a list source."""

import abc
import collections

FetchedLists = collections.namedtuple(
    'FetchedLists',
    ['allowlist', 'allowlist_sha256', 'checksum', 'excludelist',
     'excludelist_sha256', 'excludelist_checksum'])
FetchedLists.__doc__ = """Lists as a source delivered them.

:ivar allowlist: path of the allowlist in the private directory.
:ivar allowlist_sha256: SHA-256 hex digest computed while it was written.
:ivar checksum: the digest the allowlist's checksum file gives, or None
    when there is no checksum file.
:ivar excludelist: path of the excludelist, or None when there is none.
:ivar excludelist_sha256: its SHA-256 hex digest computed while it was
    written, or None.
:ivar excludelist_checksum: the digest the excludelist's checksum file
    gives, or None when there is none.
"""


class ListSource(object, metaclass=abc.ABCMeta):
    """A place allowlists, checksums and excludelists are read from."""

    @abc.abstractmethod
    def describe(self):
        """Say where the lists come from, for messages."""

    @abc.abstractmethod
    def fetch(self, workdir):
        """Copy the lists into ``workdir``.

        :param workdir: a private directory (mode 0700) to write into.
        :returns: :class:`FetchedLists`.
        :raises: ironic_keylime.lists.exception.ListError (or a
            subclass) naming the missing or unreadable list.
        """
