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

"""The attestation interface type.

Implements the interface of the approved Ironic spec
``specs/approved/attestation-interface.rst``: an attestation interface
starts the attestation of a node, reads the verdict of the attestation
service, and removes the node from that service.

An Ironic carrying the native change (``contrib/ironic-native``) defines
the same base class; the interfaces of ironic-keylime then derive from
it, as Ironic's own attestation interfaces do.
"""

import abc

from ironic.drivers import base

#: Ironic's base class of attestation interfaces (native support), else
#: Ironic's base class of all interfaces.
IRONIC_BASE = getattr(base, 'AttestationInterface', base.BaseInterface)


class AttestationInterface(IRONIC_BASE, metaclass=abc.ABCMeta):
    """Base class of attestation interfaces."""

    interface_type = 'attestation'

    @abc.abstractmethod
    def start_attestation(self, task):
        """Register the node with the attestation service.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: ironic_keylime.common.exception.AttestationFailure
        """

    @abc.abstractmethod
    def validate_security_status(self, task):
        """Read the attestation service's verdict on the node.

        :param task: a TaskManager instance.
        :returns: the verdict, as the implementation defines it.
        :raises: ironic_keylime.common.exception.AttestationFailure when no
            verdict can be read.
        """

    @abc.abstractmethod
    def unregister_node(self, task):
        """Remove the node from the attestation service.

        Must succeed when the node is not registered.

        :param task: a TaskManager instance with an exclusive lock.
        :raises: ironic_keylime.common.exception.AttestationFailure
        """
