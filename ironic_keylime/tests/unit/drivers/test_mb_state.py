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


"""The measured-boot policy: recorded at enrollment, sent on every attest.

Nodes, tasks, the clean step and the node history are Ironic's own; the
tenant replays real 7.14.3 outputs; the event log and the policy are the
real ones of tests/fixtures/uefi-event-log-ovmf, and a stand-in
keylime-policy acts as the real tool did on that log (refuses it without
``--without-secureboot``, then writes the policy the real tool wrote);
the functional tests run the real tool, Swift and Keylime. Three edges
cannot run here: the ramdisk's HTTP call (``AgentClient._command``),
Keystone authentication for Swift (``swift.source_from_conf`` is given a
connection to the in-memory Swift of :mod:`..lists.fake_swift`), and
keylime-policy itself (in Keylime's own virtualenv).
"""

import hashlib
import json
import os
from unittest import mock

import fixtures
from ironic.common import exception
from ironic.conductor import task_manager
from ironic.drivers.modules import agent_client

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import boot_state
from ironic_keylime.keylime_client import events
from ironic_keylime.lists import cache as list_cache
from ironic_keylime.lists import local
from ironic_keylime.lists import swift
from ironic_keylime.lists import swift_connection
from ironic_keylime.tests.unit.drivers import base
from ironic_keylime.tests.unit.lists import fake_swift
from ironic_keylime.tests.unit import mb_policy_fixture
from ironic_keylime.tests.unit import tenant_fixture

with open(mb_policy_fixture.EVENT_LOG, 'rb') as _f:
    EVENT_LOG = _f.read()
with open(mb_policy_fixture.POLICY, 'rb') as _f:
    POLICY = _f.read()
POLICY_SHA256 = hashlib.sha256(POLICY).hexdigest()
PIN = 'keylime_mb_policy_sha256'
CONTAINER = 'node-lists'
#: A Keylime 6.x tenant's help: --tpm_policy, no --mb-policy.
HELP_6X = ('usage: keylime_tenant [-h] [-c COMMAND] -vp --uuid '
           '--tpm_policy --mb_refstate --runtime-policy\n')


def _log_reading(log=EVENT_LOG):
    return base.log_reading(log)


class MbTestCase(base.KeylimeTestCase):
    """A node whose lists are in (an in-memory) Swift, or conductor files."""

    def setUp(self):
        super().setUp()
        self.swift = self.useFixture(fake_swift.FakeSwift())
        self.swift.put(CONTAINER, 'allowlist', base.ALLOWLIST)
        self.swift.put(CONTAINER, 'allowlist_checksum', b'%s  allowlist\n'
                       % hashlib.sha256(base.ALLOWLIST)
                       .hexdigest().encode())
        session = fake_swift.session()
        conn = swift_connection.SwiftConnection(
            swift_connection.Settings('', 5, 0, 0),
            lambda: (session, fake_swift.ACCOUNT_URL), 'test settings')
        # Keystone cannot run here: the container's source gets a
        # connection to the in-memory Swift.
        self.useFixture(fixtures.MockPatchObject(
            swift, 'source_from_conf', autospec=True,
            side_effect=lambda container, conf: swift.SwiftListSource(
                container, conn, list_cache.ListCache('', 0))))
        self.tool_dir = self.useFixture(fixtures.TempDir()).path
        self.tool_record = os.path.join(self.tool_dir, 'record.json')
        self.tool = os.path.join(self.tool_dir, 'keylime-policy')
        self.write_tool(mb_policy_fixture.STAND_IN % {
            'record': self.tool_record, 'policy': mb_policy_fixture.POLICY,
            'refusal': mb_policy_fixture.REFUSAL})
        self.config(policy_tool=self.tool, group='keylime')

    def write_tool(self, body):
        with open(self.tool, 'w') as f:
            f.write('#!/usr/bin/env python3\n' + body)
        os.chmod(self.tool, 0o700)

    def swift_info(self, **extra):
        info = self.driver_info(keylime_container=CONTAINER, **extra)
        for key in ('keylime_allowlist', 'keylime_allowlist_checksum',
                    'keylime_excludelist', 'keylime_excludelist_checksum'):
            del info[key]
        return info

    def tool_calls(self):
        if not os.path.exists(self.tool_record):
            return None
        with open(self.tool_record) as f:
            return json.load(f)['argv']

    def set_6x(self):
        self.fake.set_commands(tenant_fixture.plan(
            **{'--help': [{'stdout': HELP_6X}]}))


