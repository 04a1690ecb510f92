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

"""The installed Ironic's version, and whether it knows attestation."""

from importlib import metadata

from oslo_log import log as logging

from ironic_keylime.ironic_integration import common

LOG = logging.getLogger(__name__)


def ironic_version():
    """The installed Ironic's version, or None when it is unknown."""
    try:
        return metadata.version('ironic')
    except metadata.PackageNotFoundError:
        return None


def check_ironic_version(version=None):
    """Warn when the installed Ironic was not tested with this package.

    An untested version is only a warning: :mod:`.shape` refuses an Ironic
    whose internals do not have the shape the patches expect.

    :param version: the version to check; by default the installed one.
    :returns: True when the version is one of the tested ones.
    """
    version = version if version is not None else ironic_version()
    major = (version or '').split('.')[0]
    if major in common.TESTED_IRONIC_VERSIONS:
        return True
    LOG.warning('ironic-keylime adds the attestation interface type to '
                'Ironic by changing Ironic internals, and was tested with '
                'Ironic %(tested)s only; this is Ironic %(version)s. If '
                'Ironic services fail to start, or attestation steps do '
                'not run, use a tested Ironic version.',
                {'tested': ', '.join('%s.x' % v
                                     for v in common.TESTED_IRONIC_VERSIONS),
                 'version': version or 'of unknown version'})
    return False


def has_native_support():
    """Whether Ironic itself knows the attestation interface type.

    Native support means a node column ``attestation_interface`` (the core
    patch of the Ironic spec), which brings everything else with it.
    """
    from ironic.drivers import base as driver_base
    from ironic.objects import node as node_obj
    return (common.FIELD in node_obj.Node.fields
            and common.INTERFACE_TYPE in driver_base.ALL_INTERFACES)
