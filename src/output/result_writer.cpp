#include "output/result_writer.hpp"

#include "base/error.hpp"
#include "output/format.hpp"
#include "output/spill.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace parmap {

ResultWriter::ResultWriter(const Options& options, bool results_templated, OutputWriter* writer)
    : m_format(options.forward.format), m_temp_dir(temp_directory(options.temp_dir)),
      m_writer(writer)
{
  if (!options.results.empty()) {
    m_results.emplace(options.results, results_templated, std::vector<std::string>{});
  }
  if (!options.joblog.empty()) {
    m_joblog.emplace(options.joblog);
  }
  bool wants_stdout = (m_results && m_results->to_stdout()) || (m_joblog && m_joblog->to_stdout());
  if (wants_stdout && writer == nullptr) {
    throw Error("--results -.csv and --joblog - write to stdout: set forward.stdout_fd");
  }
}

void ResultWriter::start()
{
  if (m_joblog && m_joblog->to_stdout()) {
    m_writer->write(0, Joblog::header());
  }
}

bool ResultWriter::streams() const
{
  return !m_results && (m_format == Format::raw || m_format == Format::tag);
}

void ResultWriter::write(const Result& r, const ResultLabels& labels, bool streamed)
{
  if (m_results) {
    std::string record = m_results->save(r, labels.args, r.command, labels.results_path);
    if (!record.empty()) {
      m_writer->write(0, std::move(record));
    }
  } else if (!streamed && m_writer != nullptr) {
    write_output(r, labels);
  }
  if (m_joblog && m_joblog->to_stdout()) {
    m_writer->write(0, Joblog::line(r, r.command));
  } else if (m_joblog) {
    m_joblog->add(r, r.command);
  }
}

void ResultWriter::write_output(const Result& r, const ResultLabels& labels)
{
  switch (m_format) {
  case Format::json:
    m_writer->write(0, make_json_record(r));
    break;
  case Format::raw:
    write_raw(0, r.out);
    write_raw(1, r.err);
    break;
  case Format::tag:
    for (int stream : {0, 1}) {
      const auto& bytes = detail::OutputAccess::handle(stream == 0 ? r.out : r.err);
      if (bytes) {
        m_writer->write(stream, std::make_unique<StoredPiece>(
                                    bytes, std::make_unique<LineTagger>(labels.tag)));
      }
    }
    break;
  case Format::files:
    m_writer->write(0, labels.tag + save_to_file(r.out) + "\n");
    write_raw(1, r.err);
    break;
  }
}

void ResultWriter::write_raw(int stream, const Output& out)
{
  // Spilled ranges go by sendfile, what is in memory as a view: no copy in parmap.
  const auto& bytes = detail::OutputAccess::handle(out);
  if (!bytes) {
    return;
  }
  for (const Extent& e : bytes->extents) {
    m_writer->write(stream, FileRange{bytes, bytes->spill->fd(), e.offset, e.size});
  }
  if (!bytes->memory.empty()) {
    m_writer->write(stream, std::make_unique<BytesPiece>(bytes, std::string_view(bytes->memory)));
  }
}

std::string ResultWriter::save_to_file(const Output& out) const
{
  // GNU parallel's names ($TMPDIR/parXXXXX.par), so that cleaning up after it still works.
  std::string path = m_temp_dir + "/parXXXXXX.par";
  Fd fd(::mkostemps(path.data(), 4, O_CLOEXEC));
  if (!fd) {
    throw_errno("--files: cannot create a file in " + m_temp_dir, errno);
  }
  out.write_to(fd.get());
  return path;
}

} // namespace parmap
