# shellcheck shell=bash
# DevStack plugin of nova-vfio-compat: sourced by stack.sh, unstack.sh and
# clean.sh as "plugin.sh <mode> [phase]".
#
# stack install      install the package into Nova's Python environment
#                    under the upper-constraints (setup_develop applies
#                    them; nova-api loads the flavor extra spec validators
#                    and nova-scheduler the filter from it)
# stack post-config  add VFIOCompatFilter to nova.conf [filter_scheduler];
#                    write [pci] and [devices] from the plugin's variables;
#                    write the reporter's configuration file
# stack extra        add the filter again if local.conf's post-config
#                    merge (which runs after our post-config phase) dropped
#                    it, and restart nova-scheduler; start
#                    nova-vfio-compat-reporter on compute hosts
# stack test-config  fail if the filter is not enabled by then
# unstack            stop the reporter
# clean              remove the reporter's configuration and the filter

# Save trace setting
_XTRACE_NOVA_VFIO_COMPAT=$(set +o | grep xtrace)
set +o xtrace

NOVA_VFIO_COMPAT_SERVICE=nova-vfio-compat-reporter
NOVA_VFIO_COMPAT_FILTER_NAME=VFIOCompatFilter
NOVA_VFIO_COMPAT_FILTER_CLASS=nova_vfio_compat.scheduler.VFIOCompatFilter
# Nova's own default of [filter_scheduler] available_filters: setting the
# option replaces the default, so it is written out next to our class.
NOVA_VFIO_COMPAT_NOVA_FILTERS=nova.scheduler.filters.all_filters

# nova_vfio_compat_bin_dir - where the package's console scripts are: the
# Python environment Nova runs from.
function nova_vfio_compat_bin_dir {
    if [[ "${USE_VENV:-False}" == "True" && -n "${PROJECT_VENV[nova]:-}" ]]; then
        echo "${PROJECT_VENV[nova]}/bin"
    else
        get_python_exec_prefix
    fi
}

# install_nova_vfio_compat - install the package where Nova's services can
# import it: the filter class and the nova.api.extra_spec_validators entry
# point must be in nova-scheduler's and nova-api's Python environment.
function install_nova_vfio_compat {
    if [[ "${USE_VENV:-False}" == "True" && -n "${PROJECT_VENV[nova]:-}" ]]; then
        PIP_VIRTUAL_ENV=${PROJECT_VENV[nova]} setup_develop "$NOVA_VFIO_COMPAT_DIR"
    else
        setup_develop "$NOVA_VFIO_COMPAT_DIR"
    fi
}

# _nova_vfio_compat_has_filter "<comma separated list>" - is our filter's
# name an element of the list (not merely a substring of one)?
function _nova_vfio_compat_has_filter {
    local names
    local name
    IFS=, read -r -a names <<< "$1"
    for name in "${names[@]}"; do
        if [[ "${name//[[:space:]]/}" == "$NOVA_VFIO_COMPAT_FILTER_NAME" ]]; then
            return 0
        fi
    done
    return 1
}

function _nova_vfio_compat_filter_wanted {
    [[ "$(trueorfalse True NOVA_VFIO_COMPAT_ENABLE_FILTER)" == "True" ]]
}

# configure_nova_vfio_compat_filter <nova.conf> - make the scheduler load
# and run VFIOCompatFilter, keeping every filter already configured.
# Running it again changes nothing.
function configure_nova_vfio_compat_filter {
    local conf=$1
    local available
    local enabled

    # available_filters is a MultiStrOpt: one line per value. iniadd keeps
    # the lines already there; an unset option means Nova's default, which
    # has to be written out before our class is added to it.
    available=" $(iniget_multiline "$conf" filter_scheduler available_filters) "
    if [[ "$available" == "  " ]]; then
        iniset "$conf" filter_scheduler available_filters "$NOVA_VFIO_COMPAT_NOVA_FILTERS"
        available=" $NOVA_VFIO_COMPAT_NOVA_FILTERS "
    fi
    if [[ "$available" != *" $NOVA_VFIO_COMPAT_FILTER_CLASS "* ]]; then
        iniadd "$conf" filter_scheduler available_filters "$NOVA_VFIO_COMPAT_FILTER_CLASS"
    fi

    # enabled_filters is a ListOpt: one comma separated line. Unset means
    # Nova's default list, which is what lib/nova writes as $NOVA_FILTERS.
    enabled=$(iniget "$conf" filter_scheduler enabled_filters)
    if [[ -z "$enabled" ]]; then
        enabled=${NOVA_FILTERS:-ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter}
    fi
    if ! _nova_vfio_compat_has_filter "$enabled"; then
        iniset "$conf" filter_scheduler enabled_filters "${enabled},${NOVA_VFIO_COMPAT_FILTER_NAME}"
    fi
}

