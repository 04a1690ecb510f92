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

"""The bases of the functional tests that use the harness's services.

A test of the real Keylime fails, not skips, when the harness does not
run (:class:`KeylimeHarnessMixin`): a missing harness must not pass
unnoticed. :class:`KeylimeDbTestCase` adds Ironic's test database, the
real tenant, and the check that a test leaves no agent on the verifier,
no file and no tenant process behind.


:class:`IronicTestCase` starts one real Ironic per test class
(:mod:`ironic_keylime.harness.ironic_env`) with the harness's lists.
"""

import json
import os
import shutil
import tempfile
import time
import uuid

import testtools
from testtools import content

from ironic.common import states
from ironic.conductor import task_manager
from ironic import objects

from ironic_keylime.drivers.modules.keylime import record as kl_record
from ironic_keylime.harness import ironic_env
from ironic_keylime.harness import keylime_env_file
from ironic_keylime.keylime_client import tenant as kl_tenant
from ironic_keylime.tests import base
from ironic_keylime.tests.functional import keylime_env
from ironic_keylime.tests.functional import swift_env

ATTEST_STEP = {'step': 'attest', 'interface': 'attestation',
               'priority': 90, 'argsinfo': None}
ENROLL_STEP = {'step': 'enroll_boot_state', 'interface': 'attestation',
               'priority': 0, 'argsinfo': None}


def remove_workdir(workdir, what):
    """Remove a test class's directory, unless IRONIC_KEYLIME_KEEP_IRONIC.

    :param what: whose directory, for the line that says where it is kept.
    """
    if os.environ.get('IRONIC_KEYLIME_KEEP_IRONIC'):
        print('%s kept in %s' % (what, workdir))
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def read_until(read, lines, timeout=30):
    """Read a log again until it holds each of ``lines``, or ``timeout`` s.

    A service writes the line a test looks for just after the change the
    test waited for (an agent gone from the verifier, a node saved).

    :param read: a function that returns the log's text.
    :returns: the last text read; the caller asserts the lines are in it.
    """
    deadline = time.monotonic() + timeout
    text = read()
    while (not all(line in text for line in lines)
           and time.monotonic() < deadline):
        time.sleep(1)
        text = read()
    return text


class KeylimeHarnessMixin(object):
    """Fail the test when the harness's Keylime (and Swift) do not run."""

    #: Whether the test needs the harness's Swift too.
    needs_swift = False

    def setUp(self):
        super().setUp()
        # Fail, not skip: a missing harness must not pass unnoticed.
        if self.needs_swift:
            if not (keylime_env.available() and swift_env.available()):
                self.fail('no harness Keylime or Swift (run '
                          'tools/functional.sh)')
        elif not keylime_env.available():
            self.fail('no harness Keylime (run tools/functional.sh)')

    def use_harness_agent(self):
        """The harness's agent 1 and services, as the tenant names them.

        Sets ``uuid`` and the :class:`~ironic_keylime.keylime_client.
        tenant.Endpoint` of the ``verifier``, ``registrar`` and ``agent``.
        """
        self.uuid = keylime_env.env('AGENT_UUID')
        self.verifier = kl_tenant.Endpoint(
            keylime_env.env('VERIFIER'),
            int(keylime_env.env('VERIFIER_PORT')))
        self.registrar = kl_tenant.Endpoint(
            keylime_env.env('REGISTRAR'),
            int(keylime_env.env('REGISTRAR_PORT')))
        self.agent = kl_tenant.Endpoint(
            keylime_env.env('AGENT_ADDRESS'),
            int(keylime_env.env('AGENT_PORT')))


