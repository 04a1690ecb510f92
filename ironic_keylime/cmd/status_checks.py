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

"""The checks of ``ironic-keylime-status upgrade check``.

Each ``check_*`` function returns one :class:`oslo_upgradecheck.
upgradecheck.Result`; none raises for what it checks (a failure is a
result naming the option, file, service or node, and the fix).
"""

from concurrent import futures
import datetime
import os

from cryptography import x509
from ironic.common import exception as ironic_exception
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

from ironic_keylime.conf import CONF
from ironic_keylime.conf import opts
from ironic_keylime.drivers.modules.keylime import driver_info
from ironic_keylime.drivers.modules.keylime import keylime_api
from ironic_keylime.drivers.modules.keylime import record
from ironic_keylime.drivers.modules.keylime import tpm_binding
from ironic_keylime.keylime_client import exception as kl_exception
from ironic_keylime.keylime_client import tls

SUCCESS = upgradecheck.Code.SUCCESS
WARNING = upgradecheck.Code.WARNING
FAILURE = upgradecheck.Code.FAILURE

#: A certificate that expires within this many days is warned about.
EXPIRY_WARNING_DAYS = 30
#: How many services are asked at once, and how many nodes a message
#: names at most.
MAX_WORKERS = 8
MAX_NAMED = 20


def prepare():
    """Teach Ironic the attestation interface type, as ``ironic-attest``.

    Registers ``[DEFAULT]enabled_attestation_interfaces`` and the node's
    ``attestation`` interface before the configuration is parsed.
    """
    from ironic_keylime import ironic_integration
    try:
        ironic_integration.register_attestation_interface_type()
    except ironic_integration.IronicShapeError:
        # Reported by check_ironic, with the rest of the checks.
        pass


def _result(problems, warnings=(), success=None):
    if problems:
        return upgradecheck.Result(FAILURE, details='\n'.join(
            list(problems) + list(warnings)))
    if warnings:
        return upgradecheck.Result(WARNING, details='\n'.join(warnings))
    return upgradecheck.Result(SUCCESS, details=success)


def check_configuration(conf=CONF):
    """Every ironic-keylime option parses; list directories exist.

    :param conf: the configuration object.
    :returns: a Result.
    """
    problems = []
    for group, options in opts.list_opts():
        group_name = getattr(group, 'name', group)
        section = conf if group_name == 'DEFAULT' else conf[group_name]
        for opt in options:
            try:
                getattr(section, opt.dest)
            except (cfg.Error, ValueError) as e:
                problems.append('[%s]%s: %s' % (group_name, opt.name, e))
    if problems:
        return _result(problems)
    for directory in conf.keylime.allowed_list_directories:
        if not os.path.isabs(directory):
            problems.append(
                '[keylime]allowed_list_directories: %s is not an absolute '
                'path.' % directory)
        elif not os.path.isdir(directory):
            problems.append(
                '[keylime]allowed_list_directories: %s is not a directory '
                'on this host; create it (readable by the conductor) or '
                'remove it from the option.' % directory)
    return _result(problems)


def _certificates(conf):
    return tls.find_certificates(
        conf.keylime.tenant_cert_dir or None,
        conf.keylime.tenant_config or None,
        keylime_api.SETTING_NAMES)


def _certificate_validity(path, now, warning_days):
    """Problems and warnings of one PEM file of certificates."""
    try:
        with open(path, 'rb') as f:
            certs = x509.load_pem_x509_certificates(f.read())
    except OSError as e:
        return ['%s cannot be read by this user (%s).' % (path, e)], []
    except ValueError as e:
        return ['%s holds no PEM certificate (%s).' % (path, e)], []
    problems, warnings = [], []
    for cert in certs:
        subject = cert.subject.rfc4514_string() or '(no subject)'
        if cert.not_valid_after_utc <= now:
            problems.append('%s (%s) expired on %s; replace it.'
                            % (path, subject,
                               cert.not_valid_after_utc.isoformat()))
        elif cert.not_valid_before_utc > now:
            problems.append('%s (%s) is not valid before %s.'
                            % (path, subject,
                               cert.not_valid_before_utc.isoformat()))
        elif cert.not_valid_after_utc - now < datetime.timedelta(
                days=warning_days):
            warnings.append('%s (%s) expires on %s; rotate it (see the '
                            'admin guide).'
                            % (path, subject,
                               cert.not_valid_after_utc.isoformat()))
    return problems, warnings


