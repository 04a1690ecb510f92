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

"""Teach a stock Ironic the ``attestation`` interface type.

Ironic fixes its interface types in its own code: no entry point adds one.
:func:`register_attestation_interface_type` adds the ``attestation`` type
to a running, unmodified Ironic, in the process that calls it, by changing
a few of Ironic's module-level objects. This package is the only place of
ironic-keylime that touches Ironic's internals, one job per module:

* :mod:`.register`: the patches, each saying what breaks when Ironic
  changes the object it patches;
* :mod:`.shape`: the start-up check that each patched internal still has
  the shape the patch expects (it refuses to start otherwise);
* :mod:`.version`: the installed Ironic's version and native support;
* :mod:`.interfaces`: the installed attestation interfaces;
* :mod:`.names`: a node's attestation interface name, and who may choose
  it (``instance_info`` cannot turn attestation off);
* :mod:`.steps_guard`: a deployment keeps the node's ``attest`` step;
* :mod:`.api_guard`: the API refuses requests a conductor without the
  attestation interface would run unattested.

It must run **before** Ironic parses its configuration (the options must
be registered) and **before** Ironic's API modules are imported (they copy
the step interface names when imported). It must not import the modules of
the ``keylime`` interface: they read ``[keylime]`` options when imported.

When Ironic already knows the ``attestation`` type (native support), it
does nothing.
"""

from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import interfaces
from ironic_keylime.ironic_integration import names
from ironic_keylime.ironic_integration import register
from ironic_keylime.ironic_integration import shape
from ironic_keylime.ironic_integration import version

FIELD = common.FIELD
INTERFACE_TYPE = common.INTERFACE_TYPE
NAMESPACE = common.NAMESPACE
TESTED_IRONIC_VERSIONS = common.TESTED_IRONIC_VERSIONS

IronicShapeError = shape.IronicShapeError

register_attestation_interface_type = (
    register.register_attestation_interface_type)
supported_attestation_interfaces = (
    interfaces.supported_attestation_interfaces)
check_names_on_update = names.check_names_on_update
check_node_interface_names = names.check_node_interface_names
check_ironic_version = version.check_ironic_version
has_native_support = version.has_native_support
ironic_version = version.ironic_version
