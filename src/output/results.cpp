#include "output/results.hpp"

#include "base/error.hpp"
#include "output/gnu_record.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <numeric>
#include <unistd.h>

namespace parmap {
namespace {

using Sink = std::function<void(std::string_view)>;

bool ends_with_nocase(std::string_view s, std::string_view suffix)
{
  return s.size() >= suffix.size() &&
         std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<long>(suffix.size()),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

/// Creates `dir` and its parents. Throws parmap::Error.
void make_dirs(const std::string& dir)
{
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw Error(fmt::format("--results: cannot create {}: {}", dir, ec.message()));
  }
}

Fd create_file(const std::string& path)
{
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!fd) {
    throw_errno("--results: cannot write " + path, errno);
  }
  return fd;
}

/// An argument as one directory name: GNU parallel's escapes, and at most NAME_MAX bytes.
std::string dir_name(std::string_view arg)
{
  std::string out;
  for (char c : arg) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\0':
      out += "\\0";
      break;
    case '/':
      out += "\\_";
      break;
    default:
      out.push_back(c);
    }
  }
  if (out.size() > 255) {
    out.resize(255);
  }
  return out;
}

/// Perl's numeric value of a string (its leading number, else 0), which GNU parallel sorts
/// the sources' names by before comparing them as text.
double leading_number(const std::string& s)
{
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
    ++i;
  }
  std::size_t end = i + (i < s.size() && (s[i] == '-' || s[i] == '+') ? 1 : 0);
  end = s.find_first_not_of("0123456789.", end);
  return std::strtod(s.substr(i, end == std::string::npos ? end : end - i).c_str(), nullptr);
}

/// A CSV field as GNU parallel writes it: quoted (with "" for ") when it holds a quote,
/// whitespace, the separator or NUL. `each` calls its argument with the field's pieces.
template <typename Each> void csv_field(Each&& each, char sep, const Sink& sink)
{
  std::string special("\" \t\n\r\f\v\0", 8);
  special.push_back(sep);
  bool quote = false;
  each([&](std::string_view piece) {
    quote = quote || piece.find_first_of(special) != std::string_view::npos;
  });
  if (!quote) {
    each(sink);
    return;
  }
  sink("\"");
  each([&](std::string_view piece) {
    for (auto q = piece.find('"'); q != std::string_view::npos; q = piece.find('"')) {
      sink(piece.substr(0, q + 1));
      sink("\"");
      piece.remove_prefix(q + 1);
    }
    sink(piece);
  });
  sink("\"");
}

/// GNU parallel's jsonquote: \ and " escaped, bytes 0-31 as \u00XX, the rest as they are.
void json_quoted(std::string_view piece, const Sink& sink)
{
  std::string out;
  for (char c : piece) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out.push_back(c);
    }
  }
  sink(out);
}

auto pieces_of(std::string_view text)
{
  return [text](const auto& fn) { fn(text); };
}

auto pieces_of(const Output& out)
{
  return [&out](const auto& fn) { out.for_each_chunk([&](std::string_view p) { fn(p); }); };
}

} // namespace

ResultsSaver::ResultsSaver(std::string name, bool templated, std::vector<std::string> arg_names)
    : m_name(std::move(name)), m_names(std::move(arg_names))
{
  m_kind = ends_with_nocase(m_name, ".csv")    ? Kind::csv
           : ends_with_nocase(m_name, ".tsv")  ? Kind::tsv
           : ends_with_nocase(m_name, ".json") ? Kind::json
           : templated                         ? Kind::templated
                                               : Kind::tree;
  if (m_kind == Kind::tree || m_kind == Kind::templated) {
    return;
  }
  m_to_stdout = m_name == "-.csv" || m_name == "-.tsv" || m_name == "-.json";
  if (!m_to_stdout) {
    m_table = create_file(m_name);
  }
}

std::string ResultsSaver::tree_dir(const std::vector<std::string>& args) const
{
  std::vector<std::string> names(args.size());
  std::vector<std::size_t> order(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    names[i] = i < m_names.size() ? m_names[i] : std::to_string(i + 1);
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    double na = leading_number(names[a]);
    double nb = leading_number(names[b]);
    return na != nb ? na < nb : names[a] < names[b];
  });
  std::string dir = m_name;
  for (std::size_t i : order) {
    dir += "/" + names[i] + "/" + dir_name(args[i]);
  }
  return dir;
}

