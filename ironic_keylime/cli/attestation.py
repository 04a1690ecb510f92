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

"""``openstack baremetal node attestation show`` and ``list``.

Commands of python-ironicclient's plugin group ``openstack.baremetal.v1``:
python-openstackclient runs them as ``openstack baremetal node
attestation ...``, python-ironicclient's own shell as ``baremetal node
attestation ...``. They read what the conductor keeps on the node
(``driver_info`` and ``driver_internal_info``, see the admin guide's "Day
two"); they change nothing. The column names are an interface: scripts
use them with ``-f json``, ``-f value`` and ``-c``.
"""

import datetime
import logging

from cliff import lister
from cliff import show
from osc_lib import exceptions

from ironic_keylime.cli import hooks
from ironic_keylime.common.i18n import _

LOG = logging.getLogger(__name__)

# Names of what the conductor keeps (ironic_keylime.drivers.modules.
# keylime: driver_info.py and last_attestation.py; a unit test checks
# that they agree). The client cannot import the conductor's modules.
LAST_ATTESTATION = 'keylime_last_attestation'
LAST_ENROLLMENT = 'keylime_last_enrollment'
TPM_POLICY = 'keylime_tpm_policy'
EK_PIN = 'keylime_ek_sha256'
MB_POLICY_PIN = 'keylime_mb_policy_sha256'
BOOT_AGGREGATE = 'keylime_boot_aggregate'
CONTAINER = 'keylime_container'
ALLOWLIST = 'keylime_allowlist'
LIST_PINS = ('keylime_allowlist_sha256', 'keylime_excludelist_sha256')
KEYLIME = 'keylime'

#: The columns of ``node attestation show``, in order.
SHOW_COLUMNS = (
    'node', 'name', 'provision_state', 'attestation_interface',
    'enrolled', 'enrolled_at', 'enrolled_pcrs', 'boot_aggregate',
    'measured_boot_policy', 'ek_sha256', 'list_source',
    'allowlist_sha256', 'excludelist_sha256',
    'last_verdict', 'last_verdict_at', 'last_operation', 'last_step',
    'last_attempt', 'last_verifier', 'last_event_id', 'last_message',
    'last_tpm_policy_sha256', 'last_mb_policy_sha256',
    'last_enrolled_at', 'last_ek_sha256')
#: The columns of ``node attestation list``, in order.
LIST_COLUMNS = ('node', 'name', 'provision_state', 'enrolled',
                'ek_pinned', 'last_verdict', 'last_verdict_at',
                'last_operation')


def _interface(node, defaults):
    """The node's attestation interface, as its conductor sees it."""
    if node.get(hooks.FIELD):
        return node[hooks.FIELD]
    return hooks.effective_interface(node.get('driver_info'),
                                     lambda: defaults.get(node['driver']))


def keylime_node(node, defaults):
    """A node of the API with its attestation interface.

    :param node: a node resource of the client (or a dict).
    :param defaults: the drivers' defaults (``hooks._DriverDefaults``).
    :returns: (the node's fields as a dict, with ``attestation_interface``;
        the interface's name).
    """
    node = node.to_dict() if hasattr(node, 'to_dict') else dict(node)
    name = _interface(node, defaults)
    node[hooks.FIELD] = name
    return node, name


def _internal(node):
    """driver_internal_info, or an error the user can act on."""
    internal = node.get('driver_internal_info')
    if not isinstance(internal, dict):
        raise exceptions.CommandError(_(
            'The Bare Metal API did not return the driver_internal_info of '
            'node %s: your role may not read it (Ironic policy '
            'baremetal:node:get:driver_internal_info). Ask an admin of '
            'the node\'s owner or of the system.') % node['uuid'])
    return internal


