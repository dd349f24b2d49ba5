# fish completion for parmap(1). Install as ~/.config/fish/completions/parmap.fish
# (or in $__fish_data_dir/vendor_completions.d/).
# Keep in step with `parmap --dump-options` (tests/e2e/test_docs.py checks it).

# Options whose value is the next word (to find where the command starts).
function __parmap_takes_value
    contains -- $argv[1] -a --arg-file -d --delimiter -j -P --jobs --max-procs --timeout \
        --kill-grace --delay --env --retries --halt --halt-on-error -b --batch-size \
        --max-pending --tail-batches-per-core --tail-min-batch-size --checkpoint \
        --checkpoint-every --joblog --jl --arg-sep --argsep --arg-file-sep --argfilesep --nice \
        --wd --workdir --tmpdir --tagstring --results --res -S --sshlogin --sshloginfile --slf \
        --ssh --remote-parmap --transferfile --tf --return --trc --basefile --bf -C --colsep \
        --trim --header -I -n --max-args -N --max-replace-args -L --max-lines -s --max-chars \
        --shell-path --block --block-size --blocksize --recend --recstart --slurm-alloc --html
end

# Prints the words from the command on (the first word that is not an option, or the word
# after --), the current token included; prints nothing while options are being typed.
function __parmap_command_words
    set -l tokens (commandline -opc) (commandline -ct)
    set -e tokens[1]
    while set -q tokens[2]
        set -l t $tokens[1]
        if test "$t" = --
            set -e tokens[1]
            break
        else if __parmap_takes_value $t
            set -e tokens[1..2]
        else if string match -q -- '-*' $t
            set -e tokens[1]
        else
            break
        end
    end
    # Only the current token is left: it is the command unless it looks like an option.
    if set -q tokens[1]; and not set -q tokens[2]; and string match -q -- '-*' $tokens[1]
        return
    end
    printf '%s\n' $tokens
end

# True while the options are still being typed: no command word yet.
function __parmap_in_options
    set -l words (__parmap_command_words)
    not set -q words[2]
    and not contains -- -- (commandline -opc)
end

# True after a ::: or :::: word: what follows are items or files.
function __parmap_after_separator
    set -l tokens (commandline -opc)
    contains -- ::: $tokens; or contains -- :::: $tokens
end

# Completes the command and its arguments with the command's own completions.
function __parmap_complete_command
    set -l words (__parmap_command_words)
    set -q words[1]; or return
    complete -C "$words"
end

# No file names where an option's value or the command is expected.
complete -c parmap -f

# The command (the first word that is not an option), then its own arguments.
complete -c parmap -n 'not __parmap_after_separator' -a '(__parmap_complete_command)'
complete -c parmap -n __parmap_after_separator -F

# Options: only before the command.
set -l opt -n __parmap_in_options

complete -c parmap $opt -s h -l help -d 'Print help and exit'
complete -c parmap $opt -l version -d 'Print the version and exit'

# Input
complete -c parmap $opt -s a -l arg-file -r -F -d "Read items from FILE ('-' is stdin)"
complete -c parmap $opt -s 0 -l null -d 'Items end with NUL instead of newline'
complete -c parmap $opt -s d -l delimiter -x -a '\\\\t\tTAB \\\\0\tNUL ,\tcomma :\tcolon' \
    -d 'Items end with character C'
complete -c parmap $opt -l arg-sep -l argsep -x -d 'Use SEP instead of ::: before items'
complete -c parmap $opt -l arg-file-sep -l argfilesep -x -d 'Use SEP instead of :::: before item files'
complete -c parmap $opt -l link -l xapply -d 'Pair the input sources side by side instead of combining'
complete -c parmap $opt -s C -l colsep -x -d 'Split each item into columns at REGEX'
complete -c parmap $opt -l trim -x -a 'n l r lr rl' -d 'Strip blanks from the arguments'
complete -c parmap $opt -l header -x -a ':' -d 'The first line of each source names its columns'
complete -c parmap $opt -s I -x -d 'Use STR instead of {}'

# Several items per command
complete -c parmap $opt -s n -l max-args -x -d 'Up to N items per command'
complete -c parmap $opt -s N -l max-replace-args -x -d 'Up to N items per command, {1}..{N}'
complete -c parmap $opt -s X -d 'As many items as the line holds, words with {} repeated'
complete -c parmap $opt -s m -d 'As many items as the line holds, in one {}'
complete -c parmap $opt -l xargs -d 'As -m, without spreading the last items'
complete -c parmap $opt -s L -l max-lines -x -d 'Up to N input lines per command'
complete -c parmap $opt -s s -l max-chars -x -d 'Command lines of at most N bytes'

