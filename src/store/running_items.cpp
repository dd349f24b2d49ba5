#include "store/running_items.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace parmap {
namespace {

constexpr const char* k_table = R"sql(
  CREATE TABLE IF NOT EXISTS running_items (
    seq INTEGER PRIMARY KEY,
    item BLOB NOT NULL,
    occurrence INTEGER NOT NULL,
    started REAL NOT NULL,
    pgid INTEGER NOT NULL,
    leader_start INTEGER NOT NULL,
    boot_id TEXT NOT NULL
  );
)sql";

} // namespace

bool checkpoint_in_use(const std::string& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return false;
  }
  // Lines read "1: FLOCK  ADVISORY  WRITE 4321 fe:00:10952934 0 EOF" (major:minor:inode).
  std::string id = fmt::format(" {:02x}:{:02x}:{} ", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    if (line.find(" FLOCK ") != std::string::npos && line.find(id) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void RunningItems::create_table(sqlite3* db)
{
  sql::exec(db, k_table);
}

std::vector<RunningItem> RunningItems::read(sqlite3* db)
{
  std::vector<RunningItem> rows;
  sql::Statement exists(db, "SELECT count(*) FROM sqlite_master WHERE name = 'running_items'");
  exists.step();
  if (exists.column_int(0) == 0) {
    return rows;
  }
  sql::Statement q(db, "SELECT seq, item, occurrence, started, pgid, leader_start, boot_id "
                       "FROM running_items ORDER BY seq");
  while (q.step()) {
    RunningItem r;
    r.seq = static_cast<std::uint64_t>(q.column_int(0));
    r.item = q.column_text(1);
    r.occurrence = static_cast<std::uint64_t>(q.column_int(2));
    r.started = q.column_double(3);
    r.group.pgid = static_cast<pid_t>(q.column_int(4));
    r.group.leader_start = static_cast<std::uint64_t>(q.column_int(5));
    r.group.boot_id = q.column_text(6);
    r.group.seq = r.seq;
    rows.push_back(std::move(r));
  }
  return rows;
}

RunningItems::RunningItems(sqlite3* db)
    : m_db(db),
      m_insert(db, "INSERT OR REPLACE INTO running_items (seq, item, occurrence, started, pgid, "
                   "leader_start, boot_id) VALUES (?,?,?,?,?,?,?)"),
      m_delete(db, "DELETE FROM running_items WHERE seq = ?"), m_left(read(db))
{
}

void RunningItems::forget_left()
{
  if (!m_left.empty()) {
    sql::exec(m_db, "DELETE FROM running_items");
    m_left.clear();
  }
}

void RunningItems::started(RunningItem item)
{
  std::uint64_t seq = item.seq;
  item.started = std::chrono::duration<double>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
  m_unwritten[seq] = Waiting{std::move(item), Clock::now()};
}

void RunningItems::ended(std::uint64_t seq)
{
  m_unwritten.erase(seq);
  if (m_written.erase(seq) > 0) {
    m_delete.bind(1, static_cast<std::int64_t>(seq));
    m_delete.step();
    m_delete.reset();
  }
}

std::optional<Clock::time_point> RunningItems::due() const
{
  if (m_unwritten.empty()) {
    return std::nullopt;
  }
  auto first = std::min_element(m_unwritten.begin(), m_unwritten.end(), [](auto& a, auto& b) {
    return a.second.since < b.second.since;
  });
  return first->second.since + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(k_record_after));
}

void RunningItems::write_unwritten()
{
  for (auto& [seq, waiting] : m_unwritten) {
    RecordedGroup& g = waiting.item.group;
    if (g.leader_start == 0) {
      g.leader_start = process_start_ticks(g.pgid); // the leader is unreaped until it ends
    }
    if (g.leader_start == 0) {
      continue; // no /proc to tell this group from a later one: it cannot be found again
    }
    auto& q = m_insert;
    q.bind(1, static_cast<std::int64_t>(seq));
    q.bind_blob(2, waiting.item.item);
    q.bind(3, static_cast<std::int64_t>(waiting.item.occurrence));
    q.bind(4, waiting.item.started);
    q.bind(5, static_cast<std::int64_t>(g.pgid));
    q.bind(6, static_cast<std::int64_t>(g.leader_start));
    q.bind_text(7, boot_id());
    q.step();
    q.reset();
    m_written.insert(seq);
  }
  m_unwritten.clear();
}

} // namespace parmap
