# shellcheck shell=bash
# DevStack plugin of nova-vfio-compat: sourced by stack.sh, unstack.sh and
# clean.sh as "plugin.sh <mode> [phase]".
#
# stack install      install the package into Nova's Python environment
#                    (nova-api loads the flavor extra spec validators and
#                    nova-scheduler the filter from it)
# stack post-config  add VFIOCompatFilter to nova.conf [filter_scheduler];
#                    write the reporter's configuration file
# stack extra        start nova-vfio-compat-reporter on compute hosts
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
    if is_service_enabled n-sch && [[ "$(trueorfalse True NOVA_VFIO_COMPAT_ENABLE_FILTER)" == "True" ]]; then
        configure_nova_vfio_compat_filter "$NOVA_CONF"
    fi
    if is_service_enabled n-cpu && is_service_enabled "$NOVA_VFIO_COMPAT_SERVICE"; then
        configure_nova_vfio_compat_reporter
    fi

elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    if is_service_enabled n-cpu && is_service_enabled "$NOVA_VFIO_COMPAT_SERVICE"; then
        echo_summary "Starting nova-vfio-compat-reporter"
        start_nova_vfio_compat_reporter
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