# The HTTP call to the ramdisk: no ramdisk runs in a unit test.
@mock.patch.object(agent_client.AgentClient, '_command', autospec=True)
class EnrollTestCase(base.EnrollStepMixin, MbTestCase):

    def create_node(self, **kwargs):
        kwargs.setdefault('driver_info', self.swift_info())
        return super().create_node(**kwargs)

    def refused(self, node, message):
        error = self.refused_enrollment(node, message)
        self.assertNotIn('keylime_tpm_policy', node.driver_info)
        self.assertEqual([], self.history(node))
        return error

    def test_swift_policy_written_and_pinned(self, mock_command):
        mock_command.return_value = base.ok(_log_reading())
        node = self.enroll(self.create_node())
        self.assertEqual(POLICY, self.swift.containers[CONTAINER]
                         ['mb_policy'])
        self.assertEqual(POLICY_SHA256, node.driver_info[PIN])
        self.assertIn('keylime_tpm_policy', node.driver_info)
        # Built with Secure Boot first; the log says it is off, so again
        # with --without-secureboot (the last call is recorded).
        self.assertIn('--without-secureboot', self.tool_calls())
        (severity, event), = self.history(node)
        self.assertEqual('INFO', severity)
        self.assertIn('measured-boot policy recorded from the UEFI event '
                      'log of %d bytes, sha256 %s (Secure Boot off)'
                      % (len(EVENT_LOG),
                         hashlib.sha256(EVENT_LOG).hexdigest()), event)
        self.assertIn('object mb_policy of Swift container %s' % CONTAINER,
                      event)
        self.assertIn('%s=%s' % (PIN, POLICY_SHA256), event)

    def test_secure_boot_required(self, mock_command):
        self.config(mb_policy_require_secure_boot=True, group='keylime')
        mock_command.return_value = base.ok(_log_reading())
        node = self.create_node()
        self.refused(node, 'says Secure Boot is disabled, and '
                           '[keylime]mb_policy_require_secure_boot')
        self.assertNotIn('mb_policy', self.swift.containers[CONTAINER])
        self.assertNotIn(PIN, node.driver_info)

    def test_tool_failure_fails_the_step(self, mock_command):
        self.write_tool('import sys\nprint("Error: bad event log")\n'
                        'sys.exit(2)\n')
        mock_command.return_value = base.ok(_log_reading())
        node = self.create_node()
        message = self.refused(node, 'could not be built')
        self.assertIn('Error: bad event log', message)
        self.assertIn('[keylime]policy_tool', message)
        self.assertNotIn('mb_policy', self.swift.containers[CONTAINER])

    def test_no_log_drops_the_previous_pin(self, mock_command):
        mock_command.return_value = base.ok(
            base.reading())
        node = self.enroll(self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256)))
        self.assertNotIn(PIN, node.driver_info)
        self.assertIsNone(self.tool_calls())
        event = self.history(node)[-1][1]
        self.assertIn('no UEFI event log (no UEFI event log at', event)
        self.assertIn('the previous measured-boot policy is no longer sent '
                      '(driver_info/%s removed)' % PIN, event)
        self.assertIn('no measured-boot policy recorded', event)

    def test_keylime_6x_records_the_pcr_policy_only(self, mock_command):
        self.set_6x()
        mock_command.return_value = base.ok(_log_reading())
        node = self.enroll(self.create_node())
        self.assertIn('keylime_tpm_policy', node.driver_info)
        self.assertNotIn(PIN, node.driver_info)
        self.assertNotIn('mb_policy', self.swift.containers[CONTAINER])
        self.assertIsNone(self.tool_calls())
        self.assertIn('no --mb-policy (Keylime before 7.12): only the PCR '
                      'policy applies', self.history(node)[-1][1])

    def test_conductor_files_write_nothing(self, mock_command):
        mock_command.return_value = base.ok(_log_reading())
        node = self.enroll(self.create_node(driver_info=self.driver_info()))
        self.assertIsNone(self.tool_calls())
        self.assertNotIn(PIN, node.driver_info)
        self.assertIn('the conductor does not write the measured-boot '
                      'policy', self.history(node)[-1][1])

    def test_log_not_matching_its_digest(self, mock_command):
        reading = _log_reading()
        reading['event_log_sha256'] = 'ab' * 32
        mock_command.return_value = base.ok(reading)
        self.refused(self.create_node(), 'does not match the size and '
                                         'SHA-256')
        self.assertIsNone(self.tool_calls())

    def test_log_larger_than_accepted_refused_before_decoding(
            self, mock_command):
        log = b'\0' * (4 * 1024 * 1024 + 3)
        mock_command.return_value = base.ok(_log_reading(log))
        self.refused(self.create_node(), 'larger than the 4194304 bytes '
                                         'accepted')
        self.assertIsNone(self.tool_calls())


