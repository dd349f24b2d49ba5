# bash completion for parmap(1).                                   -*- shell-script -*-
# Install as /usr/share/bash-completion/completions/parmap, or source it from ~/.bashrc.
# Keep in step with `parmap --dump-options` (tests/e2e/test_docs.py checks it).

# True if option $1 takes its value from the next word.
_parmap_takes_value()
{
    case $1 in
        -a | --arg-file | -d | --delimiter | -j | -P | --jobs | --max-procs | --timeout | \
            --kill-grace | --delay | --env | --retries | --halt | --halt-on-error | -b | \
            --batch-size | --max-pending | --tail-batches-per-core | --tail-min-batch-size | \
            --checkpoint | --checkpoint-every | --joblog | --jl | --arg-sep | --argsep | \
            --arg-file-sep | --argfilesep | --nice | --wd | --workdir | --tmpdir | --tagstring | \
            --results | --res | -S | --sshlogin | --sshloginfile | --slf | --ssh | \
            --remote-parmap | --transferfile | --tf | --return | --trc | --basefile | --bf | \
            -C | --colsep | --trim | --header | -I | -n | --max-args | -N | --max-replace-args | \
            -L | --max-lines | -s | --max-chars | --shell-path | --block | --block-size | \
            --blocksize | --recend | --recstart | --slurm-alloc | --html)
            return 0
            ;;
    esac
    return 1
}

# COMPREPLY from compgen "$@", one match per line (names with spaces stay whole).
_parmap_compgen()
{
    mapfile -t COMPREPLY < <(compgen "$@" | LC_ALL=C sort -u)
}

