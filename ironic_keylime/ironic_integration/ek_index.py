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

"""An index of the TPMs nodes are bound to, in Ironic's node tags.

``driver_info/keylime_ek_sha256`` (the EK pin) is a key of a JSON column
no database index serves. Each node whose driver_info holds a pin also
carries the node tag ``keylime-ek-sha256:<pin>``: Ironic's ``node_tags``
table is indexed by tag (``node_tags_idx``), and its tags are written by
no API (Ironic 39 has no tag API), so the tag is the conductor's own. The
nodes bound to a TPM are then one indexed query away
(:func:`bound_node_ids`) instead of a read of every node.

The tags follow the pin wherever Ironic writes driver_info: Ironic's
``Connection.create_node`` and ``update_node`` are wrapped
(:func:`install`): whatever saves a node (the API through its conductor,
the conductor's trust on first use, a script using Ironic's objects)
keeps the tag. A new pin is tagged before the node is written, so a
failure in between leaves a tag too many (callers compare the node's pin,
so it binds nothing), never a pin without its tag; stale tags are removed
after. Pins written before this index existed, or by SQL outside Ironic,
have no tag: :func:`backfill` (``ironic-keylime-tpm-index``) tags them
and :func:`unindexed` (``ironic-keylime-status upgrade check``) finds
them. A process that did not install the wrapper cannot rely on the
index (:func:`installed`).
"""

import functools
import inspect
import re

from ironic_keylime.ironic_integration import shape

#: The driver_info key of the EK pin (``driver_info.EK_SHA256`` of the
#: keylime interface, which this package must not import).
PIN_KEY = 'keylime_ek_sha256'
#: The prefix of the index's node tags.
TAG_PREFIX = 'keylime-ek-sha256:'
#: Ironic's DB API methods wrapped, with their parameters.
WRAPPED = (('create_node', ('self', 'values')),
           ('update_node', ('self', 'node_id', 'values')))

_PIN_RE = re.compile(r'^[0-9a-fA-F]{64}$')
_installed = False


def pin(driver_info):
    """The node's EK pin, as the keylime interface reads it.

    :param driver_info: a node's driver_info (any value).
    :returns: the fingerprint in lower case, or None when unset or
        malformed (a malformed pin binds nothing: the node's own
        attestation refuses it).
    """
    value = (driver_info.get(PIN_KEY) if isinstance(driver_info, dict)
             else None)
    if isinstance(value, str) and _PIN_RE.match(value.strip()):
        return value.strip().lower()
    return None


def tag(fingerprint):
    """The node tag of a fingerprint (64 lower-case hex characters)."""
    return TAG_PREFIX + fingerprint


def installed():
    """Whether this process keeps the index (see :func:`install`)."""
    return _installed


def bound_node_ids(fingerprint):
    """The ids of the nodes tagged with a fingerprint.

    One query on ``node_tags`` by tag, which Ironic's ``node_tags_idx``
    serves: it reads the matching rows only.

    :param fingerprint: a fingerprint in lower case.
    :returns: a list of node ids (callers compare each node's pin).
    """
    import sqlalchemy as sa

    from ironic.db.sqlalchemy import api as sa_api
    from ironic.db.sqlalchemy import models

    with sa_api._session_for_read() as session:
        return [row[0] for row in session.execute(
            sa.select(models.NodeTag.node_id).where(
                models.NodeTag.tag == tag(fingerprint)))]


def _tag_write(method):
    """Ironic's DB method under Ironic's own retry of a locked sqlite.

    Ironic retries ``update_node`` when sqlite answers "database is
    locked" (several conductor workers writing at once), not
    ``add_node_tag`` / ``delete_node_tag``: without the same retry the
    index's write fails the attestation whose ``update_node`` Ironic
    would have retried. A no-op on other databases.
    """
    from ironic.db.sqlalchemy import api as sa_api

    return sa_api.wrap_sqlite_retry(method)


def _index_tags(connection, node_id):
    return {t.tag for t in connection.get_node_tags_by_node_id(node_id)
            if t.tag.startswith(TAG_PREFIX)}