# nova_vfio_compat_filter_configured <nova.conf> - does the scheduler load
# and run VFIOCompatFilter?
function nova_vfio_compat_filter_configured {
    local conf=$1
    local available
    available=" $(iniget_multiline "$conf" filter_scheduler available_filters) "
    [[ "$available" == *" $NOVA_VFIO_COMPAT_FILTER_CLASS "* ]] &&
        _nova_vfio_compat_has_filter "$(iniget "$conf" filter_scheduler enabled_filters)"
}

# ensure_nova_vfio_compat_filter <nova.conf> - after local.conf's
# post-config merge: stack.sh merges [[post-config|$NOVA_CONF]] after the
# plugins' post-config phase, so an enabled_filters (or available_filters)
# line there replaces the list configure_nova_vfio_compat_filter wrote,
# and nova-scheduler started without the filter. Add it again to what
# local.conf asked for and restart nova-scheduler.
function ensure_nova_vfio_compat_filter {
    local conf=$1
    if nova_vfio_compat_filter_configured "$conf"; then
        return 0
    fi
    warn $LINENO "local.conf's [filter_scheduler] settings dropped $NOVA_VFIO_COMPAT_FILTER_NAME; adding it to them again and restarting nova-scheduler (set NOVA_VFIO_COMPAT_ENABLE_FILTER=False to run without it)"
    configure_nova_vfio_compat_filter "$conf"
    restart_service devstack@n-sch.service
}

# _nova_vfio_compat_json_values <variable name> - the JSON objects of a
# variable holding one object or a list of them, one per line, or fail
# naming the variable.
function _nova_vfio_compat_json_values {
    local name=$1
    "${PYTHON:-python3}" -c '
import json, sys
name, text = sys.argv[1], sys.argv[2]
try:
    value = json.loads(text)
except ValueError as e:
    sys.exit("%s is not JSON: %s" % (name, e))
values = value if isinstance(value, list) else [value]
if not values or not all(isinstance(v, dict) for v in values):
    sys.exit("%s must be a JSON object or a list of objects" % name)
for v in values:
    print(json.dumps(v, sort_keys=True))
' "$name" "${!name}"
}

# configure_nova_vfio_compat_devices <nova.conf> - [pci] device_spec and
# alias, [devices] enabled_mdev_types and [mdev_<type>] device_addresses
# from the plugin's variables, for the devices the reporter publishes and
# the filter checks. lib/nova copies nova.conf into nova-cpu.conf when it
# starts nova-compute, so nova-api, nova-scheduler and nova-compute all
# get them. Variables left empty change nothing.
function configure_nova_vfio_compat_devices {
    local conf=$1
    local pair
    local var
    local values
    local lines
    local entry
    local types=""

    for pair in NOVA_VFIO_COMPAT_PCI_DEVICE_SPEC:device_spec NOVA_VFIO_COMPAT_PCI_ALIAS:alias; do
        var=${pair%%:*}
        [[ -n "${!var:-}" ]] || continue
        if ! values=$(_nova_vfio_compat_json_values "$var"); then
            die $LINENO "$var is not valid (see the message above)"
        fi
        mapfile -t lines <<< "$values"
        iniset_multiline "$conf" pci "${pair#*:}" "${lines[@]}"
    done

    # "TYPE[=ADDRESS[,ADDRESS...]] ...": the types, and the GPUs of each.
    for entry in $NOVA_VFIO_COMPAT_MDEV_TYPES; do
        types="${types:+$types,}${entry%%=*}"
        if [[ "$entry" == *=* ]]; then
            iniset "$conf" "mdev_${entry%%=*}" device_addresses "${entry#*=}"
        fi
    done
    if [[ -n "$types" ]]; then
        iniset "$conf" devices enabled_mdev_types "$types"
    fi
}

# unconfigure_nova_vfio_compat_filter <nova.conf> - take our filter out of
# the scheduler's lists again, leaving the other filters as they are.
function unconfigure_nova_vfio_compat_filter {
    local conf=$1
    local value
    local kept=""
    local name

    [[ -f "$conf" ]] || return 0
    for value in $(iniget_multiline "$conf" filter_scheduler available_filters); do
        if [[ "$value" != "$NOVA_VFIO_COMPAT_FILTER_CLASS" ]]; then
            kept="$kept $value"
        fi
    done
    if [[ -n "$kept" ]]; then
        # shellcheck disable=SC2086  # one word per value, as iniadd does
        iniset_multiline "$conf" filter_scheduler available_filters $kept
    else
        inidelete "$conf" filter_scheduler available_filters
    fi

    local names
    kept=""
    IFS=, read -r -a names <<< "$(iniget "$conf" filter_scheduler enabled_filters)"
    for name in "${names[@]}"; do
        if [[ "${name//[[:space:]]/}" != "$NOVA_VFIO_COMPAT_FILTER_NAME" ]]; then
            kept="${kept:+$kept,}$name"
        fi
    done
    if ini_has_option "$conf" filter_scheduler enabled_filters; then
        iniset "$conf" filter_scheduler enabled_filters "$kept"
    fi
}