def check_certificates(conf=CONF, warning_days=None):
    """The ``cv_ca`` files are readable, valid and make a TLS client.

    :param conf: the configuration object.
    :param warning_days: warn about a certificate that expires within
        this many days (default :data:`EXPIRY_WARNING_DAYS`).
    :returns: a Result.
    """
    if warning_days is None:
        warning_days = EXPIRY_WARNING_DAYS
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        certs = _certificates(conf)
    except kl_exception.KeylimeError as e:
        return _result([str(e)])
    problems, warnings = [], []
    for path in (certs.client_cert,) + tuple(certs.trusted_ca):
        found, warned = _certificate_validity(path, now, warning_days)
        problems += found
        warnings += warned
    if not os.access(certs.client_key, os.R_OK):
        problems.append('%s (the client key) cannot be read by this user.'
                        % certs.client_key)
    if not problems:
        try:
            tls.client_context(certs, keylime_api.SETTING_NAMES['cert_dir'])
        except kl_exception.KeylimeError as e:
            problems.append(str(e))
    return _result(problems, warnings,
                   success='client %s, CA %s' % (
                       certs.client_cert, ', '.join(certs.trusted_ca)))


def check_ironic():
    """Ironic's version and the internals the patches change.

    :returns: a Result.
    """
    from ironic_keylime.ironic_integration import shape
    from ironic_keylime.ironic_integration import version

    problems = []
    for late in (False, True):
        problems += shape.find_shape_problems(late)
    warnings = []
    try:
        version.check_ironic_version()
    except Exception as e:
        warnings.append(str(e))
    return _result(problems, warnings,
                   success='Ironic %s' % version.ironic_version())


def _lessee_may(rule, conf):
    """Whether a lessee's admin passes ``rule`` (Ironic's enforcer)."""
    from ironic.common import policy as ironic_policy

    target = {'node.owner': 'owner-project', 'node.lessee': 'lessee-project',
              'project_id': 'lessee-project', 'roles': ['admin', 'manager'],
              'system_scope': None}
    creds = {'project_id': 'lessee-project', 'roles': ['admin', 'manager'],
             'system_scope': None}
    return ironic_policy.get_enforcer().enforce(rule, target, creds)


def check_step_policy(conf=CONF):
    """The steps that write trust anchors have rules, denied to lessees.

    Loads Ironic's enforcer as the API does (with the operators' policy
    file), after :func:`prepare` registered ironic-keylime's defaults.

    :param conf: the configuration object.
    :returns: a Result.
    """
    from ironic_keylime.ironic_integration import step_policy

    problems, warnings = [], []
    if conf.auth_strategy != 'keystone':
        warnings.append(
            '[DEFAULT]auth_strategy is %s: Ironic checks no policy at all, '
            'so anyone who can reach the API may enroll a golden boot '
            'state. Use keystone wherever the API is shared.'
            % conf.auth_strategy)
    from ironic.common import policy as ironic_policy
    enforcer = ironic_policy.get_enforcer()
    enforcer.load_rules()
    for rule in step_policy.list_rules():
        if rule.name not in enforcer.rules:
            problems.append('%s is not in effect in Ironic\'s policy '
                            'enforcer: start Ironic with the ironic-attest '
                            'commands or ironic_keylime.wsgi.api, or (Ironic '
                            'with the native change, whose own services do '
                            'not load ironic-keylime\'s defaults) write the '
                            'rule into Ironic\'s policy file: "%s": "%s".'
                            % (rule.name, rule.name, rule.check_str))
        elif _lessee_may(rule.name, conf):
            problems.append('%s lets a node\'s lessee run the step: the '
                            'policy file (%s) overrides the default %r. A '
                            'lessee could enroll tampered firmware as the '
                            'golden state.'
                            % (rule.name, conf.oslo_policy.policy_file,
                               rule.check_str))
    return _result(problems, warnings,
                   success=', '.join(r.name
                                     for r in step_policy.list_rules()))


def check_tenant():
    """The configured ``keylime_tenant`` runs and is a Keylime tenant.

    :returns: a Result.
    """
    try:
        caps = keylime_api.tenant().capabilities()
    except kl_exception.KeylimeError as e:
        return _result(['[keylime]tenant_path = %s: %s'
                        % (CONF.keylime.tenant_path, e)])
    missing = [flag for flag, present in (
        ('-vp/-r/-rp (Keylime 6.2 or newer)', caps.service_ports),
        ('--tpm_policy', caps.tpm_policy)) if not present]
    if missing:
        return _result([], ['keylime_tenant at %s lacks %s.'
                            % (CONF.keylime.tenant_path,
                               ', '.join(missing))])
    return _result([], success=CONF.keylime.tenant_path)


