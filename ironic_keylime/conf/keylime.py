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

"""Options of the ``keylime`` attestation interface: the tenant, the steps
and the failure policy."""

from oslo_config import cfg
from oslo_config import types

from ironic_keylime.common.i18n import _

GROUP = cfg.OptGroup(
    'keylime',
    title=_('Keylime attestation options'),
    help=_('Options of the keylime attestation interface of ironic-keylime.'))

tenant_opts = [
    cfg.StrOpt('tenant_path',
               default='keylime_tenant',
               help=_('Path of the keylime_tenant executable (Keylime 6.2 '
                      'or newer). A bare name is looked up in the PATH of '
                      'the conductor.')),
    cfg.StrOpt('tenant_config',
               default='',
               help=_('Path of the tenant.conf given to keylime_tenant '
                      '(through KEYLIME_TENANT_CONFIG). Empty: the '
                      'tenant\'s own default (/etc/keylime/tenant.conf).')),
    cfg.StrOpt('tenant_cert_dir',
               default='',
               help=_('Directory holding the copy of the verifier\'s '
                      'cv_ca (cacert.crt, client-cert.crt and '
                      'client-private.pem) that keylime_tenant uses for '
                      'mutual TLS with the verifier and the registrar. '
                      'Given to the tenant as its tls_dir (through '
                      'KEYLIME_TENANT_TLS_DIR). Empty: the tenant\'s own '
                      'setting (by default /var/lib/keylime/cv_ca).')),
    cfg.StrOpt('verifier_api',
               default='tenant',
               choices=[('tenant', _('keylime_tenant -c add, -c status and '
                                     '-c delete (a Python process each, '
                                     'about one CPU second).')),
                        ('rest', _('The verifier\'s REST API over mutual '
                                   'TLS with the tenant\'s certificates, on '
                                   'a kept connection per verifier; no '
                                   'keylime_tenant process at all. Adding '
                                   'agents this way needs a verifier of '
                                   'API 2.6 or newer (Keylime 7.14 and '
                                   'newer) and a runtime policy '
                                   '(policy_format auto or '
                                   'runtime-policy).'))],
               help=_('How the conductor adds agents to the verifier, reads '
                      'verdicts and removes agents. Both give the same '
                      'verdicts and errors; "rest" costs far less CPU and '
                      'is recommended from a few nodes per conductor up. '
                      'With "rest" the agent is added with the attestation '
                      'key and mTLS certificate of the same registrar read '
                      'whose endorsement key was checked (ek_binding); the '
                      'tenant\'s identity quote and payload key are left '
                      'out (see the threat model). An older verifier is '
                      'refused with a message; use "tenant" for it.')),
    cfg.IntOpt('command_timeout',
               default=60,
               min=1,
               help=_('Seconds one keylime_tenant command may run. A '
                      'tenant that runs longer is killed, with every '
                      'process it started, and the attestation fails.')),
    cfg.StrOpt('policy_format',
               default='auto',
               choices=[('auto', _('a runtime policy when the tenant '
                                   'supports --runtime-policy (Keylime '
                                   '6.6 and newer), else the legacy '
                                   'lists')),
                        ('runtime-policy', _('always a runtime policy '
                                             'built from the lists')),
                        ('legacy', _('always --allowlist and --exclude'))],
               help=_('How the allowlist and the excludelist are given to '
                      'keylime_tenant add.')),
]