# configure_nova_vfio_compat_reporter - write the reporter's own config
# file. The [placement] credentials come from nova-compute's config file,
# which the reporter reads first (see start_nova_vfio_compat_reporter).
function configure_nova_vfio_compat_reporter {
    sudo install -d -o "$STACK_USER" "$NOVA_VFIO_COMPAT_CONF_DIR" \
        "$NOVA_VFIO_COMPAT_CONF_DIR/capabilities.d"
    rm -f "$NOVA_VFIO_COMPAT_CONF"
    iniset "$NOVA_VFIO_COMPAT_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$NOVA_VFIO_COMPAT_CONF" discovery capability_dirs "$NOVA_VFIO_COMPAT_CONF_DIR/capabilities.d"
    # nova-compute's own file: the mdev type it uses per GPU, its state_path
    iniset "$NOVA_VFIO_COMPAT_CONF" nova config_files "${NOVA_CPU_CONF:-$NOVA_CONF}"
    if [[ -n "$NOVA_VFIO_COMPAT_ROOT_PROVIDER_NAME" ]]; then
        iniset "$NOVA_VFIO_COMPAT_CONF" reporter root_provider_name "$NOVA_VFIO_COMPAT_ROOT_PROVIDER_NAME"
    fi
    if [[ -n "$NOVA_VFIO_COMPAT_DEVICE_LIST" ]]; then
        iniset "$NOVA_VFIO_COMPAT_CONF" reporter device_list "$NOVA_VFIO_COMPAT_DEVICE_LIST"
    fi
    setup_logging "$NOVA_VFIO_COMPAT_CONF"
}

# start_nova_vfio_compat_reporter - run the reporter as devstack@ service.
function start_nova_vfio_compat_reporter {
    # nova-compute's own config file: lib/nova writes it (a copy of
    # nova.conf with the [placement] credentials) before it starts n-cpu.
    local nova_conf=${NOVA_CPU_CONF:-$NOVA_CONF}
    run_process "$NOVA_VFIO_COMPAT_SERVICE" "$(nova_vfio_compat_bin_dir)/nova-vfio-compat-reporter --config-file $nova_conf --config-file $NOVA_VFIO_COMPAT_CONF"
}

function stop_nova_vfio_compat_reporter {
    stop_process "$NOVA_VFIO_COMPAT_SERVICE"
}

# clean_nova_vfio_compat - remove what post-config wrote.
function clean_nova_vfio_compat {
    sudo rm -rf "$NOVA_VFIO_COMPAT_CONF_DIR"
    unconfigure_nova_vfio_compat_filter "$NOVA_CONF"
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing nova-vfio-compat"
    install_nova_vfio_compat

elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring nova-vfio-compat"
    if is_service_enabled n-sch && _nova_vfio_compat_filter_wanted; then
        configure_nova_vfio_compat_filter "$NOVA_CONF"
    fi
    configure_nova_vfio_compat_devices "$NOVA_CONF"
    if is_service_enabled n-cpu && is_service_enabled "$NOVA_VFIO_COMPAT_SERVICE"; then
        configure_nova_vfio_compat_reporter
    fi

elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    if is_service_enabled n-sch && _nova_vfio_compat_filter_wanted; then
        ensure_nova_vfio_compat_filter "$NOVA_CONF"
    fi
    if is_service_enabled n-cpu && is_service_enabled "$NOVA_VFIO_COMPAT_SERVICE"; then
        echo_summary "Starting nova-vfio-compat-reporter"
        start_nova_vfio_compat_reporter
    fi

elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
    # Something after the extra phase ([[extra|...]] or
    # [[post-extra|...]] sections of local.conf) dropped the filter again.
    if is_service_enabled n-sch && _nova_vfio_compat_filter_wanted &&
            ! nova_vfio_compat_filter_configured "$NOVA_CONF"; then
        die $LINENO "$NOVA_VFIO_COMPAT_FILTER_NAME is not in $NOVA_CONF [filter_scheduler] enabled_filters/available_filters: a local.conf section merged after the plugin's extra phase replaced them; add it there, or set NOVA_VFIO_COMPAT_ENABLE_FILTER=False"
    fi
fi

if [[ "$1" == "unstack" ]]; then
    stop_nova_vfio_compat_reporter
fi

if [[ "$1" == "clean" ]]; then
    clean_nova_vfio_compat
fi

# Restore xtrace
$_XTRACE_NOVA_VFIO_COMPAT
