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

"""Where a node's measured-boot policy is kept, as bytes.

With a Swift container it is the container's object ``mb_policy``,
written by the conductor; with conductor files, a file the admin names.
Neither is trusted by itself: whoever fetches the policy checks the
SHA-256 digest computed here while it arrived against the pin the caller
holds (``driver_info``). The policy is never cached: it is small, and the
object is read again on every attestation. This module knows nothing of
the policy's content (the Keylime client validates it) nor of Ironic.
"""

import hashlib
import os

from ironic_keylime.lists import exception
from ironic_keylime.lists import formats
from ironic_keylime.lists import local
from ironic_keylime.lists import swift_connection

#: The object name of the policy in a node's container.
OBJECT = 'mb_policy'
#: The default of ``[keylime]max_mb_policy_size`` (KiB): keylime-policy
#: writes a few kilobytes (413 bytes for OVMF without Secure Boot); a
#: policy with Secure Boot keys and dbx entries some hundreds.
DEFAULT_MAX_KIB = 4096


def limit(max_kib=DEFAULT_MAX_KIB):
    """The limit of the policy, from ``[keylime]max_mb_policy_size``.

    :param max_kib: the option's value, in KiB.
    :returns: a :class:`ironic_keylime.lists.formats.Limit`.
    """
    return formats.Limit(max_kib * formats.KIB,
                         '[keylime]max_mb_policy_size', '%d KiB' % max_kib)


def _write(chunks, path, what, max_size):
    try:
        return formats.write_chunks(
            formats.capped(chunks, max_size or limit(),
                           'measured-boot policy (%s)' % what), path)[1]
    except BaseException:
        if os.path.exists(path):
            os.unlink(path)
        raise


def put_swift(connection, container, data):
    """Write the policy as the object ``mb_policy`` of a container.

    :param connection: a
        :class:`ironic_keylime.lists.swift_connection.SwiftConnection`.
    :param container: the node's container (it holds the node's lists).
    :param data: the policy (bytes).
    :returns: the SHA-256 hex digest of what was written.
    :raises: ListError when the container is missing or Swift fails.
    """
    what = 'object %s of container %s' % (OBJECT, container)
    try:
        connection.call(what, lambda conn: conn.put_object(
            container, OBJECT, data, content_length=len(data),
            content_type='application/json'), writing=True)
    except swift_connection.NotFound:
        raise exception.ListError(
            'The Swift container %s does not exist: the node\'s lists '
            'and measured-boot policy live there.' % container)
    return hashlib.sha256(data).hexdigest()


def fetch_swift(connection, container, path, max_size=None):
    """Copy the object ``mb_policy`` of a container to ``path``.

    :param connection: a
        :class:`ironic_keylime.lists.swift_connection.SwiftConnection`.
    :param container: the node's container.
    :param path: a new file in a private directory.
    :param max_size: a :class:`ironic_keylime.lists.formats.Limit`; None
        for the option's default.
    :returns: the SHA-256 hex digest of the bytes written.
    :raises: ListError when the object is missing or Swift fails,
        ListTooLarge (naming the option) when it is too large.
    """
    what = 'object %s of container %s' % (OBJECT, container)

    def get(conn):
        if os.path.exists(path):
            os.unlink(path)  # a retry starts over
        _headers, body = conn.get_object(
            container, OBJECT, resp_chunk_size=formats.CHUNK_SIZE)
        try:
            return _write(body, path, what, max_size)
        finally:
            if hasattr(body, 'close'):
                body.close()

    try:
        return connection.call(what, get)
    except swift_connection.NotFound:
        raise exception.ListError(
            'The Swift container %(c)s has no object %(o)s (the node\'s '
            'measured-boot policy).' % {'c': container, 'o': OBJECT})


def fetch_file(source, path, allowed_directories, field, max_size=None):
    """Copy a conductor file holding the policy to ``path``.

    :param source: the file named in driver_info.
    :param path: a new file in a private directory.
    :param allowed_directories: ``[keylime]allowed_list_directories``.
    :param field: the driver_info key naming it, for messages.
    :param max_size: a :class:`ironic_keylime.lists.formats.Limit`; None
        for the option's default.
    :returns: the SHA-256 hex digest of the bytes written.
    :raises: ListError when it is outside the allowed directories (also
        when it was swapped for a link after it was checked), cannot be
        read; ListTooLarge (naming the option) when it is too large.
    """
    try:
        with local.open_confined(source, allowed_directories,
                                 field) as src:
            return _write(formats.read_chunks(src), path, source,
                          max_size)
    except OSError as e:
        raise exception.ListError(
            'Cannot read the measured-boot policy %(path)s: %(err)s' %
            {'path': source, 'err': e.strerror})