list_check_opts = [
    cfg.BoolOpt('require_allowlist_checksum',
                default=True,
                help=_('Refuse to attest a node when its allowlist has no '
                       'checksum. The checksum is a SHA-256 hex digest, '
                       'bare or in sha256sum format. Only disable this '
                       'where the allowlist comes from a trusted source '
                       'by other means.')),
    cfg.BoolOpt('require_excludelist_checksum',
                default=True,
                help=_('Refuse to attest a node whose excludelist has no '
                       'checksum (the excludelist_checksum object of its '
                       'container, or driver_info/'
                       'keylime_excludelist_checksum) and no '
                       'driver_info/keylime_excludelist_sha256. Applies '
                       'only when an excludelist is given. The checksum '
                       'is checked before any keylime_tenant call.')),
    cfg.BoolOpt('fix_boot_aggregate',
                default=True,
                help=_('Rewrite an all-zero boot_aggregate entry of the '
                       'allowlist whose length does not match '
                       '[keylime]ima_hash_algorithm with zeros of the '
                       'right length (Keylime issue 702). Applied after '
                       'the checksum was verified on the original list.')),
    cfg.StrOpt('ima_hash_algorithm',
               default='sha256',
               choices=['sha1', 'sha256', 'sha384', 'sha512'],
               help=_('Hash algorithm of the IMA measurements of the '
                      'nodes; sets the length of the boot_aggregate '
                      'entry when [keylime]fix_boot_aggregate is on.')),
    cfg.ListOpt('allowed_list_directories',
                default=[],
                help=_('Directories of the conductor from which '
                       'driver_info/keylime_allowlist, '
                       'keylime_allowlist_checksum and keylime_excludelist '
                       'may be read (symbolic links are resolved first; '
                       'what is opened must be a regular file inside them). '
                       'Empty: lists from conductor files are refused and '
                       'only keylime_container (Swift) can be used.')),
]

agent_opts = [
    cfg.PortOpt('agent_port',
                default=9002,
                help=_('Port of the Keylime agent on the node, used when '
                       'neither driver_info/keylime_agent_port nor the '
                       'ramdisk reported one.')),
    cfg.StrOpt('agent_uuid_mode',
               default='node',
               choices=[('node', _('The agent of a node is attested under '
                                   'driver_info/keylime_agent_uuid, else '
                                   'the node\'s UUID: the conductor asks '
                                   'the ramdisk to use it and refuses an '
                                   'agent that reports another UUID.')),
                        ('image', _('The ramdisk image fixes the agent\'s '
                                    'UUID and the conductor accepts the one '
                                    'it reports. The ramdisk then chooses '
                                    'which registered TPM is attested, so '
                                    'this mode needs [keylime]ek_binding '
                                    'to bind each node to its TPM.'))],
               help=_('Who decides the UUID under which a node\'s Keylime '
                      'agent is attested. The node\'s ramdisk is not '
                      'trusted to choose it: keep "node" unless the '
                      'ramdisk is built with a fixed UUID.')),
]