def _remove_stale(connection, node_id, keep):
    from ironic.common import exception

    for old in _index_tags(connection, node_id) - keep:
        try:
            _tag_write(connection.delete_node_tag)(node_id, old)
        except exception.NodeTagNotFound:
            pass


def sync(connection, node_id, driver_info):
    """Make the node's index tags say what its driver_info pins.

    :param connection: Ironic's DB API (``ironic.db.api.get_instance()``).
    :param node_id: the node's id.
    :param driver_info: its driver_info.
    :returns: True when a tag was added.
    """
    fingerprint = pin(driver_info)
    keep = {tag(fingerprint)} if fingerprint else set()
    missing = keep - _index_tags(connection, node_id)
    for new in missing:
        _tag_write(connection.add_node_tag)(node_id, new)
    _remove_stale(connection, node_id, keep)
    return bool(missing)


def _node_id(connection, node_id):
    # Ironic's update_node takes an id or a UUID (Node.save passes the
    # UUID): one read of the unique uuid index.
    from oslo_utils import strutils

    if strutils.is_int_like(node_id):
        return int(node_id)
    rows = connection.get_nodeinfo_list(columns=['id'],
                                        filters={'uuid': node_id})
    return rows[0][0] if rows else None


def _wrap_create(base):
    @functools.wraps(base)
    def create_node(self, values):
        node = base(self, values)
        if pin(values.get('driver_info')):
            sync(self, node.id, values['driver_info'])
        return node
    create_node._ironic_keylime_ek_index = True
    return create_node


def _wrap_update(base):
    @functools.wraps(base)
    def update_node(self, node_id, values):
        if 'driver_info' not in values:
            return base(self, node_id, values)
        fingerprint = pin(values['driver_info'])
        known = _node_id(self, node_id) if fingerprint else None
        if known is not None and tag(fingerprint) not in _index_tags(
                self, known):
            # Tagged first: a failure below leaves a tag that binds
            # nothing, never a pin without its tag.
            _tag_write(self.add_node_tag)(known, tag(fingerprint))
        node = base(self, node_id, values)
        _remove_stale(self, node.id,
                      {tag(fingerprint)} if fingerprint else set())
        return node
    update_node._ironic_keylime_ek_index = True
    return update_node


def install():
    """Keep the index wherever this process's Ironic writes driver_info.

    Wraps ``create_node`` and ``update_node`` of Ironic's SQLAlchemy
    ``Connection``. Idempotent.

    :raises: IronicShapeError when they do not take the expected
        parameters.
    """
    global _installed
    from ironic.db.sqlalchemy import api as sa_api

    for name, parameters in WRAPPED:
        base = getattr(sa_api.Connection, name)
        if getattr(base, '_ironic_keylime_ek_index', False):
            continue
        shape.check_signature(
            'ironic.db.sqlalchemy.api.Connection.%s' % name,
            list(inspect.signature(base).parameters), parameters)
        wrap = _wrap_create if name == 'create_node' else _wrap_update
        setattr(sa_api.Connection, name, wrap(base))
    _installed = True


def _pinned_rows(connection):
    # An operator's command: one read of the whole table.
    for node_id, uuid, info in connection.get_nodeinfo_list(
            columns=['id', 'uuid', 'driver_info']):
        if pin(info):
            yield node_id, uuid, info


def unindexed(connection):
    """The nodes whose pin has no index tag.

    :param connection: Ironic's DB API.
    :returns: a list of node UUIDs.
    """
    return [uuid for node_id, uuid, info in _pinned_rows(connection)
            if tag(pin(info)) not in _index_tags(connection, node_id)]


def backfill(connection):
    """Tag every pinned node that has no index tag.

    :param connection: Ironic's DB API.
    :returns: the UUIDs of the nodes tagged now.
    """
    tagged = []
    for node_id, uuid, info in _pinned_rows(connection):
        if sync(connection, node_id, info):
            tagged.append(uuid)
    return tagged