void ResultsSaver::save_files(const Result& r,
                              const std::string& out,
                              const std::string& err,
                              const std::string& seq)
{
  auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) {
    make_dirs(parent);
  }
  write_all(create_file(seq).get(), std::to_string(r.seq), seq);
  r.out.write_to(create_file(out).get());
  r.err.write_to(create_file(err).get());
}

std::string ResultsSaver::save(const Result& r,
                               const std::vector<std::string>& args,
                               std::string_view command,
                               const std::string& path)
{
  if (m_kind == Kind::tree || (m_kind == Kind::templated && path.ends_with('/'))) {
    std::string dir = m_kind == Kind::tree ? tree_dir(args) + "/" : path;
    save_files(r, dir + "stdout", dir + "stderr", dir + "seq");
    return "";
  }
  if (m_kind == Kind::templated) {
    save_files(r, path, path + ".err", path + ".seq");
    return "";
  }
  std::string for_stdout;
  if (m_to_stdout) {
    record(r, args, command, [&](std::string_view piece) { for_stdout.append(piece); });
  } else {
    record(r, args, command,
           [this](std::string_view piece) { write_all(m_table.get(), piece, m_name); });
  }
  return for_stdout;
}

void ResultsSaver::record(const Result& r,
                          const std::vector<std::string>& args,
                          std::string_view command,
                          const Sink& sink)
{
  GnuRecord g = gnu_record(r);
  if (m_kind == Kind::json) {
    sink(fmt::format("{{ \"Seq\": {}, \"Host\": \"", g.seq));
    json_quoted(g.host, sink);
    sink(fmt::format("\", \"Starttime\": {}, \"JobRuntime\": {:.3f}, \"Send\": 0, \"Receive\": {}, "
                     "\"Exitval\": {}, \"Signal\": {}, \"Command\": \"",
                     g.start, g.runtime, g.receive, g.exitval, g.signal));
    json_quoted(command, sink);
    sink("\", \"V\": [ ");
    for (std::size_t i = 0; i < args.size(); ++i) {
      sink(i > 0 ? ",\"" : "\"");
      json_quoted(args[i], sink);
      sink("\"");
    }
    sink(" ], \"Stdout\": \"");
    r.out.for_each_chunk([&](std::string_view p) { json_quoted(p, sink); });
    sink("\", \"Stderr\": \"");
    r.err.for_each_chunk([&](std::string_view p) { json_quoted(p, sink); });
    sink("\" }\n");
    return;
  }
  char sep = m_kind == Kind::csv ? ',' : '\t';
  std::string s(1, sep);
  if (!m_header_done) {
    m_header_done = true; // GNU parallel's header: V1..Vn, or the sources' names
    sink(fmt::format("Seq{0}Host{0}Starttime{0}JobRuntime{0}Send{0}Receive{0}Exitval{0}Signal{0}"
                     "Command",
                     sep));
    for (std::size_t i = 0; i < args.size(); ++i) {
      sink(s);
      std::string v = i < m_names.size() ? m_names[i] : fmt::format("V{}", i + 1);
      csv_field(pieces_of(v), sep, sink);
    }
    sink(fmt::format("{0}Stdout{0}Stderr\n", sep));
  }
  sink(fmt::format("{}{}", g.seq, sep));
  csv_field(pieces_of(g.host), sep, sink);
  sink(fmt::format("{0}{1}{0}{2:.3f}{0}0{0}{3}{0}{4}{0}{5}{0}", sep, g.start, g.runtime,
                   g.receive, g.exitval, g.signal));
  csv_field(pieces_of(command), sep, sink);
  for (const auto& arg : args) {
    sink(s);
    csv_field(pieces_of(arg), sep, sink);
  }
  sink(s);
  csv_field(pieces_of(r.out), sep, sink);
  sink(s);
  csv_field(pieces_of(r.err), sep, sink);
  sink("\n");
}

} // namespace parmap
