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

"""``ironic-keylime-tpm-index``: index the EK pins written before the index.

The conductor finds the nodes bound to a TPM through node tags
(:mod:`ironic_keylime.ironic_integration.ek_index`) that Ironic's DB API
keeps from this release on. Pins written earlier have none; run once
after the upgrade, on a host with Ironic's configuration, before the
conductors attest in ``[keylime]agent_uuid_mode = image``::

    ironic-keylime-tpm-index --config-file /etc/ironic/ironic.conf

It reads every node once and prints the nodes it tagged. Running it again
tags nothing. ``ironic-keylime-status upgrade check`` names the pins that
still have no tag (:func:`check`).
"""

import sys

from oslo_upgradecheck import upgradecheck

#: How many nodes a message names at most.
MAX_NAMED = 20


def check():
    """Every EK pin has its index tag (``ironic-keylime-status``).

    :returns: an upgradecheck Result: a failure naming the nodes when
        ``[keylime]agent_uuid_mode`` is ``image`` (the check of a TPM bound
        to another node would miss them), else a warning.
    """
    from ironic.db import api as dbapi

    from ironic_keylime.conf import CONF
    from ironic_keylime.ironic_integration import ek_index

    missing = ek_index.unindexed(dbapi.get_instance())
    if not missing:
        return upgradecheck.Result(upgradecheck.Code.SUCCESS,
                                   details='Every EK pin is indexed.')
    shown = missing[:MAX_NAMED]
    if len(missing) > MAX_NAMED:
        shown.append('and %d more' % (len(missing) - MAX_NAMED))
    image = CONF.keylime.agent_uuid_mode == 'image'
    return upgradecheck.Result(
        upgradecheck.Code.FAILURE if image else upgradecheck.Code.WARNING,
        details='driver_info/keylime_ek_sha256 of these nodes has no index '
                'tag (pinned before ironic-keylime kept the index, or '
                'written outside Ironic): %s. %s Run '
                '"ironic-keylime-tpm-index --config-file '
                '/etc/ironic/ironic.conf" once.'
                % (', '.join(shown),
                   'With [keylime]agent_uuid_mode = image, another node '
                   'could be attested with their TPM on its first use.'
                   if image else 'Needed before [keylime]agent_uuid_mode '
                   'is set to image.'))


def main(argv=None):
    """The ``ironic-keylime-tpm-index`` command.

    :param argv: the arguments (``--config-file`` ...), default
        ``sys.argv[1:]``.
    :returns: the exit status: 0.
    """
    # Ironic's command package selects oslo.service's backend; it comes
    # before anything else of Ironic.
    import ironic.command  # noqa: F401

    from ironic_keylime.cmd import status_checks
    status_checks.prepare()

    from ironic.db import api as dbapi

    from ironic_keylime.conf import CONF
    from ironic_keylime.ironic_integration import ek_index

    CONF(sys.argv[1:] if argv is None else argv, project='ironic')
    tagged = ek_index.backfill(dbapi.get_instance())
    for uuid in tagged:
        print('indexed the EK pin of node %s' % uuid)
    print('%d node(s) indexed; every EK pin has its tag.' % len(tagged))
    return 0


if __name__ == '__main__':
    sys.exit(main())
