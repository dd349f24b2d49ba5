// parmap::Options: everything that shapes a run, with the same defaults as the command line.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace parmap {

struct Progress;

/// The order in which results are delivered.
enum class Order {
  input,    ///< In input order (the default; `-k`).
  as_ready, ///< As they finish (`--as-ready`).
};

/// Whether the command runs through `/bin/sh -c`.
enum class Shell {
  automatic, ///< One word with shell syntax runs through the shell; anything else is exec'd.
  always,    ///< `--shell`
  never,     ///< `--no-shell`
};

/// Which blanks (spaces, tabs, CR, LF, FF, VT) --trim strips from each argument.
enum class Trim {
  automatic, ///< none, or both ends when columns are split (GNU parallel's default).
  none,      ///< `n`
  left,      ///< `l`
  right,     ///< `r`
  both,      ///< `lr` or `rl`
};

/// How input records become arguments (GNU parallel's --colsep, --trim, --header).
struct Columns {
  /// Splits each record into arguments ({1} {2}...) at matches of this POSIX extended regular
  /// expression (Perl's \t \n \r \s \S \d \D \w \W are understood too); empty keeps each
  /// record whole.
  std::string separator;
  Trim trim = Trim::automatic;
  /// Non-empty: the first record of each input source is a header naming its columns, for
  /// {name} in the command. ":" takes one record; anything else is a regular expression that
  /// the header records (each followed by a newline) match, as in GNU parallel.
  std::string header;
};

/// How many items one command serves (GNU parallel's -n, -N, -X, -m, -L, -s, --xargs). One
/// command's items are one result: its output, status and duration, keyed in the checkpoint by
/// all their arguments.
struct Grouping {
  /// Items per command at most; 0 means as many as the command line holds (-m, -X, --xargs).
  std::size_t max_items = 1;
  /// Pass none of the items' arguments (-N0, -n0): one command per item, without it.
  bool no_arguments = false;
  /// A word holding {} is repeated once per argument (-X, -N, -L: context replace); otherwise
  /// it expands to one word per argument, as sh's "pre$@post" (-m, -n).
  bool context_replace = false;
  /// When the input ends, the last items are spread evenly over the slots (-m, -X), so that
  /// the end of a run is not one long command.
  bool spread = false;
  /// The longest command line, in bytes, counted as xargs does (each argument and its NUL);
  /// 0 means what the system allows (ARG_MAX less the environment, with a margin).
  std::size_t max_chars = 0;
  /// An input line ending in a blank continues on the next line (-L).
  bool continue_lines = false;
};

/// How forwarded output is written.
enum class Format {
  raw,  ///< Each item's bytes as they are.
  tag,  ///< Each line prefixed with the item and a TAB (`--tag`).
  json, ///< One JSON object per item on the output fd (`--json`).
  /// Each item's stdout goes to a file of its own in the temporary directory, which is kept,
  /// and the file's name is written instead (`--files`); stderr is written as it is.
  files,
};

/// How a block of input (Items::blocks, Items::file_blocks) reaches its command.
enum class BlockInput {
  pipe, ///< On its stdin (the default).
  file, ///< As a temporary file, named by {} and removed after the item (--cat).
  fifo, ///< As a named pipe the command must open, named by {} (--fifo).
};

/// When the run stops early (GNU parallel's `--halt`). The default is fail-fast: the first
/// failure stops dispatching and terminates running items.
struct Halt {
  enum class When {
    never, ///< Keep going whatever happens (`--keep-going`).
    soon,  ///< Stop dispatching; let running items finish.
    now,   ///< Stop dispatching and terminate running items.
  };
  enum class On {
    fail,    ///< Count failed items.
    success, ///< Count successful items.
    done,    ///< Count all finished items.
  };
  When when = When::now;
  On on = On::fail;
  /// Items that must have matched `on` to trigger the halt: a count, or a percentage of the
  /// items when `percent` is set (which needs a known input length).
  double threshold = 1;
  bool percent = false;

  static Halt fail_fast() { return {}; }
  static Halt keep_going() { return {When::never, On::fail, 1, false}; }
  bool stops_on_failure() const { return when != When::never && on == On::fail; }
};

