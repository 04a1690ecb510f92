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

"""``ironic-keylime-status upgrade check``: a pre-flight check.

Run on a conductor host with Ironic's configuration, like
``ironic-status upgrade check`` (oslo.upgradecheck: exit status 0 when
every check succeeds, 1 when one warns, 2 when one fails, 255 when a check
itself broke)::

    ironic-keylime-status --config-file /etc/ironic/ironic.conf \\
        upgrade check [--json]

It tells an operator, before the first node fails, what the conductor
would meet: options that do not parse, allowed list directories that do
not exist, ``cv_ca`` certificates that are unreadable or expire, Keylime
verifiers and registrars (those the nodes name) that cannot be reached
with those certificates or speak no supported API version, a
``keylime_tenant`` that does not run, Ironic internals that changed
shape, nodes whose attestation outlived ``attestation_timeout``, and
EK pins without their index tag (``ironic-keylime-tpm-index``).
"""

import sys

from oslo_upgradecheck import common_checks
from oslo_upgradecheck import upgradecheck


def _checks():
    """The checks, imported once Ironic's backend was selected."""
    from ironic_keylime.cmd import status_checks
    return status_checks


class Checks(upgradecheck.UpgradeCommands):
    """The checks of ``ironic-keylime-status upgrade check``."""

    def __init__(self):
        super().__init__()
        self._nodes = None

    def _keylime_nodes(self):
        # One read of the node table for the checks that need nodes.
        if self._nodes is None:
            self._nodes = _checks().keylime_nodes()
        return self._nodes

    def _check_configuration(self):
        return _checks().check_configuration()

    def _check_certificates(self):
        return _checks().check_certificates()

    def _check_ironic(self):
        return _checks().check_ironic()

    def _check_step_policy(self):
        return _checks().check_step_policy()

    def _check_tenant(self):
        return _checks().check_tenant()

    def _check_services(self):
        return _checks().check_services(self._keylime_nodes())

    def _check_in_flight(self):
        return _checks().check_in_flight(self._keylime_nodes())

    def _check_tpm_index(self):
        from ironic_keylime.cmd import tpm_index
        return tpm_index.check()

    def _check_policy_file(self):
        from ironic_keylime.conf import CONF
        return common_checks.check_policy_json(self, CONF)

    _upgrade_checks = (
        ('ironic-keylime configuration', _check_configuration),
        ('Keylime certificates', _check_certificates),
        ('Ironic internals', _check_ironic),
        ('Step policy', _check_step_policy),
        ('Keylime tenant', _check_tenant),
        ('Keylime verifiers and registrars', _check_services),
        ('Attestations in flight', _check_in_flight),
        ('Index of bound TPMs', _check_tpm_index),
        ('Policy file JSON to YAML migration', _check_policy_file),
    )


def main():
    """The ``ironic-keylime-status`` command."""
    # Ironic's command package selects oslo.service's backend; it comes
    # before anything else of Ironic.
    import ironic.command  # noqa: F401

    from ironic_keylime.cmd import status_checks
    from ironic_keylime.conf import CONF

    status_checks.prepare()
    return upgradecheck.main(CONF, project='ironic',
                             upgrade_command=Checks())


if __name__ == '__main__':
    sys.exit(main())
