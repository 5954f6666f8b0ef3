
# managed by lempctl: site names where a command takes one (from `lempctl site list --names`,
# under the same --root/--config); everything else is clap's completion above.
_lempctl_sites() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local i w opts=() cmd=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --root|--config) opts+=("$w" "${COMP_WORDS[i+1]}"); i=$((i + 1)) ;;
            -*) ;;
            *) cmd+=("$w") ;;
        esac
    done
    local takes=0
    case "${cmd[*]}" in
        "site show"|"site remove"|"site enable"|"site disable"|"site update"|"site put") takes=1 ;;
        "db create"|"db drop"|"db passwd"|"db dump") takes=1 ;;
        "wp install"|"wp cron"|"wp purge"|"wp login-url"|"wp admin-password") takes=1 ;;
        "backup run"|"backup run "*|"backup list"|"backup restore"|"backup verify"|"s3 sync") takes=1 ;;
        apply|"apply "*) takes=1 ;;
    esac
    if [[ $takes == 1 && $cur != -* && $prev != --* ]]; then
        COMPREPLY=($(compgen -W "$(lempctl "${opts[@]}" site list --names 2>/dev/null)" -- "$cur"))
        return 0
    fi
    _lempctl "$@"
}
complete -F _lempctl_sites -o bashdefault -o default lempctl