/// Where the engine writes each item's output itself, as the `parmap` executable does. With
/// `stdout_fd < 0` nothing is written and every result keeps its output.
struct Forward {
  int stdout_fd = -1; ///< Items' stdout (or JSON records) go here; -1 keeps them in results.
  int stderr_fd = -1; ///< Items' stderr goes here (ignored for Format::json).
  Format format = Format::raw;
  /// Write whole lines as they come, from any running item (GNU parallel's --line-buffer).
  bool line_buffer = false;
  /// For a status line (a progress bar) on a terminal that also shows the output: called on
  /// the run's thread with `true` just before output is written to a terminal, and with `false`
  /// once that output is all written and ended a line. Erase the status line on `true`; draw it
  /// again only after `false` (Options::on_progress comes on), and output and status never
  /// share a line.
  std::function<void(bool writing)> on_terminal_output;
  /// Format::tag's prefix: this text, with replacement strings filled in per item, and a TAB
  /// (`--tagstring`). Empty: the item and a TAB. With Format::files, the file names get this
  /// prefix when it is set.
  std::string tag_string;
  /// Items write to stdout_fd and stderr_fd themselves, as they go: nothing is captured, the
  /// output of items running at once may mix (`-u`). The fastest way; results then hold no
  /// output.
  bool ungroup = false;
};

/// Running items on other machines, as GNU parallel's --sshlogin does: each host runs
/// `parmap --agent` over one ssh connection (or each Slurm step is one); commands are rendered
/// here and run there.
struct Remote {
  /// Hosts as -S takes them: "[N/]host", "user@host:port", "ssh -p 2222 host", or ":" for this
  /// machine; each may be a comma-separated list. Empty: items run on this machine only.
  std::vector<std::string> sshlogins;
  std::string ssh = "ssh";              ///< The ssh command, split at blanks (--ssh).
  /// parmap on the hosts (--remote-parmap). Empty: `parmap` on their PATH over ssh, and this
  /// very executable in Slurm steps (nodes share the filesystem it was started from).
  std::string remote_parmap;
  std::vector<std::string> transfer;    ///< File templates sent before each item (--transferfile).
  std::vector<std::string> returns;     ///< File templates brought back after it (--return).
  std::vector<std::string> basefiles;   ///< Files sent once per host (--basefile).
  bool cleanup = false;                 ///< Remove them there once used (--cleanup).
  std::vector<std::string> env; ///< Names of variables set for items there (--env).
  /// Run items in Slurm job steps of the allocation parmap runs in (--slurm): one long-lived
  /// step per slot, each a `parmap --agent`; -j steps, else as many as the allocation's tasks.
  bool slurm = false;
  /// salloc's arguments (--slurm-alloc): get an allocation first, run in it as --slurm does,
  /// and release it at the end. Empty: none.
  std::string slurm_alloc;
  /// Every item runs once on every host of `sshlogins` (--onall; --nonall is it with one item
  /// of no arguments), one at a time on each, as GNU parallel does: a host is one slot. The
  /// results come in input order, each item's hosts in turn (this machine's ":" first).
  bool on_all = false;
  bool uses_slurm() const { return slurm || !slurm_alloc.empty(); }
  /// Items run on ssh hosts or in Slurm steps (all of them, or some: -S :,host).
  bool runs_elsewhere() const { return !sshlogins.empty() || uses_slurm(); }
};

/// Options of one run. The defaults are the command line's.
struct Options {
  /// Worker slots; 0 means the number of CPUs.
  std::size_t jobs = 0;
  /// Per-item wall-clock limit in seconds; 0 means none.
  double timeout = 0;
  /// If > 0, the limit is this percentage of the median runtime of the items that succeeded so
  /// far (GNU parallel's `--timeout N%`); no limit applies before the first success.
  double timeout_percent = 0;
  /// Seconds between SIGTERM and SIGKILL when an item's process group is terminated.
  double kill_grace = 1.0;
  Halt halt = Halt::fail_fast();
  /// Extra attempts for a failed item before its failure counts.
  unsigned retries = 0;
  Order order = Order::input;
  /// Items per dispatch unit.
  std::size_t batch_size = 1;
  /// Batches dispatched but not yet delivered, at most; 0 means jobs + 16.
  std::size_t max_pending = 0;
  bool adaptive_tail = true;
  std::size_t tail_batches_per_core = 2;
  std::size_t tail_min_batch_size = 1;
  Shell shell = Shell::automatic;
  /// The shell of the one-word form, of --shell and of shell builtins (GNU parallel's
  /// PARALLEL_SHELL); empty means /bin/sh, and bash for an exported bash function.
  std::string shell_path;
  /// What stands for the arguments in the command (-I): "{}" unless renamed.
  std::string replace = "{}";
  Columns columns;
  Grouping grouping;
  /// Children read /dev/null instead of inheriting the caller's stdin.
  bool null_stdin = false;
  /// Seconds to wait between starting two items (GNU parallel's --delay).
  double delay = 0;
  /// With blocks of input (--pipe, --pipepart): how each reaches its command.
  BlockInput block_input = BlockInput::pipe;
  /// With blocks from a stream (--round-robin): instead of one job per block, at most one job
  /// per slot, each reading block after block on its stdin (the next block goes to the first
  /// job ready for one); a job is one result. Not with a checkpoint, retries or --cat.
  bool round_robin = false;

