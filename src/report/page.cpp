// write_html_report(): the page's frame, the summary --report prints, and the charts between.
#include "report/page.hpp"

#include "parmap/parmap.hpp"
#include "store/report.hpp"

#include <ctime>

namespace parmap {
namespace report {
namespace {

// Colours: the Okabe-Ito palette, told apart with any colour vision.
constexpr const char* k_style = R"css(
:root{--ok:#009E73;--failed:#D55E00;--timeout:#E69F00;--killed:#CC79A7;
--interrupted:#999;--replayed:#56B4E9}
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:18px 0 0}.meta{color:#555;margin:2px 0 6px}
table{border-collapse:collapse}th,td{padding:2px 14px 2px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#444;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f5f5f5;padding:6px 8px;margin:2px 0 12px;white-space:pre-wrap;
word-break:break-all}
svg{display:block;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#444}
.stripe{fill:#f3f3f3}.grid{stroke:#e2e2e2}.axis{stroke:#888}.hit{fill:transparent}
.hit:hover{fill:rgba(0,0,0,.06)}.bar:hover,.agg:hover{stroke:#000}
.median{stroke:#333;stroke-dasharray:4 3}.limit{stroke:var(--failed);stroke-dasharray:7 3}
.ok{fill:var(--ok)}.failed{fill:var(--failed)}.timeout{fill:var(--timeout)}
.killed{fill:var(--killed)}.interrupted{fill:var(--interrupted)}.retried{fill-opacity:.5}
.key{margin-right:14px;white-space:nowrap}.key::before{content:"";display:inline-block;
width:11px;height:11px;margin-right:5px;vertical-align:-1px;background:var(--c)}
.key.ok{--c:var(--ok)}.key.failed{--c:var(--failed)}.key.timeout{--c:var(--timeout)}
.key.killed{--c:var(--killed)}.key.interrupted{--c:var(--interrupted)}
.key.replayed{--c:var(--replayed)}
)css";

void write_head(Page& page, const std::string& path)
{
  // No script, and nothing may load: the page reads the same offline, and text from the
  // checkpoint could never run even if it escaped its escaping.
  page.add("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width, "
           "initial-scale=1\">\n<title>parmap report: {}</title>\n<style>{}</style>\n</head>"
           "<body>\n<h1>parmap report</h1>\n<p class=\"meta\"><code>{}</code> \u00b7 written {} "
           "by parmap {}</p>\n",
           html(path, 200), k_style, html(path),
           format_clock(static_cast<double>(std::time(nullptr))), version());
}

void write_summary(Page& page, const CheckpointReport& r, std::size_t sessions)
{
  page.add("<section id=\"summary\"><h2>Summary</h2>\n<table>\n<tr><th>command</th><td><code>");
  page.text(r.command);
  page.add("</code></td></tr>\n<tr><th>options</th><td><code>");
  page.text(r.options);
  page.add("</code></td></tr>\n<tr><th>started</th><td>{} (parmap {}){}</td></tr>\n",
           format_clock(r.created), html(r.version),
           sessions == 2  ? ", resumed once"
           : sessions > 2 ? fmt::format(", resumed {} times", sessions - 1)
                          : "");
  page.add("<tr><th>done</th><td>{}: <span class=\"key ok\">{} ok</span><span class=\"key "
           "failed\">{} failed</span><span class=\"key timeout\">{} timed out</span><span "
           "class=\"key killed\">{} killed by a signal</span></td></tr>\n",
           format_count(r.total), format_count(r.ok), format_count(r.failed),
           format_count(r.timeout), format_count(r.signaled));
  page.add("<tr><th>busy time</th><td>{} in all</td></tr>\n</table>\n</section>\n",
           format_seconds(r.busy_seconds));
}

void write_hosts(Page& page, const CheckpointReport& r)
{
  if (r.hosts.empty()) {
    return;
  }
  page.add("<section id=\"hosts\"><h2>Hosts</h2>\n<table>\n<tr><th>host</th><th>done</th>"
           "<th>failed</th><th>busy</th><th>Slurm steps</th></tr>\n");
  for (const HostReport& h : r.hosts) {
    page.add("<tr><td><code>");
    page.text(h.host, 200);
    page.add("</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
             "<td class=\"num\">{}</td><td>",
             format_count(h.done), format_count(h.failed), format_seconds(h.busy_seconds));
    for (const std::string& step : h.steps) {
      page.add("<code>");
      page.text(step, 40);
      page.add("</code> ");
    }
    page.add("</td></tr>\n");
  }
  page.add("</table>\n</section>\n");
}

void write_running(Page& page, const CheckpointReport& r)
{
  if (r.running.empty()) {
    return;
  }
  page.add("<section id=\"running\"><h2>{}</h2>\n<table>\n",
           r.run_active ? "Running now" : "Left running by a run that was killed");
  for (const ReportRunning& it : r.running) {
    page.add("<tr><td class=\"num\">#{}</td><td><code>", it.seq);
    page.text(it.item, 300);
    page.add("</code></td><td>process group {}{}</td></tr>\n", it.pgid,
             r.run_active ? "" : it.alive ? ", still running" : ", gone");
  }
  page.add("</table>\n</section>\n");
}

void write_slowest(Page& page, const CheckpointReport& r)
{
  if (r.slowest.empty()) {
    return;
  }
  page.add("<section id=\"slowest\"><h2>Slowest</h2>\n<table>\n");
  for (const auto& it : r.slowest) {
    page.add("<tr><td class=\"num\">{}</td><td class=\"num\">#{}</td><td>",
             format_seconds(it.duration), it.seq);
    page.text(it.item, 300);
    page.add("</td></tr>\n");
  }
  page.add("</table>\n</section>\n");
}

void write_failures(Page& page, const CheckpointReport& r)
{
  if (r.failures.empty()) {
    return;
  }
  page.add("<section id=\"failures\"><h2>Failures</h2>\n");
  for (const auto& it : r.failures) {
    page.add("<div class=\"failure\"><p><span class=\"key {}\">#{}</span><code>",
             it.status == Status::timeout    ? "timeout"
             : it.status == Status::signaled ? "killed"
                                             : "failed",
             it.seq);
    page.text(it.item, 300);
    page.add("</code> ({}, {} attempt{})</p>\n<pre>",
             describe_end(it.status, it.exit_code, it.signal), it.attempts,
             it.attempts == 1 ? "" : "s");
    page.text(it.stderr_tail, SIZE_MAX, Lines::keep);
    page.add("</pre></div>\n");
  }
  page.add("</section>\n");
}

} // namespace

void Page::flush()
{
  if (!m_buffer.empty()) {
    m_write(m_buffer);
    m_buffer.clear();
  }
}

} // namespace report

void write_html_report(const std::string& path, const std::function<void(std::string_view)>& write)
{
  ReadableCheckpoint cp = open_for_report(path);
  History history(cp.db.get(), path);
  CheckpointReport summary = read_report(cp, path, 10, 300);
  report::Page page(write);
  report::write_head(page, path);
  report::write_summary(page, summary, history.sessions().size());
  report::write_hosts(page, summary);
  report::write_timeline(page, history);
  report::write_durations(page, history);
  report::write_slowest(page, summary);
  report::write_failures(page, summary);
  report::write_running(page, summary);
  page.add("</body></html>\n");
  page.flush();
}

} // namespace parmap
