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

"""The attestation interface in the stock Bare Metal command line.

Command hooks (:mod:`cliff.hooks`) for python-ironicclient's node commands,
in ``openstack baremetal ...`` (python-openstackclient) and in the
standalone ``baremetal ...`` shell. They run on the operator's machine,
next to the client: nothing here imports Ironic's server code.
"""