def _node_name(node):
    return node.name or node.uuid


def keylime_nodes():
    """The nodes whose attestation interface is ``keylime``.

    One read of the node table (this is an operator's command, not a
    periodic task).

    :returns: a list of Ironic node objects.
    """
    from ironic.common import context
    from ironic import objects

    objects.register_all()
    ctx = context.get_admin_context()
    default = CONF.default_attestation_interface
    found = []
    for node in objects.Node.list(ctx):
        name = node.get_interface('attestation') or default
        if name == 'keylime':
            found.append(node)
    return found


def _services(nodes):
    """Distinct verifiers and registrars named by the nodes."""
    verifiers, registrars, invalid = {}, {}, []
    for node in nodes:
        try:
            info = driver_info.parse_driver_info(node)
        except ironic_exception.IronicException as e:
            invalid.append('node %s: %s' % (_node_name(node), e))
            continue
        verifiers.setdefault(info.verifier, []).append(node)
        registrars.setdefault(info.registrar, []).append(node)
    return verifiers, registrars, invalid


def _ask_verifier(endpoint):
    client = keylime_api.rest_client(endpoint)
    return 'API %s' % client.api_version()


def _ask_registrar(endpoint):
    client = tpm_binding.registrar_client(endpoint)
    return 'API %s' % client.api_version()


def _where(kind, endpoint, nodes):
    names = ', '.join(_node_name(n) for n in nodes[:3])
    more = len(nodes) - 3
    return ('the Keylime %s at %s:%s (nodes %s%s)'
            % (kind, endpoint[0], endpoint[1], names,
               ' and %d more' % more if more > 0 else ''))


def check_services(nodes):
    """Every verifier and registrar the nodes name answers.

    Each is asked for its API version with the configured certificates,
    at most :data:`MAX_WORKERS` at once.

    :param nodes: the nodes of :func:`keylime_nodes`.
    :returns: a Result.
    """
    if not nodes:
        return _result([], success='no node uses the keylime interface')
    verifiers, registrars, problems = _services(nodes)
    asked = ([('verifier', ep, ns, _ask_verifier)
              for ep, ns in sorted(verifiers.items())]
             + [('registrar', ep, ns, _ask_registrar)
                for ep, ns in sorted(registrars.items())])
    answers = []
    with futures.ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        jobs = [(kind, ep, ns, pool.submit(ask, ep))
                for kind, ep, ns, ask in asked]
        for kind, ep, ns, job in jobs:
            where = _where(kind, ep, ns)
            try:
                answers.append('%s: %s' % (where, job.result()))
            except kl_exception.KeylimeError as e:
                problems.append('%s: %s' % (where, e))
    if problems:
        # What did answer helps tell a host's problem from a service's.
        return upgradecheck.Result(FAILURE, details='\n'.join(
            problems + ['(answered) %s' % a for a in answers]))
    return _result([], success='\n'.join(answers))


def check_in_flight(nodes):
    """No node holds an attestation older than ``attestation_timeout``.

    :param nodes: the nodes of :func:`keylime_nodes`.
    :returns: a Result (a warning naming the nodes).
    """
    limit = CONF.keylime.attestation_timeout
    stuck = []
    for node in nodes:
        attempt = (node.driver_internal_info or {}).get(record.STATE_KEY)
        if not isinstance(attempt, dict):
            continue
        try:
            elapsed = record.elapsed(attempt)
        except (KeyError, TypeError, ValueError):
            stuck.append('%s (%s, an unreadable attempt record)'
                         % (_node_name(node), node.provision_state))
            continue
        if elapsed > limit:
            stuck.append('%s (%s, %d s)' % (_node_name(node),
                                            node.provision_state,
                                            elapsed))
    if not stuck:
        return _result([])
    shown = stuck[:MAX_NAMED]
    if len(stuck) > MAX_NAMED:
        shown.append('and %d more' % (len(stuck) - MAX_NAMED))
    return _result([], ['These nodes hold an attestation older than '
                        '[keylime]attestation_timeout (%d s): %s. Their '
                        'conductor fails them at its next verdict round; '
                        'if none runs, start it or abort the operation.'
                        % (limit, ', '.join(shown))])