def row(node):
    """Every column of ``node attestation show`` for a node dict.

    :param node: the node's fields (``driver_info``,
        ``driver_internal_info``, ``provision_state``...).
    :returns: a dict of :data:`SHOW_COLUMNS`.
    """
    info = node.get('driver_info') or {}
    internal = _internal(node)
    enrollment = internal.get(LAST_ENROLLMENT) or {}
    last = internal.get(LAST_ATTESTATION) or {}
    golden = last.get('golden_state') or {}
    if info.get(CONTAINER):
        source = 'swift:%s' % info[CONTAINER]
    elif info.get(ALLOWLIST):
        source = 'files:%s' % info[ALLOWLIST]
    else:
        source = None
    return {
        'node': node['uuid'],
        'name': node.get('name'),
        'provision_state': node.get('provision_state'),
        'attestation_interface': node.get(hooks.FIELD),
        'enrolled': bool(info.get(TPM_POLICY)),
        'enrolled_at': enrollment.get('at'),
        'enrolled_pcrs': enrollment.get('pcrs'),
        'boot_aggregate': info.get(BOOT_AGGREGATE),
        'measured_boot_policy': bool(info.get(MB_POLICY_PIN)),
        'ek_sha256': info.get(EK_PIN),
        'list_source': source,
        'allowlist_sha256': info.get(LIST_PINS[0]),
        'excludelist_sha256': info.get(LIST_PINS[1]),
        'last_verdict': last.get('verdict'),
        'last_verdict_at': last.get('at'),
        'last_operation': last.get('operation'),
        'last_step': last.get('step'),
        'last_attempt': last.get('attempt'),
        'last_verifier': last.get('verifier'),
        'last_event_id': last.get('event_id'),
        'last_message': last.get('message'),
        'last_tpm_policy_sha256': golden.get('tpm_policy_sha256'),
        'last_mb_policy_sha256': golden.get('mb_policy_sha256'),
        'last_enrolled_at': golden.get('enrolled_at'),
        'last_ek_sha256': last.get('ek_sha256'),
    }


def _older_than(when, days, now):
    if not when:
        return True
    try:
        moment = datetime.datetime.fromisoformat(when)
    except (TypeError, ValueError):
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return now - moment > datetime.timedelta(days=days)


def selected(rows, failed=False, not_enrolled=False, older_than=None,
             now=None):
    """The rows the list's filters keep.

    :param rows: dicts of :func:`row`.
    :param failed: keep nodes whose last verdict is not PASS (FAIL,
        timeout, error).
    :param not_enrolled: keep nodes without a golden boot state.
    :param older_than: keep nodes whose last verdict is older than this
        many days, or that have none.
    :param now: an aware datetime (tests), or None for now.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    for r in rows:
        if failed and r['last_verdict'] in (None, 'PASS'):
            continue
        if not_enrolled and r['enrolled']:
            continue
        if older_than is not None and not _older_than(
                r['last_verdict_at'], older_than, now):
            continue
        yield r


class ShowAttestation(show.ShowOne):
    """Show a node's attestation: golden boot state, EK pin, last verdict.

    Provided by ironic-keylime.
    """

    log = LOG

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('node', metavar='<node>',
                            help=_('Name or UUID of the node'))
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.baremetal
        node, name = keylime_node(client.node.get(parsed_args.node),
                                  hooks._DriverDefaults(client))
        if name != KEYLIME:
            raise exceptions.CommandError(_(
                'Node %(node)s does not use the keylime attestation '
                'interface (it uses %(name)s); set it with "openstack '
                'baremetal node set %(node)s --attestation-interface '
                'keylime".') % {'node': parsed_args.node,
                                'name': name or 'none'})
        data = row(node)
        return SHOW_COLUMNS, tuple(data[c] for c in SHOW_COLUMNS)


class ListAttestations(lister.Lister):
    """List the attestation of every node with the keylime interface.

    Provided by ironic-keylime.
    """

    log = LOG

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--owner', metavar='<owner>',
                            help=_('Only nodes of this owner (project).'))
        parser.add_argument('--conductor-group', metavar='<group>',
                            help=_('Only nodes of this conductor group.'))
        parser.add_argument('--failed', action='store_true',
                            help=_('Only nodes whose last verdict is not '
                                   'PASS (FAIL, timeout, error).'))
        parser.add_argument('--not-enrolled', action='store_true',
                            help=_('Only nodes without a golden boot '
                                   'state.'))
        parser.add_argument('--older-than', metavar='<days>', type=int,
                            help=_('Only nodes whose last verdict is older '
                                   'than this many days, or that have '
                                   'none.'))
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.baremetal
        filters = {'detail': True, 'limit': 0}
        if parsed_args.owner:
            filters['owner'] = parsed_args.owner
        if parsed_args.conductor_group is not None:
            filters['conductor_group'] = parsed_args.conductor_group
        defaults = hooks._DriverDefaults(client)
        rows = []
        for node in client.node.list(**filters):
            node, name = keylime_node(node, defaults)
            if name == KEYLIME:
                rows.append(row(node))
        rows = selected(rows, failed=parsed_args.failed,
                        not_enrolled=parsed_args.not_enrolled,
                        older_than=parsed_args.older_than)
        return LIST_COLUMNS, [tuple(r[c] if c != 'ek_pinned'
                                    else bool(r['ek_sha256'])
                                    for c in LIST_COLUMNS) for r in rows]
