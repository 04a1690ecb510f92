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

"""The ``no-attestation`` interface: nodes are not attested.

An Ironic carrying the native change (``contrib/ironic-native``) has its
own ``no-attestation`` entry point, beside ironic-keylime's: there, this
module's ``NoAttestation`` is Ironic's class, so that both names load the
same interface.
"""

from ironic.drivers.modules import noop as ironic_noop

from ironic_keylime.drivers import base


class NoAttestation(base.AttestationInterface):
    """Attestation interface that does nothing and has no steps."""

    def get_properties(self):
        return {}

    def validate(self, task):
        pass

    def start_attestation(self, task):
        pass

    def validate_security_status(self, task):
        return None

    def unregister_node(self, task):
        pass


if hasattr(ironic_noop, 'NoAttestation'):
    NoAttestation = ironic_noop.NoAttestation  # noqa: F811
