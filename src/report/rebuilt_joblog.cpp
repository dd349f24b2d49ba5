// write_joblog_report(): `parmap --report --joblog FILE`, GNU parallel's joblog rebuilt from a
// checkpoint's run history, in the lines the live --joblog writes.
#include "parmap/report.hpp"

#include "output/joblog.hpp"
#include "store/history.hpp"
#include "store/report.hpp"

#include <map>

namespace parmap {

void write_joblog_report(const std::string& path,
                         const std::function<void(std::string_view)>& write)
{
  ReadableCheckpoint cp = open_for_report(path);
  History history(cp.db.get(), path); // one snapshot: sessions and attempts agree
  std::map<std::int64_t, const ReportSession*> sessions;
  for (const ReportSession& s : history.sessions()) {
    sessions.emplace(s.id, &s);
  }
  write(Joblog::header());
  // GNU parallel logs a job once, however often it was retried: its result.
  sql::Statement q = history.select(k_attempt_columns, "WHERE is_result ORDER BY session, seq");
  while (history.next(q)) {
    ReportAttempt a = attempt_at(q);
    auto session = sessions.find(a.session);
    std::string command = session != sessions.end() ? command_line(*session->second, a) : "";
    write(Joblog::line(gnu_record(a), command));
  }
}

} // namespace parmap
