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

"""Lists from files on the conductor (the administrators' workflow).

Paths come from a node's ``driver_info`` and so from API users: each one
is resolved (symbolic links followed) and must lie inside one of the
directories the operator allowed in ``[keylime]allowed_list_directories``.
"""

import os

from ironic_keylime.lists import base
from ironic_keylime.lists import exception
from ironic_keylime.lists import formats


def confine(path, allowed_directories, field):
    """Resolve ``path`` and check it lies in an allowed directory.

    :param path: the path given by the user.
    :param allowed_directories: the directories it may be in.
    :param field: the driver_info key it came from, for messages.
    :returns: the resolved path.
    :raises: ListError if the path is relative or outside every allowed
        directory.
    """
    if not allowed_directories:
        raise exception.ListError(
            'driver_info/%s names a file on the conductor, but the '
            'conductor allows no list directories. Set '
            '[keylime]allowed_list_directories, or put the lists in a '
            'Swift container and use driver_info/keylime_container.'
            % field)
    if not os.path.isabs(path):
        raise exception.ListError(
            'driver_info/%s must be an absolute path, got %r.'
            % (field, path))
    resolved = os.path.realpath(path)
    for directory in allowed_directories:
        root = os.path.realpath(directory)
        if os.path.commonpath([root, resolved]) == root:
            return resolved
    raise exception.ListError(
        'driver_info/%(field)s %(path)r is not inside any of the '
        'directories in [keylime]allowed_list_directories (%(dirs)s), '
        'once symbolic links are resolved. Move the file into one of them.'
        % {'field': field, 'path': path,
           'dirs': ', '.join(allowed_directories)})


class LocalListSource(base.ListSource):
    """Lists from conductor files.

    :param allowlist: path of the allowlist (``keylime_allowlist``).
    :param checksum: path of its checksum, or None.
    :param excludelist: path of the excludelist, or None.
    :param allowed_directories: ``[keylime]allowed_list_directories``.
    :param excludelist_checksum: path of the excludelist's checksum, or
        None.
    :param limits: the largest allowlist and excludelist read, a dict of
        :class:`ironic_keylime.lists.formats.Limit` by list name; None for
        the options' defaults.
    """

    FIELDS = {formats.ALLOWLIST: 'keylime_allowlist',
              formats.CHECKSUM: 'keylime_allowlist_checksum',
              formats.EXCLUDELIST: 'keylime_excludelist',
              formats.EXCLUDELIST_CHECKSUM: 'keylime_excludelist_checksum'}

    def __init__(self, allowlist, checksum, excludelist,
                 allowed_directories, excludelist_checksum=None,
                 limits=None):
        self.paths = {formats.ALLOWLIST: allowlist,
                      formats.CHECKSUM: checksum,
                      formats.EXCLUDELIST: excludelist,
                      formats.EXCLUDELIST_CHECKSUM: excludelist_checksum}
        self.allowed_directories = list(allowed_directories)
        self.limits = limits or formats.default_limits()

    def describe(self):
        return 'conductor file %s' % self.paths[formats.ALLOWLIST]

    def validate(self):
        """Check every given path against the allowed directories.

        :raises: ListError naming the field at fault.
        """
        for name, path in self.paths.items():
            if path:
                confine(path, self.allowed_directories, self.FIELDS[name])

    def _open(self, name):
        path = confine(self.paths[name], self.allowed_directories,
                       self.FIELDS[name])
        try:
            return open(path, 'rb')
        except OSError as e:
            raise exception.ListError(
                'Cannot read the %(name)s %(path)s given in '
                'driver_info/%(field)s: %(err)s' %
                {'name': name.replace('_', ' '), 'path': path,
                 'field': self.FIELDS[name], 'err': e.strerror})

    def _copy(self, name, workdir):
        """Copy a list; return its path and digest, or (None, None)."""
        if not self.paths[name]:
            return None, None
        path = os.path.join(workdir, name)
        what = '%s %s (driver_info/%s)' % (
            name, self.paths[name], self.FIELDS[name])
        with self._open(name) as src:
            _size, digest = formats.write_chunks(
                formats.capped(formats.read_chunks(src), self.limits[name],
                               what), path)
        return path, digest

    def _checksum(self, name):
        """The digest of the checksum file of list ``name``, or None."""
        checksum_name = formats.CHECKSUM_OF[name]
        if not self.paths[checksum_name]:
            return None
        with self._open(checksum_name) as src:
            return formats.parse_checksum(
                src.read(4096), self.paths[checksum_name], name)

    def fetch(self, workdir):
        allowlist, digest = self._copy(formats.ALLOWLIST, workdir)
        excludelist, exclude_digest = self._copy(formats.EXCLUDELIST,
                                                 workdir)
        return base.FetchedLists(
            allowlist=allowlist, allowlist_sha256=digest,
            checksum=self._checksum(formats.ALLOWLIST),
            excludelist=excludelist, excludelist_sha256=exclude_digest,
            excludelist_checksum=self._checksum(formats.EXCLUDELIST))