  /// SQLite checkpoint file; empty means none. A regular file, or nothing yet, in a directory
  /// this process can write (SQLite's WAL mode keeps PATH-wal and PATH-shm beside it).
  std::string checkpoint;
  bool resume = false;
  bool retry_failed = false;
  bool force = false;
  /// Commit after at most this many recorded items (and at least once a second).
  std::size_t checkpoint_every = 100;
  /// Options that change results, stored in the checkpoint's run record (shown by --report).
  std::string run_options;

  Forward forward;
  /// Each item "runs" by producing the command it would run, shell-quoted, as its stdout.
  bool dry_run = false;
  /// Fill Result::command with the command line as a shell-quoted string.
  bool record_command = false;
  /// Handle, while the run lasts, the signals that would end or stop the process (the CLI sets
  /// it; embedders may not). SIGINT, SIGTERM, SIGHUP and SIGQUIT unless they are ignored, and
  /// SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ, SIGVTALRM and SIGPROF while their action is
  /// the default: running items are terminated, the checkpoint committed, and
  /// parmap::Interrupted thrown. SIGTSTP, SIGTTIN and SIGTTOU while at the default: the items'
  /// process groups stop with the process and continue with it, and the time stopped does not
  /// count against `timeout`. An ignored signal stays ignored (for the items too); a handler of
  /// the program's own for the signals taken only at the default stays in place. Signals are
  /// acted on while the run advances (in imap's ++, map, or the async thread). The previous
  /// actions come back when the run ends; one run at a time per process may set it.
  bool handle_signals = false;
  /// Save outputs as GNU parallel's `--results NAME` does, instead of writing them to
  /// forward.stdout_fd: a tree NAME/1/ITEM/{stdout,stderr,seq}; a CSV, TSV or JSON-lines file
  /// when NAME ends in .csv, .tsv or .json ("-.csv" and the like: on forward.stdout_fd); one
  /// file per item (NAME, NAME.err, NAME.seq) when NAME has replacement strings, or one
  /// directory per item when it also ends in '/'. Empty: none.
  std::string results;
  /// GNU parallel's joblog, one line per delivered result: a file (truncated, with a header),
  /// "+FILE" (appended to), or "-" (forward.stdout_fd, after each item's output). Empty: none.
  std::string joblog;
  /// Called about once a second while the run lasts; a value changes the number of slots
  /// (growing starts more items at once; shrinking lets running items finish and starts fewer).
  /// nullopt keeps it. If it throws parmap::Error, the message is a warning (on
  /// forward.stderr_fd) and the count stays.
  std::function<std::optional<std::size_t>()> jobs_update;
  /// Each item's stdout starts with its command line, as dry_run prints it (`-v`).
  bool verbose = false;
  /// Items run at parmap's niceness plus this (`--nice`).
  int nice = 0;
  /// Items run in this directory; replacement strings are filled in per item, and "..." gives
  /// each item a fresh temporary directory, removed when it ends (`--wd`). Empty: parmap's own.
  /// On remote hosts (-S) it is relative to the login directory, and "..." is one fresh
  /// temporary directory per host, removed at the end.
  std::string work_dir;
  /// Run the items in random order (`--shuf`); the whole input is read first, into a
  /// temporary file. Sequence numbers follow the order the items run in.
  bool shuffle = false;
  /// Read the whole input ahead of dispatch (into a temporary file, not memory), so that
  /// Progress::total becomes known as soon as the input ends (`--bar`, `--eta` on a pipe).
  bool read_ahead = false;
  /// Called from the run's thread at most every `progress_interval` seconds, and at the end.
  std::function<void(const Progress&)> on_progress;
  double progress_interval = 0.1;
  /// Directory for spill files, spooled input, `--files` and `--wd ...`; empty means $TMPDIR or
  /// /tmp.
  std::string temp_dir;
  Remote remote;
};

} // namespace parmap