step_opts = [
    cfg.IntOpt('deploy_step_priority',
               default=90,
               min=0,
               help=_('Priority of the attest deploy step. The default, '
                      '90, runs it after the deploy step has booted the '
                      'ramdisk (100) and before write_image (80). 0 '
                      'disables the step unless it is asked for '
                      'explicitly (deploy templates, --deploy-steps).')),
    cfg.IntOpt('clean_step_priority',
               default=95,
               min=0,
               help=_('Priority of the attest clean step in automated '
                      'cleaning. The default, 95, runs it early, before '
                      'erase_devices_metadata (99 is higher and comes '
                      'first; 95 comes before the disk and firmware '
                      'steps of lower priority). 0 makes it a manual '
                      'clean step only.')),
    cfg.IntOpt('status_poll_interval',
               default=2,
               min=1,
               help=_('Seconds between two rounds of the verdict check of '
                      'the nodes being attested (a conductor periodic '
                      'task; read when the conductor starts). Rounds never '
                      'overlap and run at most max_concurrent_checks reads '
                      'at a time, so a round with many waiting nodes '
                      'takes longer instead of overloading the conductor. '
                      'With verifier_api = tenant, each read is a '
                      'keylime_tenant process costing about one CPU '
                      'second per waiting node and round; verifier_api = '
                      'rest (one request per verifier and round) is '
                      'recommended from a few nodes up.')),
    cfg.IntOpt('leftover_sweep_interval',
               default=300,
               min=1,
               help=_('Seconds between two sweeps for leftovers: agents of '
                      'attestations abandoned in a state other than a '
                      'failure state, and agent removals this conductor '
                      'did not start (after a restart or a change of the '
                      'hash ring). Each sweep reads driver_internal_info '
                      'of every unreserved node of this conductor, so it '
                      'runs far less often than the verdict rounds '
                      '(status_poll_interval), which only read the nodes '
                      'that can need them: nodes waiting for a verdict, '
                      'nodes in a failure state, and removals this '
                      'conductor started. Read when the conductor '
                      'starts.')),
    cfg.IntOpt('max_concurrent_checks',
               default=8,
               min=1,
               help=_('How many verdict reads, agent removals and actions '
                      'on verdicts the conductor runs at the same time, in '
                      'a pool of threads of its own (read when the pool '
                      'is first used). Nodes of a slow or unreachable '
                      'verifier hold at most this many threads; other '
                      'nodes wait for a free one, never for that '
                      'verifier.')),
    cfg.IntOpt('attestation_timeout',
               default=300,
               min=1,
               help=_('Seconds after keylime_tenant add within which the '
                      'verifier must give a verdict. When they have '
                      'passed without one, the attestation fails.')),
    cfg.BoolOpt('fail_deploy_on_attestation_failure',
                default=True,
                help=_('Fail the deployment when the verifier says FAIL. '
                       'When False, the verdict is recorded in the node '
                       'history and the deployment goes on. Errors (no '
                       'verdict at all) always fail it.')),
    cfg.BoolOpt('fail_clean_on_attestation_failure',
                default=True,
                help=_('Fail the cleaning when the verifier says FAIL. '
                       'When False, the verdict is recorded in the node '
                       'history and the cleaning goes on. Errors (no '
                       'verdict at all) always fail it.')),
    cfg.BoolOpt('fail_service_on_attestation_failure',
                default=True,
                help=_('Fail the servicing when the verifier says FAIL. '
                       'When False, the verdict is recorded in the node '
                       'history and the servicing goes on. Errors (no '
                       'verdict at all) always fail it.')),
    cfg.ListOpt('boot_state_pcrs',
                item_type=types.Integer(min=0, max=23),
                default=[0, 1, 2, 3, 4, 5, 6, 7],
                help=_('PCRs of the SHA-256 bank that the enroll_boot_state '
                       'clean step records as the node\'s golden boot '
                       'state (driver_info/keylime_tpm_policy). The '
                       'default, 0 to 7, covers the firmware, its '
                       'configuration, option ROMs, the boot loader and '
                       'Secure Boot. PCR 10 (IMA) and PCR 16 (Keylime\'s '
                       'data binding) are refused: Keylime checks them '
                       'itself.')),
    cfg.BoolOpt('require_boot_state',
                default=False,
                help=_('Refuse to attest a node that has no golden boot '
                       'state (driver_info/keylime_tpm_policy). When '
                       'False, such a node is attested on its IMA '
                       'measurements alone and its firmware and boot '
                       'chain are not checked. True is recommended once '
                       'every node was enrolled with the enroll_boot_state '
                       'clean step. With [keylime]send_mb_policy, a node '
                       'with a measured-boot policy '
                       '(driver_info/keylime_mb_policy_sha256 or '
                       'keylime_mb_policy) counts as enrolled.')),
    cfg.StrOpt('policy_tool',
               default='keylime-policy',
               help=_('Path of Keylime\'s keylime-policy executable '
                      '(Keylime 7.12 or newer), with which the '
                      'enroll_boot_state clean step builds a node\'s '
                      'measured-boot policy from the UEFI event log its '
                      'ramdisk returns (keylime-policy create '
                      'measured-boot). A bare name is looked up in the '
                      'PATH of the conductor. It runs with '
                      '[keylime]command_timeout.')),
    cfg.BoolOpt('golden_boot_events',
                default=False,
                help=_('Hold the golden boot state of UEFI nodes as UEFI '
                       'events rather than PCR values. The '
                       'enroll_boot_state clean step records the events '
                       'of PCRs 0-9 of the enrollment boot\'s UEFI event '
                       'log (driver_info/keylime_golden_boot_events) and '
                       'every attestation sends them as the node\'s '
                       'measured-boot policy, with the kernel parameters '
                       'Ironic changes at every boot (request id, agent '
                       'token, BOOTIF) allowed to differ; the boot entries '
                       'a deploy writes (PCR 1) are left out. The '
                       'verifier must run ironic-keylime\'s engine: '
                       '[verifier]measured_boot_imports = '
                       '[\'ironic_keylime.verifier_engine.policy\'] and '
                       'measured_boot_policy_name = ironic-keylime. '
                       'Without it, on UEFI, the kernel command line Ironic '
                       'renders anew at every boot changes PCRs 8 and 9 '
                       'and the IMA boot_aggregate, and an enrolled node '
                       'fails its next boot. Nodes without a UEFI event '
                       'log cannot be enrolled with it.')),
    cfg.BoolOpt('send_mb_policy',
                default=False,
                help=_('Send the node\'s measured-boot policy '
                       '(keylime_tenant --mb-policy) with every '
                       'attestation, in place of the PCR policy\'s PCRs '
                       '0-9 and 11-15. Keylime checks these PCRs one way '
                       'or the other, never both (its tenant refuses a '
                       'TPM policy naming them with a measured-boot '
                       'policy): with the measured-boot policy the '
                       'verifier replays the node\'s UEFI event log '
                       'against the quoted PCRs and judges the log with '
                       'its [verifier]measured_boot_policy_name engine, '
                       'whose default, accept-all, does not compare the '
                       'log with the policy at all. Turn this on only '
                       'with verifiers whose engine checks the policy '
                       '(example). When False, the measured-boot policy '
                       'is still recorded at enrollment, and the PCR '
                       'policy is sent.')),
    cfg.BoolOpt('mb_policy_require_secure_boot',
                default=False,
                help=_('Refuse to enroll a node whose UEFI event log says '
                       'Secure Boot is disabled: the enroll_boot_state '
                       'step then fails instead of recording a '
                       'measured-boot policy built with keylime-policy\'s '
                       '--without-secureboot. When False (the default), '
                       'the policy records whether Secure Boot was on in '
                       'the enrolled boot, and the node history says '
                       'which.')),
    cfg.BoolOpt('allow_user_step_override',
                default=False,
                help=_('Allow the deploy steps of a request, or the deploy '
                       'templates of the instance traits, to disable '
                       '(priority 0) the attest deploy step of a node '
                       'whose attestation interface is keylime. When '
                       'False (the default), such a deployment or rebuild '
                       'is refused with HTTP 400: whoever may deploy a '
                       'node (its lessee) cannot skip its attestation.')),
]

