// Command templates: parsed once, rendered per command to the argv to execute: the words with
// the values in them (direct exec), or a shell script that refers to the values as parameters.
#pragma once

#include "exec/replacement.hpp"
#include "exec/shell_script.hpp"
#include "parmap/options.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// How a template is read and run.
struct TemplateOptions {
  Shell shell = Shell::automatic;
  Spellings spellings;
  Several several = Several::words;
  /// The shell that runs the one-word form, --shell, and shell builtins.
  std::string shell_path = "/bin/sh";
  /// The first word is a shell builtin or an exported shell function, not a program: the argv
  /// runs through shell_path as its "$@", so the values stay data.
  bool through_shell = false;
  /// Without a replacement string the arguments are appended, unless false (--pipe: the block
  /// goes to stdin, and there is no argument).
  bool append_args = true;
};

/// What a command line costs exec(): its strings with their NULs (what xargs' and GNU
/// parallel's -s count), how many strings (each also takes a pointer), and the longest string
/// that grows with the arguments (a joined word, the shell script), which must stay under the
/// kernel's limit for one string.
struct LineSize {
  std::size_t bytes = 0;
  std::size_t strings = 0;
  std::size_t longest = 0;

  LineSize& operator+=(const LineSize& o)
  {
    bytes += o.bytes;
    strings += o.strings;
    longest += o.longest;
    return *this;
  }
};

/// A parsed command template. Immutable after construction; rendering is a pure function of
/// (template, arguments, seq, slot), so a remote controller renders exactly what runs.
class CommandTemplate {
public:
  /// Throws parmap::Error when `words` is empty, the first word is empty, a word holds a NUL
  /// byte, or the template uses GNU parallel syntax parmap does not have.
  CommandTemplate(std::vector<std::string> words, TemplateOptions options);
  CommandTemplate(std::vector<std::string> words, Shell shell)
      : CommandTemplate(std::move(words), with_shell(shell))
  {
  }

  /// True when rendered commands run as a shell script (the one-word form, or --shell).
  bool uses_shell() const { return m_script.has_value(); }
  /// True when the template names at least one replacement string.
  bool has_replacement() const { return m_has_replacement; }

  /// The argv to execute. Direct mode puts the values into the words; with no replacement
  /// string the arguments are appended. Shell mode never puts a value into the script: the
  /// script refers to positional parameters ("${1}"...) and the values follow it as arguments:
  /// SHELL -c SCRIPT sh VALUE... So no value runs as code, whatever quotes, $(...),
  /// here-documents or comments the template itself uses. Returns why these values cannot be
  /// run (a value evaluated as shell arithmetic that is not a number); argv is complete anyway.
  [[nodiscard]] std::optional<std::string> render(const RenderContext& ctx,
                                                  std::vector<std::string>& argv) const;
  /// The command as a user could paste it into sh, every word shell-quoted.
  std::string display(const RenderContext& ctx) const;
  /// Shell mode: the script passed to SHELL -c (with {#} and {%} filled in).
  std::string script(const RenderContext& ctx) const;
  /// The template as written, with "sh -c " in front when it runs through the shell (stored
  /// in checkpoints to detect a changed command).
  std::string text() const;
  /// For `sh -c 'echo {}' ...` (a shell's -c script holding a replacement string, run
  /// directly): the values are pasted into the script as text, as GNU parallel and xargs -I do.
  /// A one-line warning naming the one-word form that passes them as data; nullopt otherwise.
  std::optional<std::string> pasted_script_warning() const;

  /// The size of the command with no arguments. Together with argument_size() for each
  /// argument and positional_values() times the longest argument, an upper bound of the
  /// command's size for those arguments, exact for a direct command without positional values
  /// (so -s counts as GNU parallel's does). For grouping items up to the line's limit.
  LineSize base_size() const;
  /// What one more argument adds to the command's size.
  LineSize argument_size(std::string_view arg) const;
  /// How many values in the template stand for one argument each ({1}, {-1}, {name}).
  std::size_t positional_values() const;

  const std::vector<std::string>& words() const { return m_words; }
  const TemplateOptions& options() const { return m_options; }

private:
  static TemplateOptions with_shell(Shell shell)
  {
    TemplateOptions o;
    o.shell = shell;
    return o;
  }
  void render_word(const Tokens& word, const RenderContext& ctx,
                   std::vector<std::string>& argv) const;

  std::vector<std::string> m_words;
  TemplateOptions m_options;
  std::vector<Tokens> m_parsed;
  std::optional<ShellScript> m_script;
  bool m_has_replacement = false;
  bool m_append = false; ///< The arguments follow the words (no replacement string names them).
};

/// Why these arguments cannot be passed to any command: one was cut for being longer than an
/// argument may be (`oversize` is its size in the input, 0 if none was), or one holds a NUL
/// byte. The item then fails with exit status 126 instead of running.
std::optional<std::string> unpassable(std::span<const std::string> args, std::uint64_t oversize);

/// A text with replacement strings, for options that name things per command (--tagstring,
/// --wd, --results): parsed once, rendered per command, nothing appended, nothing quoted; {}
/// stands for the arguments joined by spaces.
class TextTemplate {
public:
  explicit TextTemplate(std::string_view text) : m_word(parse_word(text, Spellings{})) {}
  bool has_replacement() const;
  std::string render(const RenderContext& ctx) const;

private:
  Tokens m_word;
};

/// Splits a command given as one string (--ssh "ssh -i key") into words at blanks.
std::vector<std::string> split_words(std::string_view text);
/// True when `word` (replacement strings aside) contains characters the shell would interpret.
bool has_shell_syntax(std::string_view word);
bool has_shell_syntax(const Tokens& word);

} // namespace parmap
