# shellcheck shell=bash
# Test-only stand-ins for the devstack functions the plugin calls.
#
# devstack itself cannot run in a unit test (it installs and starts a whole
# cloud), so this library provides the few functions devstack/plugin.sh
# uses, written from devstack's documented behaviour (inc/ini-config,
# functions-common, inc/python):
#
# * the ini functions really edit the file, because the resulting
#   nova.conf is what the tests check;
# * the functions that install packages or start processes only append one
#   line per call to $FAKE_DEVSTACK_LOG (tab separated: function name, then
#   its arguments), which the tests read.
#
# Inputs: ENABLED_SERVICES and DISABLED_SERVICES (comma separated, as in
# devstack), FAKE_DEVSTACK_LOG.

_fake_log() {
    local IFS=$'\t'
    echo "$*" >> "$FAKE_DEVSTACK_LOG"
}

# --- inc/ini-config ------------------------------------------------------
# Lines of a section run from its "[section]" header to the next header.
# An option's line is "option = value" (spaces around "=" optional).

_ini_strip_sudo() {
    # "-sudo" only changes who writes the file; the tests own their files.
    [[ "$1" == "-sudo" ]]
}

# ini_has_option [-sudo] file section option
ini_has_option() {
    _ini_strip_sudo "$1" && shift
    [[ -f "$1" ]] || return 1
    awk -v s="[$2]" -v o="$3" '
        /^\[.*\]/ { ins = ($0 == s); next }
        ins && $0 ~ "^" o "[ \t]*=" { found = 1 }
        END { exit !found }' "$1"
}

# iniget_multiline file section option: every value, space separated.
iniget_multiline() {
    [[ -f "$1" ]] || return 0
    local values
    values=$(awk -v s="[$2]" -v o="$3" '
        /^\[.*\]/ { ins = ($0 == s); next }
        ins && $0 ~ "^" o "[ \t]*=" {
            sub("^" o "[ \t]*=[ \t]*", ""); print }' "$1")
    # devstack echoes the values unquoted: one line, single spaces.
    # shellcheck disable=SC2086
    echo $values
}

# iniget file section option: the value of a single-valued option.
iniget() {
    iniget_multiline "$@"
}

# inidelete [-sudo] file section option: remove every line of the option.
inidelete() {
    _ini_strip_sudo "$1" && shift
    [[ -f "$1" ]] || return 0
    local tmp
    tmp=$(mktemp)
    awk -v s="[$2]" -v o="$3" '
        /^\[.*\]/ { ins = ($0 == s) }
        !(ins && $0 ~ "^" o "[ \t]*=") { print }' "$1" > "$tmp"
    cat "$tmp" > "$1"
    rm -f "$tmp"
}

_ini_ensure_section() {
    local file=$1 section=$2
    if [[ ! -f "$file" ]] || ! grep -qxF "[$section]" "$file"; then
        printf '\n[%s]\n' "$section" >> "$file"
    fi
}

# _ini_insert_after_header file section line...: the lines, in order,
# right below the section header (where devstack's "sed a" puts them).
_ini_insert_after_header() {
    local file=$1 section=$2
    shift 2
    local tmp
    tmp=$(mktemp)
    awk -v s="[$section]" -v lines="$(printf '%s\n' "$@")" '
        { print }
        $0 == s && !done { printf "%s\n", lines; done = 1 }' "$file" > "$tmp"
    cat "$tmp" > "$file"
    rm -f "$tmp"
}

# iniset [-sudo] file section option value: replace the option's value, or
# add "option = value" below the header (creating file and section).
iniset() {
    _ini_strip_sudo "$1" && shift
    local file=$1 section=$2 option=$3 value=$4
    [[ -z "$section" || -z "$option" ]] && return 0
    _ini_ensure_section "$file" "$section"
    if ini_has_option "$file" "$section" "$option"; then
        local tmp
        tmp=$(mktemp)
        awk -v s="[$section]" -v o="$option" -v v="$value" '
            /^\[.*\]/ { ins = ($0 == s) }
            ins && $0 ~ "^" o "[ \t]*=" {
                match($0, "^" o "[ \t]*=[ \t]*")
                print substr($0, 1, RLENGTH) v; next }
            { print }' "$file" > "$tmp"
        cat "$tmp" > "$file"
        rm -f "$tmp"
    else
        _ini_insert_after_header "$file" "$section" "$option = $value"
    fi
}

# iniset_multiline [-sudo] file section option value...: one line per value,
# replacing the option's lines.
iniset_multiline() {
    _ini_strip_sudo "$1" && shift
    local file=$1 section=$2 option=$3
    shift 3
    local lines=() v
    for v in "$@"; do
        lines+=("$option = $v")
    done
    _ini_ensure_section "$file" "$section"
    inidelete "$file" "$section" "$option"
    _ini_insert_after_header "$file" "$section" "${lines[@]}"
}

# iniadd [-sudo] file section option value...: keep the option's values
# and add these after them.
iniadd() {
    _ini_strip_sudo "$1" && shift
    local file=$1 section=$2 option=$3
    shift 3
    local current
    current=$(iniget_multiline "$file" "$section" "$option")
    # shellcheck disable=SC2086  # devstack splits the values on spaces
    iniset_multiline "$file" "$section" "$option" $current "$@"
}

# --- functions-common ----------------------------------------------------

define_plugin() { :; }
plugin_requires() { :; }
echo_summary() { echo "$@"; }

# trueorfalse default varname
trueorfalse() {
    local default=$1 value=${!2:-}
    case "${value,,}" in
        1|yes|true|on) echo True ;;
        0|no|false|off) echo False ;;
        *) echo "$default" ;;
    esac
}

is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ",${ENABLED_SERVICES}," == *",${service},"* ]] && return 0
    done
    return 1
}

# enable_service skips services local.conf disabled (disable_service puts
# them in DISABLED_SERVICES), as devstack's does.
enable_service() {
    local service
    for service in "$@"; do
        [[ ",${DISABLED_SERVICES:-}," == *",${service},"* ]] && continue
        is_service_enabled "$service" || ENABLED_SERVICES+=",$service"
    done
}

# run_process only starts enabled services, as devstack's does.
run_process() {
    if is_service_enabled "$1"; then
        _fake_log run_process "$@"
    fi
}

stop_process() { _fake_log stop_process "$@"; }
restart_service() { _fake_log restart_service "$@"; }

# warn line message / die line message: devstack prints the message (die
# then exits 1); the tests read stderr and the log.
warn() { _fake_log warn "$2"; echo "WARNING: $2" >&2; }
die() { _fake_log die "$2"; echo "ERROR: $2" >&2; exit 1; }

# --- inc/python ----------------------------------------------------------

get_python_exec_prefix() { echo "${FAKE_PYTHON_PREFIX:-/usr/local/bin}"; }
setup_develop() { _fake_log setup_develop "PIP_VIRTUAL_ENV=${PIP_VIRTUAL_ENV:-}" "$@"; }
pip_install() { _fake_log pip_install "$@"; }

# --- functions -----------------------------------------------------------

setup_logging() { _fake_log setup_logging "$@"; }

# The plugin creates /etc/nova-vfio-compat with sudo; the tests point it at
# a temporary directory they own.
sudo() { "$@"; }
