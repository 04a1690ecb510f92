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

"""The installed attestation interfaces, as Ironic's factory loads them."""

from oslo_log import log as logging

from ironic_keylime.ironic_integration import common
from ironic_keylime.ironic_integration import version

LOG = logging.getLogger(__name__)

_supported_classes = None


def supported_attestation_interfaces():
    """Classes of every installed attestation interface.

    ``no-attestation`` comes first: when ``[DEFAULT]
    default_attestation_interface`` is not set, Ironic takes the first
    supported interface that is enabled, and a node must not be attested
    unless asked to. Loaded once, on first use (after the configuration
    was parsed: the keylime interface reads options when imported).

    :returns: a list of interface classes.
    """
    global _supported_classes
    if _supported_classes is None:
        import stevedore

        from ironic_keylime.drivers.modules import noop

        def _failed(manager, entrypoint, exc):
            LOG.warning('Attestation interface %(name)s could not be '
                        'loaded: %(err)s',
                        {'name': entrypoint.name, 'err': exc})

        manager = stevedore.ExtensionManager(
            common.NAMESPACE, invoke_on_load=False,
            on_load_failure_callback=_failed)
        others = [ext.plugin for ext in sorted(manager,
                                               key=lambda e: e.name)
                  if ext.plugin is not noop.NoAttestation]
        _supported_classes = [noop.NoAttestation] + others
    return list(_supported_classes)


def init_extension_manager(cls):
    """``_init_extension_manager`` of the attestation interface factory.

    Runs once per process, when the conductor loads the interfaces: by
    then Ironic has set up logging, so the version warning reaches its log
    too.
    """
    version.check_ironic_version()
    super(cls, cls)._init_extension_manager()
