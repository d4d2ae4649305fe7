# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""``[placement]``: how the reporter reaches Placement.

The same keystoneauth session, auth and adapter options, registered the
same way, as nova's ``[placement]`` group (``nova/conf/placement.py``), so
``--config-file /etc/nova/nova.conf`` reuses the credentials nova-compute
already has.  Alternatively ``[reporter] cloud`` names a clouds.yaml cloud.
"""

import copy

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

DEFAULT_SERVICE_TYPE = 'placement'
GROUP = 'placement'


def _group():
    return cfg.OptGroup(
        GROUP,
        title='Placement Service Options',
        help='How to connect to the Placement API: keystoneauth session, '
             'auth and adapter options, as in nova.conf. Ignored when '
             '[reporter] cloud is set.')


placement_group = _group()

# The API versions are the code's business, not the operator's (nova
# removes them too); the SDK still reads them, so they are registered as
# options that cannot be set, when a connection is made
# (register_version_placeholders).
_ADAPTER_VERSION_OPTS = ('version', 'min_version', 'max_version')


# keystoneauth's session has no timeout by default: a Placement (or a
# proxy) that accepts the connection and never answers would hold a sync,
# and the reporter, forever.  These options are registered only by the
# reporter and the commands, on a ConfigOpts of their own (the scheduler
# filter registers none of them inside nova), so ours may differ from
# nova's [placement] options in this default.
DEFAULT_TIMEOUT = 60
# The total time one request may take, however its bytes trickle in.
DEFAULT_DEADLINE = 90

DEADLINE_OPT = cfg.FloatOpt(
    'deadline',
    default=DEFAULT_DEADLINE,
    min=1,
    help='Seconds one Placement request of the reporter, drain and fleet '
         'may take in total, from sending it to the last byte of the '
         'answer. [placement] timeout bounds each read from the socket '
         'only, so a Placement or proxy that answers slowly, a byte at a '
         'time, would otherwise hold a request far longer. A request past '
         'its deadline fails like an unreachable Placement (the reporter '
         'retries later; drain and fleet exit with status 2).')


def _session_opts():
    opts = ks_loading.get_session_conf_options()
    cfg.set_defaults(opts, timeout=DEFAULT_TIMEOUT)
    return opts


def _adapter_opts():
    opts = [opt for opt in ks_loading.get_adapter_conf_options(
            include_deprecated=False)
            if opt.dest not in _ADAPTER_VERSION_OPTS]
    cfg.set_defaults(opts, valid_interfaces=['internal', 'public'],
                     service_type=DEFAULT_SERVICE_TYPE)
    return opts


def _unsettable(name):
    return cfg.Opt(name, type=lambda value: None,
                   help='Not settable: chosen by the code.')


def register_opts(conf):
    # A group object of its own per ConfigOpts: oslo.config copies groups
    # shallowly, and keystoneauth registers the auth plugin's options at
    # run time, which must not leak into other ConfigOpts.
    conf.register_group(_group())
    conf.register_opts(_session_opts(), group=GROUP)
    conf.register_opts(ks_loading.get_auth_common_conf_options(),
                       group=GROUP)
    conf.register_opts(_adapter_opts(), group=GROUP)
    conf.register_opt(DEADLINE_OPT, group=GROUP)


def register_version_placeholders(conf):
    """Register the version options the SDK reads, unless already there.

    Each placeholder's type is a new function, so registering one twice
    would be refused as a different option.
    """
    for name in _ADAPTER_VERSION_OPTS:
        try:
            getattr(conf[GROUP], name)
        except cfg.NoSuchOptError:
            conf.register_opt(_unsettable(name), group=GROUP)


def _documented(opt):
    # keystoneauth's own help texts can be a bare noun ("Authentication
    # URL"); say in the sample where the option comes from.
    opt = copy.copy(opt)
    opt.help = '%s (keystoneauth1 option, as in nova.conf [placement])' % (
        (opt.help or opt.dest).rstrip('.'))
    return opt


def list_opts():
    # As nova's list_opts: the auth plugin options are loaded at run time,
    # so the sample shows those of the usual password plugins.
    opts = (_session_opts() +
            ks_loading.get_auth_common_conf_options() +
            ks_loading.get_auth_plugin_conf_options('password') +
            ks_loading.get_auth_plugin_conf_options('v2password') +
            ks_loading.get_auth_plugin_conf_options('v3password') +
            _adapter_opts())
    return {placement_group: [DEADLINE_OPT] +
            [_documented(opt) for opt in opts]}