class AttestTestCase(MbTestCase):

    def setUp(self):
        super().setUp()
        self.config(send_mb_policy=True, group='keylime')

    def argv(self):
        return self.fake.calls('add')[0]

    def sent(self, call):
        argv = call['argv']
        return argv[argv.index('--mb-policy') + 1]

    def refused(self, node, message, error_class=None):
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(
                error_class or kl_ironic_exception.AttestationFailure,
                self.iface.attest, task)
        self.assertIn(message, str(error))
        self.assertEqual([], self.fake.calls('add'))
        self.assertNothingLeft(node)
        return str(error)

    def test_pinned_swift_policy_sent(self):
        self.swift.put(CONTAINER, 'mb_policy', POLICY)
        self.attest(self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256.upper())))
        call = self.argv()
        path = self.sent(call)
        # A private copy, removed once the tenant is done.
        self.assertEqual(0o600, call['files'][path]['mode'])
        self.assertEqual(0o700, call['files'][path]['dir_mode'])
        self.assertEqual(POLICY.decode()[:200], call['files'][path]['head'])
        self.assertFalse(os.path.exists(path))
        self.assertEqual([], self.leftovers())

    def test_no_pin_sends_none(self):
        # An object nobody pinned is not used: the container is not
        # trusted.
        self.swift.put(CONTAINER, 'mb_policy', POLICY)
        self.attest(self.create_node(driver_info=self.swift_info()))
        self.assertNotIn('--mb-policy', self.argv()['argv'])

    def test_tampered_swift_object_refused(self):
        tampered = json.loads(POLICY)
        tampered['scrtm_and_bios'][0]['scrtm']['sha256'] = '0x' + 'ab' * 32
        self.swift.put(CONTAINER, 'mb_policy', json.dumps(tampered).encode())
        node = self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256))
        message = self.refused(node, 'does not match driver_info/%s' % PIN)
        self.assertIn('the pin is %s' % POLICY_SHA256, message)
        self.assertIn('enroll the node again', message)

    def test_missing_swift_object_refused(self):
        node = self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256))
        message = self.refused(node, 'has no object mb_policy')
        self.assertIn('enroll the node again', message)

    def test_pinned_object_that_is_no_policy_refused(self):
        self.swift.put(CONTAINER, 'mb_policy', b'{}')
        node = self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=hashlib.sha256(b'{}').hexdigest()))
        self.refused(node, 'is unusable')

    def test_policy_larger_than_the_option_refused(self):
        # Swift and conductor files alike: not read past the limit.
        self.config(max_mb_policy_size=1, group='keylime')
        big = POLICY + b' ' * 2048
        self.swift.put(CONTAINER, 'mb_policy', big)
        node = self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=hashlib.sha256(big).hexdigest()))
        message = self.refused(node, 'larger than 1 KiB '
                                     '([keylime]max_mb_policy_size)')
        self.assertIn('object mb_policy of container %s' % CONTAINER,
                      message)
        path = self.write('mb_policy.json', big)
        self.refused(self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path)), '[keylime]max_mb_policy_size')

    def test_keylime_6x_refused(self):
        self.set_6x()
        self.swift.put(CONTAINER, 'mb_policy', POLICY)
        node = self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256))
        self.refused(node, 'only its PCR policy applies')

    def test_conductor_file_sent_and_pinned(self):
        path = self.write('mb_policy.json', POLICY)
        self.attest(self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path)))
        call = self.argv()
        self.assertEqual(POLICY.decode()[:200],
                         call['files'][self.sent(call)]['head'])
        self.assertNotEqual(path, self.sent(call))

    def test_conductor_file_not_matching_its_pin_refused(self):
        path = self.write('mb_policy.json', POLICY)
        node = self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path, keylime_mb_policy_sha256='0' * 64))
        message = self.refused(node, 'does not match driver_info/%s' % PIN)
        self.assertIn('the conductor file %s' % path, message)

    def test_conductor_file_confined(self):
        node = self.create_node(driver_info=self.driver_info(
            keylime_mb_policy='/etc/passwd'))
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn('driver_info/keylime_mb_policy', str(error))
        self.assertIn('allowed_list_directories', str(error))
        self.refused(node, 'allowed_list_directories',
                     exception.InvalidParameterValue)

    def test_conductor_file_swapped_after_check_not_read(self):
        # The file is replaced by a link to a file outside the allowed
        # directories right after its path was checked (a wrapper
        # around the check makes the moment deterministic).
        path = self.write('mb_policy.json', POLICY)
        outside = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'other.json')
        with open(outside, 'wb') as f:
            f.write(b'{"outside": true}')
        checked = local.confine

        def confine(given, allowed_directories, field):
            resolved = checked(given, allowed_directories, field)
            if resolved == path and not os.path.islink(path):
                os.unlink(path)
                os.symlink(outside, path)
            return resolved

        self.useFixture(fixtures.MonkeyPatch(
            'ironic_keylime.lists.local.confine', confine))
        node = self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path))
        message = self.refused(node, 'cannot be read')
        self.assertIn('driver_info/keylime_mb_policy', message)

    def test_a_measured_boot_policy_counts_as_enrolled(self):
        self.config(require_boot_state=True, group='keylime')
        path = self.write('mb_policy.json', POLICY)
        self.attest(self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path)))
        self.assertIn('--mb-policy', self.argv()['argv'])
        self.assertNotIn('--tpm_policy', self.argv()['argv'])

    def test_not_sent_unless_configured(self):
        # Keylime's default measured-boot engine (accept-all) does not
        # compare the event log with the policy: without send_mb_policy
        # the PCR policy is what is sent, whole.
        self.config(send_mb_policy=False, group='keylime')
        self.swift.put(CONTAINER, 'mb_policy', POLICY)
        tpm_policy = {str(p): [base.ZERO] for p in range(8)}
        self.attest(self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256,
            keylime_tpm_policy=tpm_policy)))
        argv = self.argv()['argv']
        self.assertNotIn('--mb-policy', argv)
        self.assertEqual(tpm_policy, json.loads(
            argv[argv.index('--tpm_policy') + 1]))

    def test_not_sent_does_not_count_as_enrolled(self):
        self.config(send_mb_policy=False, require_boot_state=True,
                    group='keylime')
        path = self.write('mb_policy.json', POLICY)
        node = self.create_node(driver_info=self.driver_info(
            keylime_mb_policy=path))
        self.refused(node, 'no golden boot state')

    def test_tpm_policy_without_the_measured_boot_pcrs(self):
        # Keylime 7.14.3's tenant exits on a TPM policy naming PCRs 0-9
        # or 11-15 beside a measured-boot policy (seen on the real one):
        # those PCRs are checked through the event log then.
        self.swift.put(CONTAINER, 'mb_policy', POLICY)
        zero = base.ZERO
        self.attest(self.create_node(driver_info=self.swift_info(
            keylime_mb_policy_sha256=POLICY_SHA256,
            keylime_tpm_policy={'0': [zero], '7': [zero], '17': [zero]})))
        argv = self.argv()['argv']
        self.assertIn('--mb-policy', argv)
        self.assertEqual({'17': [zero]}, json.loads(
            argv[argv.index('--tpm_policy') + 1]))
        # Only boot PCRs: no --tpm_policy at all.
        self.assertIsNone(boot_state.beside_mb_policy(
            json.dumps({'0': [zero], '15': [zero]})))