class KeylimeDbTestCase(KeylimeHarnessMixin, base.DbTestCase):
    """Ironic's test database and the harness's real Keylime."""

    # These tests run the real keylime_tenant.
    block_execute = False

    def use_lists_dir(self):
        """A private allowed list directory, ``lists_dir``.

        ``[keylime]`` is set for the harness's tenant and that directory.
        """
        self.lists_dir = tempfile.mkdtemp(prefix='ik-lists-')
        self.addCleanup(self._remove_lists_dir)
        keylime_env.configure(self,
                              allowed_list_directories=[self.lists_dir])

    def _remove_lists_dir(self):
        for name in os.listdir(self.lists_dir):
            os.unlink(os.path.join(self.lists_dir, name))
        os.rmdir(self.lists_dir)

    def check_nothing_left(self):
        """No agent on the verifier, no file, no tenant process left."""
        self.assertEqual([], keylime_env.verifier_agents())
        self.assertEqual([], self.leftovers())
        self.assertEqual([], keylime_env.tenant_processes())

    def attest_until_verdict(self, node, timeout=40):
        """Attest as a deployment would; the node after the verdict.

        Uses the test's interface, ``self.iface``.
        """
        node.refresh()
        node.provision_state = states.DEPLOYING
        node.deploy_step = ATTEST_STEP
        node.clean_step = None
        node.last_error = None
        node.save()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertEqual(states.DEPLOYWAIT, self.iface.attest(task))
            task.node.provision_state = states.DEPLOYWAIT
            task.node.save()
        deadline = time.monotonic() + timeout
        while True:
            with task_manager.acquire(self.context, node.uuid,
                                      shared=True) as task:
                self.iface.check_attestation(task)
            node.refresh()
            if (node.provision_state != states.DEPLOYWAIT
                    or kl_record.STATE_KEY
                    not in node.driver_internal_info):
                return node
            self.assertLess(time.monotonic(), deadline, 'no verdict')
            time.sleep(1)

    def history_events(self, node):
        """The node's history events, oldest first."""
        return [h.event for h in
                objects.NodeHistory.list_by_node_id(self.context, node.id)]


# Keylime's verifier reports a tampered agent within a few quotes
# ([keylime]status_poll_interval is 2 s here).
TIMEOUT = 120


class IronicTestCase(testtools.TestCase):
    """One real Ironic per test class."""

    #: {section: {option: value}} for this class's Ironic.
    overrides = None
    #: How this class's Ironic runs (an IronicEnv or a subclass).
    ironic_env_class = ironic_env.IronicEnv

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keylime = ironic_env.keylime_env()
        cls.workdir = tempfile.mkdtemp(prefix='ik-ironic-')
        cls.ironic = cls.ironic_env_class(cls.workdir, cls.keylime,
                                          cls.overrides)
        cls.ironic.start()
        cls.lists = keylime_env_file.write_lists(
            os.path.join(cls.workdir, 'lists'), cls.keylime)

    @classmethod
    def tearDownClass(cls):
        cls.ironic.stop()
        remove_workdir(cls.workdir, 'Ironic of %s' % cls.__name__)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(self._attach_logs)

    def _attach_logs(self, exc_info):
        self.addDetail('ironic-log', content.text_content(
            self.ironic.log_tail(200)))

    def name(self, prefix):
        return '%s-%s' % (prefix, uuid.uuid4().hex[:8])

    def keylime_node(self, prefix='attested', **extra):
        info = dict(self.ironic.keylime_driver_info(self.lists), **extra)
        return self.ironic.create_node(self.name(prefix), info)

    def attestation(self, *args, client='openstack'):
        """``<client> baremetal node attestation ARGS -f json``, parsed."""
        command = ['baremetal', 'node', 'attestation'] + list(args)
        if client == 'openstack':
            result = self.ironic.openstack(*command, '-f', 'json')
        else:
            result = self.ironic.baremetal(*command[1:], '-f', 'json')
        return json.loads(result.stdout)

    def provide(self, node):
        return self.ironic.provision(node.id, 'provide', 'available',
                                     timeout=TIMEOUT)

    def deploy(self, node, expected='active', **kwargs):
        return self.ironic.provision(node.id, 'active', expected,
                                     timeout=TIMEOUT, **kwargs)

    def verdicts(self, node):
        return [(e['severity'], e['event'])
                for e in self.ironic.attestation_events(node.id)]

    def assertAllPassed(self, node, count):
        """The node has ``count`` verdicts, all PASS, and nothing left."""
        verdicts = self.verdicts(node)
        self.assertEqual(count, len(verdicts), verdicts)
        for severity, event in verdicts:
            self.assertEqual('INFO', severity)
            self.assertIn('Keylime attestation PASS', event)
        self.assertNotIn('keylime_attestation', node.driver_internal_info)
        self.assertVerifierHasNoAgent()

    def assertVerifierHasNoAgent(self):
        """The harness's agent is not on the verifier."""
        k = self.keylime
        # The tenant as the conductor runs it (same environment).
        tenant = kl_tenant.Tenant(k['KEYLIME_HARNESS_TENANT'],
                                  k['KEYLIME_HARNESS_TENANT_CONFIG'],
                                  k['KEYLIME_HARNESS_CERT_DIR'])
        result = tenant.run(['-c', 'cvlist',
                             '-v', k['KEYLIME_HARNESS_VERIFIER'],
                             '-vp', k['KEYLIME_HARNESS_VERIFIER_PORT']])
        self.assertIn('uuids', result.stdout, result.stdout[-2000:])
        self.assertNotIn(k['KEYLIME_HARNESS_AGENT_UUID'], result.stdout)