binding_opts = [
    cfg.StrOpt('ek_binding',
               default='trust_on_first_use',
               choices=[('off', _('do not compare the TPM of a node with '
                                  'a recorded one')),
                        ('trust_on_first_use',
                         _('record the fingerprint of the endorsement key '
                           '(EK) the registrar holds for the node\'s agent '
                           'at the first attestation that passes, and '
                           'compare with it from then on')),
                        ('required',
                         _('refuse to attest a node whose driver_info has '
                           'no keylime_ek_sha256, and compare with it'))],
               help=_('Binding of each node to its TPM. Before a node\'s '
                      'agent is added to the verifier, the SHA-256 '
                      'fingerprint of the EK public key the Keylime '
                      'registrar holds for the agent is compared with '
                      'driver_info/keylime_ek_sha256; a difference fails '
                      'the attestation ("the TPM of this node changed"). '
                      'Only "off" lets another TPM answer for a node. '
                      'Clear or set driver_info/keylime_ek_sha256 by hand '
                      'when a node\'s TPM or mainboard was replaced. '
                      'Unless "off", keylime_tenant checks the EK of its '
                      'own registrar read against the same fingerprint '
                      '(see ek_check_script), so that Keylime attests '
                      'with the TPM that was checked.')),
    cfg.StrOpt('ek_check_script',
               default='',
               help=_('Absolute path of the ironic-keylime-ek-check '
                      'command, which keylime_tenant runs as its '
                      'ek_check_script on the EK it reads from the '
                      'registrar when it adds a node\'s agent: the add '
                      'fails unless that EK has the fingerprint the '
                      'conductor checked (a registrar record swapped '
                      'between the two reads is refused). Empty: the '
                      'command installed with ironic-keylime in the '
                      'scripts directory of the conductor\'s Python. Not '
                      'used when ek_binding is "off".')),
]

