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

"""Errors of the Keylime client."""


class KeylimeError(Exception):
    """Base class of every error of the Keylime client.

    The message is meant for an operator: it says what failed and, where
    it can, what to do about it.
    """


class TenantNotFound(KeylimeError):
    """The keylime_tenant executable cannot be started."""


class TenantTimeout(KeylimeError):
    """keylime_tenant ran longer than allowed and was killed."""


class TenantCommandFailed(KeylimeError):
    """keylime_tenant reported that a command failed."""


class OutputTooLarge(KeylimeError):
    """A command or a service answered more than its bound allows."""


class ServiceUnreachable(TenantCommandFailed):
    """The verifier or the registrar did not answer."""


class AgentNotFound(TenantCommandFailed):
    """The agent is unknown to the registrar or to the verifier."""


class BulkUnsupported(KeylimeError):
    """The verifier cannot return all its agents' records at once."""


class UnparsableOutput(KeylimeError):
    """The output of keylime_tenant has no verdict we can read."""


class RegistrarError(KeylimeError):
    """The Keylime registrar gave no usable answer."""


class RegistrarUnreachable(RegistrarError, ServiceUnreachable):
    """The registrar did not answer (refused, timed out, reset)."""


class RegistrarTLSError(RegistrarError):
    """Mutual TLS with the registrar failed, or its files are unusable."""


class AgentNotRegistered(RegistrarError, AgentNotFound):
    """The registrar does not know the agent, or has not activated it."""


class InvalidEndorsementKey(RegistrarError):
    """The registrar's record of an agent holds no EK we can read."""


class EndorsementKeyChanged(TenantCommandFailed):
    """The tenant's registrar read held another EK than the one checked."""


class EndorsementKeyNotChecked(TenantCommandFailed):
    """The tenant did not check the EK it read against the expected one."""
