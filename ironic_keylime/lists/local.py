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
A file is read through :func:`open_confined`, which opens it once and
checks what it opened, so that a link swapped in after the check is not
followed out of those directories.
"""

import errno
import os
import stat

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
    if _inside(resolved, allowed_directories):
        return resolved
    raise exception.ListError(
        'driver_info/%(field)s %(path)r is not inside any of the '
        'directories in [keylime]allowed_list_directories (%(dirs)s), '
        'once symbolic links are resolved. Move the file into one of them.'
        % {'field': field, 'path': path,
           'dirs': ', '.join(allowed_directories)})


def _inside(path, allowed_directories):
    """Whether a resolved path lies in one of the allowed directories."""
    return any(os.path.commonpath([root, path]) == root
               for root in map(os.path.realpath, allowed_directories))


#: How a confined file is opened: read only, never through a symbolic link
#: as its last component, without blocking on a FIFO or taking a terminal.
_OPEN_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
               | os.O_CLOEXEC)


def open_confined(path, allowed_directories, field):
    """Open a file given in driver_info, confined to the allowed directories.

    The path is checked (:func:`confine`), then its resolved form is
    opened once, without following a symbolic link in its last component,
    and what was opened is checked: a regular file whose path, as the
    kernel reports it for the open file (``/proc/self/fd``), lies in an
    allowed directory. A symbolic link or a directory swapped in between
    the check and the open is refused, never read.

    :param path: the path given by the user.
    :param allowed_directories: the directories it may be in.
    :param field: the driver_info key it came from, for messages.
    :returns: the file, open for reading in binary mode.
    :raises: ListError naming the field when the path is refused, cannot
        be opened, or what was opened is not a regular file inside the
        allowed directories.
    """
    resolved = confine(path, allowed_directories, field)
    try:
        fd = os.open(resolved, _OPEN_FLAGS)
    except OSError as e:
        why = (_SWAPPED if e.errno == errno.ELOOP else e.strerror)
        raise exception.ListError(
            'Cannot read %(path)s given in driver_info/%(field)s: %(err)s'
            % {'path': resolved, 'field': field, 'err': why})
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refused(resolved, field, 'it is not a regular file')
        try:
            opened = os.readlink('/proc/self/fd/%d' % fd)
        except OSError as e:
            raise _refused(resolved, field, 'what was opened cannot be '
                           'checked (/proc/self/fd: %s)' % e.strerror)
        if not _inside(opened, allowed_directories):
            raise _refused(resolved, field, 'what was opened, %s, is '
                           'outside [keylime]allowed_list_directories: %s'
                           % (opened, _SWAPPED))
        os.set_blocking(fd, True)
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def _refused(path, field, why):
    return exception.ListError(
        'Refusing %(path)s given in driver_info/%(field)s: %(why)s'
        % {'path': path, 'field': field, 'why': why})


_SWAPPED = ('the file or one of its directories was replaced by a '
            'symbolic link after the path was checked; check who can write '
            'to the allowed directories')


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
        return open_confined(self.paths[name], self.allowed_directories,
                             self.FIELDS[name])

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
