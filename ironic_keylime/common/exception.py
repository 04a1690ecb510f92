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

"""Ironic exceptions of ironic-keylime."""

from ironic.common import exception

from ironic_keylime.common.i18n import _


class AttestationFailure(exception.IronicException):
    """A node could not be attested, or its attestation failed."""

    _msg_fmt = _('Attestation of node %(node)s failed: %(reason)s')


class AttestationFailedVerdict(AttestationFailure):
    """The verifier's verdict on a node is FAIL.

    :attr:`status` is the verdict the verifier gave
    (:class:`ironic_keylime.keylime_client.status.AgentStatus`).
    """

    _msg_fmt = _('The Keylime verifier failed node %(node)s: %(reason)s')

    def __init__(self, message=None, status=None, **kwargs):
        self.status = status
        super().__init__(message, **kwargs)
