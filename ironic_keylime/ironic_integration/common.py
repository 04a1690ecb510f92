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

"""Names shared by the modules of :mod:`ironic_keylime.ironic_integration`."""

#: The interface type that ironic-keylime brings.
INTERFACE_TYPE = 'attestation'
#: The node field (``driver_info`` or ``instance_info`` key) selecting it.
FIELD = 'attestation_interface'
#: Entry point namespace of the attestation interfaces.
NAMESPACE = 'ironic.hardware.interfaces.attestation'
#: The interface that attests nothing.
NO_ATTESTATION = 'no-attestation'
#: Ironic releases (major versions) this package was tested with.
TESTED_IRONIC_VERSIONS = ('39',)

#: Tie-break of steps of equal priority (a higher value runs first). The
#: attestation steps go before every stock interface's steps of the same
#: priority: the node is attested before anything else touches it.
STEP_INTERFACE_PRIORITY = 20


def requires_attestation(name):
    """Whether an attestation interface name attests the node.

    :param name: an attestation interface name, or None.
    :returns: False for None and ``no-attestation``, True otherwise.
    """
    return name not in (None, NO_ATTESTATION)