# Running
complete -c parmap $opt -s j -s P -l jobs -l max-procs -x \
    -a "(nproc 2>/dev/null)\t'the number of CPUs' 100%\t'one per CPU' 50%\t'half the CPUs' +1\t'one more than the CPUs' -1\t'one less than the CPUs' 0\t'as many as possible'" \
    -d 'Run N items at once: N, N% of CPUs, +N, -N, 0 = max, or FILE'
complete -c parmap $opt -l timeout -x -d "Kill an item's process group after SECS (or N% of the median)"
complete -c parmap $opt -l kill-grace -x -d 'Seconds between SIGTERM and SIGKILL (1)'
complete -c parmap $opt -l delay -x -d 'Wait SECS between starting two items'
complete -c parmap $opt -l shell -d 'Run the command through /bin/sh -c'
complete -c parmap $opt -l no-shell -d 'Exec the command directly, never through a shell'
complete -c parmap $opt -l shell-path -x -a '(cat /etc/shells 2>/dev/null | string match -v "#*")' -d 'The shell for templates, builtins and functions'
complete -c parmap $opt -l env -x -a '(set -xn)' -d 'Set variable VAR for remote jobs (_ = all)'
complete -c parmap $opt -l nice -x -d "Run items at parmap's niceness plus N"
complete -c parmap $opt -l wd -l workdir -x -a '(__fish_complete_directories) ...' \
    -d 'Run items in DIR (... = a new temporary dir; remote: from ~)'
complete -c parmap $opt -l tmpdir -x -a '(__fish_complete_directories)' -d 'Put temporary files in DIR'
complete -c parmap $opt -l shuf -d 'Run the items in random order'
complete -c parmap $opt -l dry-run -l dryrun -d 'Print the commands that would run; run nothing'
complete -c parmap $opt -s v -l verbose -d 'Print each command before its output, then run it'
complete -c parmap $opt -s q -l quote -d 'Accepted for GNU parallel scripts; changes nothing'
complete -c parmap $opt -l will-cite -d 'Accepted for GNU parallel scripts; changes nothing'
complete -c parmap $opt -l no-notice -d 'Accepted for GNU parallel scripts; changes nothing'

# Remote hosts
complete -c parmap $opt -s S -l sshlogin -x -a '(__fish_print_hostnames)' -d 'Run jobs on [N/][user@]HOST[:PORT] too (: is here)'
complete -c parmap $opt -l sshloginfile -r -F -d 'Read sshlogins from FILE (.. = ~/.parallel/sshloginfile)'
complete -c parmap $opt -l slf -r -F -d 'Read sshlogins from FILE (= --sshloginfile)'
complete -c parmap $opt -l ssh -x -a '(__fish_complete_command)' -d 'The ssh command'
complete -c parmap $opt -l remote-parmap -r -F -d 'parmap on the remote hosts'
complete -c parmap $opt -l transferfile -r -F -d 'Send FILE (a template) to the host first'
complete -c parmap $opt -l tf -r -F -d 'Send FILE to the host first (= --transferfile)'
complete -c parmap $opt -l transfer -d "Send the item's file first (--transferfile {})"
complete -c parmap $opt -l return -r -F -d 'Bring FILE (a template) back after the job'
complete -c parmap $opt -l cleanup -d 'Remove transferred and returned files on the host'
complete -c parmap $opt -l trc -r -F -d '--transfer --return FILE --cleanup'
complete -c parmap $opt -l basefile -r -F -d 'Send FILE once to each host before its jobs'
complete -c parmap $opt -l bf -r -F -d 'Send FILE once to each host (= --basefile)'
complete -c parmap $opt -l onall -d 'Run every item on every host, one at a time on each'
complete -c parmap $opt -l nonall -d 'Run the command once on every host, without items'

# Slurm
complete -c parmap $opt -l slurm -d 'Run jobs in job steps of this Slurm allocation, one per slot'
complete -c parmap $opt -l slurm-alloc -x -d 'Get an allocation with salloc ARGS, run as --slurm'