_parmap()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        # Without bash-completion, "--jobs=4" arrives as "--jobs" "=" "4".
        if [[ $cur == = ]]; then
            prev=${COMP_WORDS[COMP_CWORD - 1]}
            cur=
        elif [[ $prev == = && $cword -ge 2 ]]; then
            prev=${COMP_WORDS[COMP_CWORD - 2]}
        elif [[ $cur == --*=* ]]; then
            prev=${cur%%=*}
            cur=${cur#*=}
        fi
    fi

    # Find where the options end: the first word that is not an option (the command), or "--".
    local i w command_at=0 items_at=0
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if ((command_at == 0)); then
            if [[ $w == -- ]]; then
                command_at=$((i + 1))
            elif [[ $w == -* ]]; then
                if _parmap_takes_value "$w"; then
                    ((i++))
                    [[ ${words[i]} == = ]] && ((i++)) # "--jobs" "=" "4" without bash-completion
                fi
            else
                command_at=$i
            fi
        elif [[ $w == ::: || $w == :::: ]]; then
            items_at=$i
            break
        fi
    done

    # After ::: (items) or :::: (files): file names.
    if ((items_at > 0)); then
        _parmap_compgen -f -- "$cur"
        compopt -o filenames 2>/dev/null
        return
    fi

    # The command, then its arguments.
    if ((command_at > 0 && cword >= command_at)); then
        if ((cword == command_at)); then
            _parmap_compgen -c -- "$cur"
        elif declare -F _command_offset >/dev/null 2>&1; then
            _command_offset "$command_at"
        else
            _parmap_compgen -f -- "$cur"
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W '::: ::::' -- "$cur")
            compopt -o filenames 2>/dev/null
        fi
        return
    fi

    # The value of an option.
    case $prev in
        -a | --arg-file | --checkpoint | --joblog | --jl | --results | --res | --sshloginfile | \
            --slf | --transferfile | --tf | --return | --trc | --basefile | --bf | --remote-parmap | \
            --html)
            _parmap_compgen -f -- "$cur"
            compopt -o filenames 2>/dev/null
            return
            ;;
        --wd | --workdir | --tmpdir)
            _parmap_compgen -d -- "$cur"
            compopt -o filenames 2>/dev/null
            return
            ;;
        --nice)
            _parmap_compgen -W '1 5 10 19' -- "$cur"
            return
            ;;
        --arg-sep | --argsep | --arg-file-sep | --argfilesep | --tagstring | -C | --colsep | -I)
            return # any text
            ;;
        --trim)
            _parmap_compgen -W 'n l r lr rl' -- "$cur"
            return
            ;;
        --header)
            _parmap_compgen -W ':' -- "$cur"
            return
            ;;
        --shell-path)
            _parmap_compgen -W "$(grep -v '^#' /etc/shells 2>/dev/null)" -- "$cur"
            return
            ;;
        -n | --max-args | -N | --max-replace-args | -L | --max-lines | -s | --max-chars)
            return # a number
            ;;
        -j | -P | --jobs | --max-procs)
            local n
            n=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 4)
            _parmap_compgen -W "$n 100% 50% 200% +1 -1 0 1 2 4 8 16" -- "$cur"
            return
            ;;
        --halt | --halt-on-error)
            _parmap_compgen -W 'never now,fail=1 soon,fail=1 now,success=1 soon,success=1
                now,done=1 soon,done=1 now,fail=10% soon,fail=10% 0 1 2 -1 -2' -- "$cur"
            return
            ;;
        -d | --delimiter)
            # As typed on the command line: \\t reaches parmap as \t.
            _parmap_compgen -W '\\\\t \\\\0 , :' -- "$cur"
            return
            ;;
        --env)
            _parmap_compgen -e -- "$cur"
            return
            ;;
        --timeout)
            _parmap_compgen -W '10 30 60 300 3600 200%' -- "$cur"
            return
            ;;
        --kill-grace | --delay)
            _parmap_compgen -W '0 0.1 0.5 1 5 10' -- "$cur"
            return
            ;;
        --retries | -b | --batch-size | --max-pending | --tail-batches-per-core | \
            --tail-min-batch-size | --checkpoint-every)
            return # a number
            ;;
        --block | --block-size | --blocksize)
            _parmap_compgen -W '1M 10M 100M 1G 100k -1 -10' -- "$cur"
            return
            ;;
        --recend | --recstart)
            # As typed on the command line: \\n reaches parmap as \n.
            _parmap_compgen -W '\\\\n \\\\0' -- "$cur"
            return
            ;;
        --header)
            _parmap_compgen -W ': 1 2' -- "$cur"
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        local opts='-h --help --version
            -a --arg-file -0 --null -d --delimiter --arg-sep --argsep --arg-file-sep
            --argfilesep --link --xapply -C --colsep --trim --header -I
            -n --max-args -N --max-replace-args -X -m --xargs -L --max-lines -s --max-chars
            -j -P --jobs --max-procs --timeout --kill-grace --delay --shell --no-shell --shell-path --env
            --nice --wd --workdir --tmpdir --shuf --dry-run --dryrun -v --verbose
            -q --quote --will-cite --no-notice
            -S --sshlogin --sshloginfile --slf --ssh --remote-parmap --transferfile --tf
            --transfer --return --cleanup --trc --basefile --bf --onall --nonall
            --slurm --slurm-alloc
            --keep-going --safe --retries --halt --halt-on-error
            -k --keep-order --as-ready --group -u --ungroup --tag --tagstring --json --files
            --output-as-files --results --res --line-buffer --lb --linebuffer
            -b --batch-size --max-pending --no-adaptive-tail --tail-batches-per-core
            --tail-min-batch-size
            --checkpoint --resume --retry-failed --resume-failed --force --checkpoint-every
            --report --html
            --bar --eta --progress-always --joblog --jl
            --number-of-cores --number-of-cpus --shellquote --shell-quote
            --pipe --spreadstdin --pipepart --pipe-part --block --block-size --blocksize
            --recend --recstart --regexp
            --round-robin --round --cat --fifo'
        _parmap_compgen -W "$opts" -- "$cur"
        return
    fi

    # The first word that is not an option: the command.
    _parmap_compgen -c -- "$cur"
} &&
    complete -F _parmap parmap

# ex: filetype=sh
