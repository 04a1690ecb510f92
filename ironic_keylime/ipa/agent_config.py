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

"""Configuration of the Rust Keylime agent (``keylime_agent``).

The Rust agent reads ``/etc/keylime/agent.conf`` (TOML, one ``[agent]``
table), then the files of ``/etc/keylime/agent.conf.d/`` in lexicographic
order, a later value winning. This module reads the effective ``[agent]``
values and writes one drop-in file with the values the conductor gives.

Pure Python, standard library only (and :mod:`ironic_keylime.common.network`,
which is too): it runs in ironic-python-agent's
environment on the node and in the image build (the ironic-keylime-agent DIB
element), neither of which has Ironic.
"""

import ipaddress
import os
import re
import tempfile
import uuid as uuidlib

try:
    import tomllib
except ImportError:  # Python < 3.11 (e.g. CentOS Stream 9's python3)
    tomllib = None

from ironic_keylime.common import network

#: The agent's main configuration file.
DEFAULT_CONFIG_FILE = '/etc/keylime/agent.conf'
#: The agent's drop-in directory.
DEFAULT_CONFIG_DIR = '/etc/keylime/agent.conf.d'
#: The drop-in written at image build time by the ironic-keylime-agent element.
IMAGE_DROPIN = '80-dib-keylime-agent.conf'
#: The drop-in written at run time from the conductor's values; it comes
#: after the image's drop-in, so its values win.
RUNTIME_DROPIN = '90-ironic-keylime.conf'

#: Values of ``uuid`` that make the agent compute its UUID itself.
UUID_KEYWORDS = ('generate', 'hash_ek', 'environment', 'dmidecode',
                 'hostname')

#: Defaults of the Rust agent for the keys reported to the conductor.
AGENT_DEFAULTS = {'ip': '127.0.0.1', 'port': 9002,
                  'registrar_ip': '127.0.0.1', 'registrar_port': 8890}

_KEY_RE = re.compile(r'^([A-Za-z0-9_-]+)\s*=\s*(.*)$')


class AgentConfigError(ValueError):
    """A bad value for, or an unreadable, agent configuration."""


def validate_address(name, value):
    """Check an IP address or a host name.

    :param name: the name of the value, for the error message.
    :param value: the value.
    :returns: the address as a string (an IPv6 address without brackets).
    :raises: AgentConfigError when it is neither.
    """
    try:
        return network.parse_address(value)
    except ValueError:
        raise AgentConfigError(
            '%s must be an IP address or a host name, not %r' %
            (name, value))


def validate_port(name, value):
    """Check a TCP port: an integer or a string of digits, 1 to 65535.

    :param name: the name of the value, for the error message.
    :param value: the value.
    :returns: the port as an int.
    :raises: AgentConfigError when it is not a port.
    """
    try:
        return network.parse_port(value)
    except ValueError:
        raise AgentConfigError('%s must be a port number (1-65535), not %r'
                               % (name, value))