# Failures
complete -c parmap $opt -l keep-going -d 'Record failures as results and go on'
complete -c parmap $opt -l safe -d 'Record failures as results and go on (= --keep-going)'
complete -c parmap $opt -l retries -x -d 'Run a failed item up to N more times'
complete -c parmap $opt -l halt -l halt-on-error -x -d 'When to stop' -a "
    never\t'keep going (= --keep-going)'
    now,fail=1\t'stop at the first failure, kill running items (default)'
    soon,fail=1\t'stop at the first failure, let running items finish'
    now,success=1\t'stop at the first success'
    soon,success=1\t'stop at the first success, let running items finish'
    now,done=1\t'stop when N items are done'
    soon,done=1\t'stop when N items are done, let running items finish'
    now,fail=10%\t'stop when 10% of the items failed'"

# Output
complete -c parmap $opt -s k -l keep-order -d 'Write results in input order (the default)'
complete -c parmap $opt -l as-ready -d 'Write results as they finish'
complete -c parmap $opt -l group -d "Write each item's output whole (the default)"
complete -c parmap $opt -s u -l ungroup -d 'Items write straight to stdout and stderr, ungrouped'
complete -c parmap $opt -l tag -d 'Prefix each output line with the item and a TAB'
complete -c parmap $opt -l tagstring -x -d 'Prefix each output line with STR ({} etc.) and a TAB'
complete -c parmap $opt -l json -d 'Write one JSON object per item'
complete -c parmap $opt -l files -l output-as-files -d "Write each item's stdout to a file, print its name"
complete -c parmap $opt -l results -l res -r -F -d 'Save outputs as GNU parallel does (NAME/, .csv, .tsv, .json)'
complete -c parmap $opt -l line-buffer -l lb -l linebuffer -d 'With --as-ready: write whole lines as they come'

# Flow control
complete -c parmap $opt -s b -l batch-size -x -d 'Items per dispatch unit (1)'
complete -c parmap $opt -l max-pending -x -d 'Batches dispatched but not written, at most'
complete -c parmap $opt -l no-adaptive-tail -d 'Keep batches full to the end'
complete -c parmap $opt -l tail-batches-per-core -x -d 'Adaptive tail starts at this many batches per slot (2)'
complete -c parmap $opt -l tail-min-batch-size -x -d 'Smallest batch in the tail (1)'

# Checkpoint
complete -c parmap $opt -l checkpoint -r -F -d 'Record finished items in this SQLite file'
complete -c parmap $opt -l resume -d 'Continue the recorded run: replay finished items'
complete -c parmap $opt -l retry-failed -d 'With --resume: run recorded failures again'
complete -c parmap $opt -l resume-failed -d 'The same as --resume --retry-failed'
complete -c parmap $opt -l force -d 'With --resume: accept a changed command'
complete -c parmap $opt -l checkpoint-every -x -d 'Commit at least every N items (100)'
complete -c parmap $opt -l report -d "Summarise the checkpoint's run; run nothing"
complete -c parmap $opt -l html -r -F -d 'With --report: write it as one HTML page (- for stdout)'

# Progress and logs
complete -c parmap $opt -l bar -d 'Show a progress bar on stderr'
complete -c parmap $opt -l eta -d 'Show the estimated time left on stderr'
complete -c parmap $opt -l progress-always -d 'Draw --bar / --eta even when stderr is not a terminal'
complete -c parmap $opt -l joblog -l jl -r -F -d "Log each finished item, GNU parallel's columns (- stdout, +FILE appends)"

# Information
complete -c parmap $opt -l number-of-cores -l number-of-cpus -d 'Print the number of physical CPU cores and exit'
complete -c parmap $opt -l shellquote -l shell-quote -d 'Print the items quoted for the shell; run nothing'

# Pipe mode
complete -c parmap $opt -l pipe -d "Cut stdin into blocks of whole records for the jobs' stdin"
complete -c parmap $opt -l spreadstdin -d 'Cut stdin into blocks (= --pipe)'
complete -c parmap $opt -l pipepart -d 'Cut the file given with -a into blocks; jobs read their ranges'
complete -c parmap $opt -l pipe-part -d 'Cut the file given with -a into blocks (= --pipepart)'
complete -c parmap $opt -l block -l block-size -l blocksize -x -a '1M 10M 100M 1G 100k -1 -10' \
    -d 'Block size: k=1000, K=1024, M...; --pipepart: -N blocks per slot'
complete -c parmap $opt -l recend -x -d 'A record ends with STR (\\n)'
complete -c parmap $opt -l recstart -x -d 'A record starts with STR'
complete -c parmap $opt -l regexp -d '--recend and --recstart are regular expressions'
complete -c parmap $opt -l round-robin -l round -d 'One job per slot, each taking blocks as it is ready'
complete -c parmap $opt -l cat -d '{} is the block as a temporary file'
complete -c parmap $opt -l fifo -d '{} is a named pipe the job reads its block from'
