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

"""The base of the keylime interface's unit tests, and their data.

A node with the admin workflow's lists and a replaying tenant
(:class:`KeylimeTestCase`), the steps the conductor runs, what the
ramdisk's ``keylime`` extension answers (:func:`reading`, :func:`ok`)
and the part of the conductor manager the periodic tasks use
(:class:`Manager`).
"""

import base64
import hashlib
import threading

import fixtures
from ironic.common import states
from ironic.conductor import task_manager
from ironic.db import api as dbapi
from ironic import objects
from ironic.tests.unit.objects import utils as obj_utils
from oslo_utils import uuidutils

from ironic_keylime.common import exception as kl_ironic_exception
from ironic_keylime.drivers.modules.keylime import attestation
from ironic_keylime.drivers.modules.keylime import checks
from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.drivers.modules.keylime import removal
from ironic_keylime.tests import base
from ironic_keylime.tests.unit import tenant_fixture
from ironic_keylime.tests import utils

AGENT_UUID = 'a1b2c3d4-0000-4000-8000-000000000001'
ALLOWLIST = ('%s  boot_aggregate\n%s  /usr/bin/bash\n'
             % ('0' * 40, 'a' * 64)).encode()
DEPLOY_STEP = {'step': 'attest', 'interface': 'attestation',
               'priority': 90, 'argsinfo': None}
CLEAN_STEP = {'step': 'attest', 'interface': 'attestation',
              'priority': 95, 'argsinfo': None}
ENROLL_STEP = {'step': 'enroll_boot_state', 'interface': 'attestation',
               'priority': 0, 'argsinfo': None}
ZERO = '0' * 64
#: A control character (C0, DEL or C1) in a message or a log.
CONTROL = '[\x00-\x1f\x7f-\x9f]'


_DB_LOCK = threading.Lock()


def _one_at_a_time(func):
    def serialized(*args, **kwargs):
        with _DB_LOCK:
            return func(*args, **kwargs)
    return serialized


class KeylimeTestCase(base.DbTestCase):
    """A node with the admin workflow's lists and a replaying tenant."""

    block_execute = False

    def setUp(self):
        super().setUp()
        self.fake = self.useFixture(
            tenant_fixture.FakeTenant(tenant_fixture.plan()))
        self.lists_dir = self.useFixture(fixtures.TempDir()).path
        self.allowlist = self.write('allowlist', ALLOWLIST)
        self.checksum = self.write(
            'allowlist.sha256', b'%s  allowlist\n'
            % hashlib.sha256(ALLOWLIST).hexdigest().encode())
        self.excludelist = self.write('excludelist', b'/tmp/.*\n')
        # The binding of nodes to their TPMs reads the registrar; its own
        # flow tests (test_attestation_security.TPMBindingFlowTestCase)
        # run a registrar. Here none runs, so it is off.
        self.config(ek_binding='off', group='keylime')
        self.excludelist_checksum = self.write(
            'excludelist.sha256', b'%s  excludelist\n'
            % hashlib.sha256(b'/tmp/.*\n').hexdigest().encode())
        self.config(tenant_path=self.fake.path,
                    tenant_cert_dir='/etc/ironic/keylime/cv_ca',
                    allowed_list_directories=[self.lists_dir],
                    command_timeout=20,
                    group='keylime')
        self.iface = attestation.KeylimeAttestation()
        self.addCleanup(self._stop_check_pool)
        # DbTestCase's database is SQLite in memory: one connection that
        # all threads share, which cannot hold two transactions at once.
        # A conductor's database (and the functional tests' Ironic) can;
        # here the periodic tasks' jobs that use the database run one at
        # a time, while their reads of the verifier stay concurrent.
        self.useFixture(fixtures.MockPatchObject(
            checks.Round, 'act', _one_at_a_time(checks.Round.act)))
        self.useFixture(fixtures.MockPatchObject(
            removal, 'confirm', _one_at_a_time(removal.confirm)))

    def _stop_check_pool(self):
        pool = getattr(self.iface, '_check_pool', None)
        if pool is not None:
            pool.shutdown()

    def write(self, name, content):
        return utils.write_file(self.lists_dir, name, content)

    def driver_info(self, **extra):
        info = utils.get_test_keylime_info(
            keylime_container=None,
            keylime_allowlist=self.allowlist,
            keylime_allowlist_checksum=self.checksum,
            keylime_excludelist=self.excludelist,
            keylime_excludelist_checksum=self.excludelist_checksum,
            keylime_agent_uuid=AGENT_UUID,
            keylime_agent_address='127.0.0.1')
        info.update(extra)
        return info

    def create_node(self, operation='deploy', **kwargs):
        if operation == 'deploy':
            kwargs.setdefault('provision_state', states.DEPLOYING)
            kwargs.setdefault('deploy_step', DEPLOY_STEP)
        else:
            kwargs.setdefault('provision_state', states.CLEANING)
            kwargs.setdefault('clean_step', CLEAN_STEP)
        kwargs.setdefault('driver_info', self.driver_info())
        kwargs.setdefault('uuid', uuidutils.generate_uuid())
        return obj_utils.create_test_node(self.context,
                                          driver='fake-hardware', **kwargs)

    def attest(self, node):
        """Run the step as the conductor does, up to its wait state."""
        with task_manager.acquire(self.context, node.uuid) as task:
            result = self.iface.attest(task)
            task.process_event('wait')
        return result

    def attest_that_cannot_start(self):
        """A deploy node whose attest step fails: the verifier is down.

        :returns: the node, refreshed after the step raised.
        """
        self.fake.set_commands(tenant_fixture.plan(
            add=[{'fixture': 'tenant-add-verifier-down'}]))
        node = self.create_node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertRaises(kl_ironic_exception.AttestationFailure,
                              self.iface.attest, task)
        node.refresh()
        return node

    def check(self, node):
        with task_manager.acquire(self.context, node.uuid,
                                  shared=True) as task:
            self.iface.check_attestation(task)
        node.refresh()
        return node

    def remove_abandoned(self, node):
        """The abandoned-attestation task's work on one node."""
        with task_manager.acquire(self.context, node.uuid,
                                  shared=True) as task:
            self.iface.remove_abandoned_attestation(task)
        node.refresh()
        return node

    def history(self, node):
        return [(h.severity, h.event) for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]

    def assertNothingLeft(self, node):
        node.refresh()
        self.assertNotIn(kl_record.STATE_KEY, node.driver_internal_info)
        self.assertEqual([], self.leftovers())


