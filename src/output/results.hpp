// ResultsSaver: GNU parallel's --results NAME. Each result's output is saved instead of
// printed: in a tree of directories named by its arguments, in a file or directory of its own,
// or as a row of a CSV, TSV or JSON-lines file, laid out exactly as GNU parallel lays them out.
#pragma once

#include "base/fd.hpp"
#include "parmap/result.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

class ResultsSaver {
public:
  /// `name` as given to --results; `templated` when it holds replacement strings (the caller
  /// then renders it per item); `arg_names` names the input sources (--header), empty for
  /// 1, 2, ... Opens a CSV, TSV or JSON file now; throws parmap::Error if it cannot.
  ResultsSaver(std::string name, bool templated, std::vector<std::string> arg_names);

  /// True for "-.csv", "-.tsv" and "-.json": the records go to stdout, from save().
  bool to_stdout() const { return m_to_stdout; }

  /// Saves one result: `args` are its arguments (one per input source), `command` its command
  /// line, `path` NAME rendered for it (used when templated). Returns the record for stdout
  /// when to_stdout(), else "". Throws parmap::Error when something cannot be written.
  std::string save(const Result& r,
                   const std::vector<std::string>& args,
                   std::string_view command,
                   const std::string& path);

  /// The directory path GNU parallel gives `args` under NAME: NAME/1/ARG1/2/ARG2 (or the
  /// sources' names, sorted as GNU sorts them), each argument with \ TAB NUL / written as
  /// \\ \t \0 \_ and cut to 255 bytes.
  std::string tree_dir(const std::vector<std::string>& args) const;

private:
  enum class Kind { tree, templated, csv, tsv, json };
  /// Writes the result's stdout, stderr and seq to these files, creating their directories.
  static void save_files(const Result& r,
                         const std::string& out,
                         const std::string& err,
                         const std::string& seq);
  /// Writes the CSV, TSV or JSON record (the header first, once) to `sink`, a piece at a time:
  /// an output is never held in memory whole.
  void record(const Result& r,
              const std::vector<std::string>& args,
              std::string_view command,
              const std::function<void(std::string_view)>& sink);

  std::string m_name;
  Kind m_kind = Kind::tree;
  std::vector<std::string> m_names;
  bool m_to_stdout = false;
  bool m_header_done = false;
  Fd m_table; ///< The CSV, TSV or JSON file, unless it is stdout.
};

} // namespace parmap
