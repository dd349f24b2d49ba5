// ResultWriter: writes each delivered result the way the run asked: its output raw, tagged, as
// a JSON record or as the name of a file holding it (--files), or saved where --results says;
// then its --joblog line.
#pragma once

#include "output/joblog.hpp"
#include "output/results.hpp"
#include "output/writer.hpp"
#include "parmap/options.hpp"
#include "parmap/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parmap {

/// What the engine knows of a result besides the Result: how it is labelled in the output.
struct ResultLabels {
  std::string tag;                 ///< The line prefix of Format::tag, TAB included.
  std::vector<std::string> args;   ///< Its arguments, one per input source.
  std::string results_path;        ///< Options::results rendered for it, when templated.
};

class ResultWriter {
public:
  /// Opens the joblog and the --results file, if any; `results_templated` says whether
  /// Options::results holds replacement strings. `writer` is null when results are not
  /// forwarded (the API's own results): then only files are written. Throws parmap::Error.
  ResultWriter(const Options& options, bool results_templated, OutputWriter* writer);

  /// Writes the joblog's header when the joblog goes to stdout (at the start of the run).
  void start();
  /// Writes `r`: its output (unless `streamed`: it went out as it came), its --results
  /// record and its joblog line. Throws parmap::Error when a file cannot be written.
  void write(const Result& r, const ResultLabels& labels, bool streamed);
  /// True when items' output goes to the writer as it comes (raw or tagged), so that it may
  /// stream; false when it is saved (--results, --files) or reformatted whole (--json).
  bool streams() const;

private:
  void write_output(const Result& r, const ResultLabels& labels);
  void write_raw(int stream, const Output& out);
  /// --files: the output in a new file of the temporary directory; returns its name.
  std::string save_to_file(const Output& out) const;

  Format m_format;
  std::string m_temp_dir;
  OutputWriter* m_writer;
  std::optional<ResultsSaver> m_results;
  std::optional<Joblog> m_joblog;
};

} // namespace parmap