# The defaults are measured: see the comments next to the numbers in
# ironic_keylime/lists/formats.py, lists/mb_store.py and
# keylime_client/limits.py.
limit_opts = [
    cfg.IntOpt('max_allowlist_size',
               default=64,
               min=1,
               help=_('Largest allowlist, in MiB, the conductor reads for '
                      'a node (from a conductor file, Swift or the list '
                      'cache). A larger one fails the attestation before '
                      'anything is sent to Keylime, and is not read '
                      'beyond the limit. An image of 34,000 files has an '
                      'allowlist of about 4 MiB; a Keylime verifier takes '
                      'requests of at most 100 MB by default (its '
                      'max_upload_size), which a runtime policy built from '
                      'more than about 70 MiB of allowlist exceeds.')),
    cfg.IntOpt('max_excludelist_size',
               default=64,
               min=1,
               help=_('Largest excludelist, in KiB, the conductor reads '
                      'for a node. Excludelists have a few lines (the '
                      'ramdisk element writes 3); Keylime matches every '
                      'line against every measurement.')),
    cfg.IntOpt('max_mb_policy_size',
               default=4096,
               min=1,
               help=_('Largest measured-boot policy, in KiB, the conductor '
                      'reads for a node (the object mb_policy of its '
                      'container or driver_info/keylime_mb_policy). '
                      'keylime-policy writes a few KiB; Secure Boot keys '
                      'and dbx entries some hundreds.')),
    cfg.IntOpt('max_tenant_output_size',
               default=1024,
               min=64,
               help=_('Largest output, in KiB, read from one run of '
                      'keylime_tenant or keylime-policy (standard output '
                      'and error together). A command that prints more is '
                      'killed with its process group and the attestation '
                      'fails: Keylime 7.14\'s tenant prints what the '
                      'node\'s agent answers, which a tampered ramdisk '
                      'controls. Its usual output is 2 to 15 KiB.')),
    cfg.IntOpt('max_verifier_answer_size',
               default=64,
               min=1,
               help=_('Largest answer, in MiB, read from the Keylime '
                      'verifier\'s REST API ([keylime]verifier_api = '
                      'rest). A larger answer is not read further and the '
                      'request fails. An agent\'s record is about 1.2 KiB; '
                      'the bulk read of every agent of a verifier grows '
                      'with its agents.')),
    cfg.IntOpt('max_ramdisk_answer_size',
               default=8192,
               min=64,
               help=_('Largest answer, in KiB, read from the ramdisk\'s '
                      'keylime extension (agent identity, boot state '
                      'reading with the UEFI event log). A larger answer '
                      'is not read further and the step fails. A UEFI '
                      'event log is a few to a few hundred KiB (5.4 KiB '
                      'under OVMF), sent base64-encoded; the conductor '
                      'refuses event logs of more than 4 MiB.')),
]

ALL_OPTS = (tenant_opts + list_check_opts + agent_opts + step_opts
            + binding_opts + limit_opts)


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(ALL_OPTS, group=GROUP)
