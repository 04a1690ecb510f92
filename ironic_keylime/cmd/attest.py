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

"""Ironic's services, with the attestation interface type.

``ironic-attest``, ``ironic-attest-api`` and ``ironic-attest-conductor``
take the arguments of Ironic's ``ironic``, ``ironic-api`` and
``ironic-conductor`` (``--config-file`` and so on), add the attestation
interface type to Ironic (:mod:`ironic_keylime.ironic_integration`), then
run Ironic's own entry point unchanged.

They refuse to start (exit status 1, the reason on standard error) when the
installed Ironic's internals do not have the shape ironic-keylime's patches
expect.
"""

import importlib
import sys


def _run(module):
    # Ironic's command package selects oslo.service's threading backend;
    # it must be imported before anything else of Ironic.
    import ironic.command  # noqa: F401

    from ironic_keylime import ironic_integration

    # Before Ironic parses its configuration (it registers the options)
    # and before Ironic's modules that copy the interface types load.
    try:
        ironic_integration.register_attestation_interface_type()
    except ironic_integration.IronicShapeError as e:
        # Ironic's logging is not set up yet: standard error is where an
        # operator (or systemd's journal) sees why the service stopped.
        sys.exit('%s: %s' % (module.rsplit('.', 1)[-1], e))
    return importlib.import_module(module).main()


def main_all_in_one():
    """``ironic-attest``: Ironic's all-in-one ``ironic`` service."""
    return _run('ironic.command.singleprocess')


def main_api():
    """``ironic-attest-api``: Ironic's ``ironic-api`` service."""
    return _run('ironic.command.api')


def main_conductor():
    """``ironic-attest-conductor``: Ironic's conductor service."""
    return _run('ironic.command.conductor')