class DriverInfoTestCase(MbTestCase):

    def invalid(self, info, message):
        node = self.create_node(driver_info=info)
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(exception.InvalidParameterValue,
                                      self.iface.validate, task)
        self.assertIn(message, str(error))

    def test_documented(self):
        props = self.iface.get_properties()
        self.assertIn('keylime-policy create measured-boot',
                      props['keylime_mb_policy'])
        self.assertIn('object mb_policy', props[PIN])

    def test_bad_pin(self):
        self.invalid(self.swift_info(keylime_mb_policy_sha256='abc'),
                     'driver_info/%s' % PIN)

    def test_file_with_a_container_refused(self):
        self.invalid(self.swift_info(keylime_mb_policy=self.allowlist),
                     'Remove driver_info/keylime_mb_policy')

    def test_pin_without_a_file_refused(self):
        self.invalid(self.driver_info(keylime_mb_policy_sha256='a' * 64),
                     'names no file')


class ExplainTestCase(base.KeylimeTestCase):

    def test_measured_boot_events(self):
        for event, what in (
                ('measured_boot.invalid_pcr_0',
                 'PCR 0 does not match the boot event log'),
                ('pcr_validation.unused_pcr_0',
                 'agent sent no UEFI event log'),
                ('measured_boot.policy_example',
                 'breaks the measured-boot policy'),
                ('measured_boot.parser.invalid_pcrs', 'could not parse')):
            text = boot_state.explain_failure(event)
            self.assertIn(what, text)
            self.assertIn('keylime_mb_policy_sha256 or keylime_mb_policy, '
                          'the measured-boot policy', text)
            if 'unused_pcr' in event:
                self.assertIn('its Keylime agent sent no UEFI event log',
                              text)
                self.assertIn('[keylime]send_mb_policy off', text)
            else:
                self.assertIn('enroll the node again', text)
        self.assertIn('driver_info/keylime_tpm_policy',
                      boot_state.explain_failure(
                          'pcr_validation.invalid_pcr_0'))
        self.assertIsNone(events.measured_boot_failure(
            'pcr_validation.invalid_pcr_0'))