def validate_uuid(name, value):
    """Check a UUID.

    :param name: the name of the value, for the error message.
    :param value: the value.
    :returns: the UUID in canonical form (lower case, with dashes).
    :raises: AgentConfigError when it is not a UUID.
    """
    try:
        return str(uuidlib.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise AgentConfigError('%s must be a UUID, not %r' % (name, value))


def _parse_scalar(path, lineno, text):
    text = text.strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        while end > 0 and text[end - 1] == '\\':
            end = text.find('"', end + 1)
        if end < 0:
            raise AgentConfigError('%s:%d: unterminated string' %
                                   (path, lineno))
        return text[1:end].replace('\\"', '"').replace('\\\\', '\\')
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise AgentConfigError('%s:%d: unterminated string' %
                                   (path, lineno))
        return text[1:end]
    text = text.split('#', 1)[0].strip()
    if text in ('true', 'false'):
        return text == 'true'
    try:
        return int(text.replace('_', ''))
    except ValueError:
        raise AgentConfigError('%s:%d: cannot read the value %r' %
                               (path, lineno, text))


def _parse_simple(path, text):
    """Read the ``[agent]`` table of the simple TOML the agent uses.

    Used only where :mod:`tomllib` is missing: key = "string" | integer |
    boolean, one per line, under table headers.
    """
    table = None
    values = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('['):
            table = line.split(']', 1)[0].strip('[ ')
            continue
        match = _KEY_RE.match(line)
        if not match:
            raise AgentConfigError('%s:%d: cannot read %r' %
                                   (path, lineno, line))
        if table == 'agent':
            values[match.group(1)] = _parse_scalar(path, lineno,
                                                   match.group(2))
    return {'agent': values}


def read_file(path):
    """The ``[agent]`` table of one TOML file.

    :param path: the file.
    :returns: a dict, empty when the file has no ``[agent]`` table.
    :raises: AgentConfigError when it cannot be read or parsed.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise AgentConfigError('cannot read %s: %s' % (path, e))
    try:
        text = data.decode('utf-8')
        if tomllib is not None:
            parsed = tomllib.loads(text)
        else:
            parsed = _parse_simple(path, text)
    except (UnicodeDecodeError, ValueError) as e:
        raise AgentConfigError('%s is not valid TOML: %s' % (path, e))
    agent = parsed.get('agent', {})
    if not isinstance(agent, dict):
        raise AgentConfigError('%s: [agent] is not a table' % path)
    return agent


def config_files(config_file=DEFAULT_CONFIG_FILE,
                 config_dir=DEFAULT_CONFIG_DIR):
    """The files the agent reads, in the order it reads them.

    :param config_file: the main file (skipped when missing).
    :param config_dir: the drop-in directory (skipped when missing); its
        ``*.conf`` files in lexicographic order.
    :returns: a list of paths.
    """
    files = []
    if config_file and os.path.isfile(config_file):
        files.append(config_file)
    if config_dir and os.path.isdir(config_dir):
        files.extend(os.path.join(config_dir, name)
                     for name in sorted(os.listdir(config_dir))
                     if name.endswith('.conf')
                     and os.path.isfile(os.path.join(config_dir, name)))
    return files


def effective_config(config_file=DEFAULT_CONFIG_FILE,
                     config_dir=DEFAULT_CONFIG_DIR):
    """The ``[agent]`` values the agent will use, its defaults included.

    :param config_file: the main file.
    :param config_dir: the drop-in directory.
    :returns: a dict.
    :raises: AgentConfigError when a file cannot be read.
    """
    values = dict(AGENT_DEFAULTS)
    for path in config_files(config_file, config_dir):
        values.update(read_file(path))
    return values


def _wildcard_or_loopback(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_unspecified or ip.is_loopback


def agent_identity(values, dmi_uuid_path='/sys/class/dmi/id/product_uuid'):
    """The UUID, address and port the verifier should use for the agent.

    :param values: the effective ``[agent]`` values
        (:func:`effective_config`).
    :param dmi_uuid_path: where the ``dmidecode`` UUID mode reads the
        machine's UUID.
    :returns: a dict with ``uuid`` (None when the agent computes it from
        its TPM or at random: ``hash_ek``, ``generate``), ``uuid_mode``
        (``fixed`` or the keyword), ``address`` (``contact_ip``, else
        ``ip`` unless it is a wildcard or loopback address; else None:
        the conductor then uses the address of the ramdisk), ``port``
        (``contact_port``, else ``port``), ``registrar_ip`` and
        ``registrar_port``.
    """
    raw_uuid = str(values.get('uuid', 'generate')).strip()
    mode = raw_uuid if raw_uuid in UUID_KEYWORDS else 'fixed'
    agent_uuid = None
    if mode == 'fixed':
        try:
            agent_uuid = validate_uuid('uuid', raw_uuid)
        except AgentConfigError:
            # The Rust agent accepts any string; the verifier needs the
            # same string.
            agent_uuid = raw_uuid
    elif mode == 'dmidecode':
        try:
            with open(dmi_uuid_path) as f:
                agent_uuid = f.read().strip().lower() or None
        except OSError:
            agent_uuid = None
    address = values.get('contact_ip') or None
    if not address:
        ip = values.get('ip')
        address = None if not ip or _wildcard_or_loopback(ip) else ip
    port = values.get('contact_port') or values.get('port')
    return {'uuid': agent_uuid, 'uuid_mode': mode, 'address': address,
            'port': int(port) if port else None,
            'registrar_ip': values.get('registrar_ip'),
            'registrar_port': values.get('registrar_port')}


def _toml_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if any(ord(c) < 32 for c in text):
        raise AgentConfigError('control characters in %r' % text)
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def render(values, comment=None):
    """A TOML drop-in with one ``[agent]`` table.

    :param values: a dict of key to str, int or bool; keys sorted.
    :param comment: an optional first comment line.
    :returns: the text.
    """
    lines = []
    if comment:
        lines.extend('# %s' % line for line in comment.splitlines())
    lines.append('[agent]')
    for key in sorted(values):
        if not re.match(r'^[a-z0-9_]+$', key):
            raise AgentConfigError('bad configuration key %r' % key)
        lines.append('%s = %s' % (key, _toml_value(values[key])))
    return '\n'.join(lines) + '\n'


def write_dropin(path, values, comment=None, mode=0o644):
    """Write a drop-in atomically (a temporary file renamed into place).

    :param path: the drop-in file; its directory is created if missing.
    :param values: the ``[agent]`` values.
    :param comment: an optional comment.
    :param mode: the file mode.
    :returns: True when the file changed, False when it already had this
        content.
    :raises: AgentConfigError when it cannot be written.
    """
    text = render(values, comment)
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.ironic-keylime-')
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.rename(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise AgentConfigError('cannot write %s: %s' % (path, e))
    return True


def conductor_values(registrar_ip, registrar_port, agent_uuid=None,
                     contact_ip=None):
    """Validate the conductor's values and map them onto agent keys.

    :param registrar_ip: the registrar's address.
    :param registrar_port: the registrar's port.
    :param agent_uuid: the agent's UUID, or None to keep the image's UUID
        mode.
    :param contact_ip: the address the verifier reaches the agent at, or
        None.
    :returns: a dict of ``[agent]`` values.
    :raises: AgentConfigError on a bad value.
    """
    values = {
        'registrar_ip': validate_address('registrar_ip', registrar_ip),
        'registrar_port': validate_port('registrar_port', registrar_port),
    }
    if agent_uuid is not None:
        values['uuid'] = validate_uuid('agent_uuid', agent_uuid)
    if contact_ip is not None:
        values['contact_ip'] = validate_address('contact_ip', contact_ip)
    return values