class EnrollStepMixin(object):
    """A node in the manual clean step enroll_boot_state, its ramdisk up.

    Mixed into a :class:`KeylimeTestCase`; the ramdisk's answers are the
    test's (no ramdisk runs in a unit test).
    """

    def create_node(self, **kwargs):
        kwargs.setdefault('provision_state', states.CLEANING)
        kwargs.setdefault('clean_step', ENROLL_STEP)
        kwargs.setdefault('driver_internal_info',
                          {'agent_url': 'http://10.0.0.9:9999'})
        return super().create_node('clean', **kwargs)

    def enroll(self, node):
        """Run the step; returns the node, refreshed."""
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertIsNone(self.iface.enroll_boot_state(task))
        node.refresh()
        return node

    def refused_enrollment(self, node, message):
        """Run the step, which must fail saying ``message``.

        :returns: the error's text; the node is refreshed.
        """
        with task_manager.acquire(self.context, node.uuid) as task:
            error = self.assertRaises(kl_ironic_exception.AttestationFailure,
                                      self.iface.enroll_boot_state, task)
        self.assertIn(message, str(error))
        node.refresh()
        return str(error)


def reading(pcrs=None, **extra):
    values = {str(p): ZERO for p in range(8)}
    values.update(pcrs or {})
    result = {'bank': 'sha256', 'pcrs': values, 'event_log': None,
              'event_log_size': None, 'event_log_sha256': None,
              'event_log_note': 'no UEFI event log at /sys/kernel/security/'
                                'tpm0/binary_bios_measurements'}
    result.update(extra)
    return result


def ok(result):
    return {'command_status': 'SUCCEEDED', 'command_error': None,
            'command_result': result}


class Manager(object):
    """The part of the conductor manager that node_periodic uses.

    The real one also maps nodes to conductors by the hash ring, which
    needs a running conductor; this one returns every node of the
    database, as a single conductor would own them all.
    """

    def iter_nodes(self, fields=None, filters=None):
        columns = ['uuid', 'driver', 'conductor_group'] + list(fields or ())
        return iter(dbapi.get_instance().get_nodeinfo_list(
            columns=columns, filters=filters))


def log_reading(log, kernel_cmdline=None):
    """A boot state reading carrying the UEFI event log ``log`` (bytes).

    :param kernel_cmdline: the ``/proc/cmdline`` the ramdisk reports.
    """
    return reading(event_log=base64.b64encode(log).decode(),
                   event_log_size=len(log),
                   event_log_sha256=hashlib.sha256(log).hexdigest(),
                   event_log_note=None, kernel_cmdline=kernel_cmdline)
