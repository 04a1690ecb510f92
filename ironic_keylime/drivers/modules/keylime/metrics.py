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

"""The keylime interface's metrics, through Ironic's metrics backends.

Ironic's ``[metrics]`` options choose the backend (``noop``, ``statsd``,
or ``collector``, which ironic-prometheus-exporter reads); every name
starts with ``[metrics]global_prefix`` (and the host, when configured),
then ``ironic_keylime``:

* ``attestation.<operation>.started`` (counter): an ``attest`` step added
  an agent to the verifier;
* ``attestation.<operation>.{passed,failed,timed_out,errored}``
  (counters): a verdict acted on (:mod:`.last_attestation`);
* ``attestation.<operation>.time_to_verdict`` (timer, ms): from the start
  of the attempt to the verdict acted on;
* ``verifier.<call>`` (timers, ms): ``add``, ``read_status``,
  ``remove_agent``, ``request_removal``, ``removal_state``.

``<operation>`` is ``deploy``, ``clean`` or ``service``.
"""

import functools

from ironic.common import metrics_utils

PREFIX = 'ironic_keylime'
#: The counter of each verdict (see last_attestation.VERDICTS).
VERDICT_COUNTERS = {'PASS': 'passed', 'FAIL': 'failed',
                    'timeout': 'timed_out', 'error': 'errored'}


def _logger():
    # Made when used: the backend is read from the configuration then.
    return metrics_utils.get_metrics_logger(PREFIX)


def _count(logger, name):
    # As Ironic's own Counter: the caller names the metric in full.
    logger.send_counter(logger.get_metric_name(name), 1)


def started(operation):
    """Count an attestation started.

    :param operation: ``deploy``, ``clean`` or ``service``.
    """
    _count(_logger(), 'attestation.%s.started' % operation)


def verdict(operation, value, seconds=None):
    """Count a verdict acted on, and time it.

    :param operation: ``deploy``, ``clean`` or ``service``.
    :param value: one of :data:`VERDICT_COUNTERS`' keys.
    :param seconds: seconds since the attempt started, or None.
    """
    logger = _logger()
    _count(logger, 'attestation.%s.%s' % (operation,
                                          VERDICT_COUNTERS[value]))
    if seconds is not None:
        logger.send_timer(logger.get_metric_name(
            'attestation.%s.time_to_verdict' % operation),
            int(seconds * 1000))


def timed(call):
    """A decorator timing a call to the verifier as ``verifier.<call>``."""
    def decorator(func):
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            with _logger().timer('verifier.%s' % call):
                return func(*args, **kwargs)
        return wrapped
    return decorator


def timer(call):
    """A context manager timing a verifier call as ``verifier.<call>``."""
    return _logger().timer('verifier.%s' % call)
