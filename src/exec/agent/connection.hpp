// Connection: one end of an agent connection on the reactor. Frames are read and decoded as
// they arrive; frames sent are queued (Outbox) and written together once the current round of
// events is handled; a ping goes out when nothing else did for a while, and a peer silent for
// too long counts as gone.
#pragma once

#include "base/fd.hpp"
#include "base/reactor.hpp"
#include "exec/agent/outbox.hpp"
#include "exec/agent/protocol.hpp"

#include <memory>
#include <string>

namespace parmap::agent {

class Connection {
public:
  class Handler {
  public:
    virtual void on_message(Message& message) = 0;
    /// The connection is over: the peer closed it, broke the protocol, stayed silent too long,
    /// or a write failed. Nothing is called after it. The handler must not destroy the
    /// Connection from inside a callback.
    virtual void on_closed(const std::string& why) = 0;

  protected:
    ~Handler() = default;
  };

  /// Reads frames from `in` and writes to `out` (both made non-blocking here). On the
  /// controller's side `expect_greeting` is set: the agent's greeting comes first.
  Connection(Reactor& reactor, Fd in, Fd out, Handler& handler, bool expect_greeting,
             SpillFactory& spill);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void send(const Message& message);
  void send_output(std::uint64_t seq, Stream stream, std::string_view bytes);
  void send_file(FileBegin header, Fd file, std::string error = {});
  /// Sends the regular file at `local` as `header` says (its mode taken from the file); one
  /// that cannot be opened goes as an error the receiver reports.
  void send_path(FileBegin header, const std::string& local);
  /// Queues bytes as they are (the greeting).
  void send_raw(std::string bytes);
  /// Pings after `interval` seconds without sending; gives up on a peer silent for `limit`
  /// seconds (0: never).
  void set_heartbeat(double interval, double limit);
  /// Stops (or resumes) handling incoming frames; they wait in the pipe meanwhile.
  void pause(bool paused);
  /// Writes what is queued now, blocking up to `seconds` (used when closing).
  void drain(double seconds);

  const FrameReader& reader() const { return m_reader; }
  bool closed() const { return m_closed; }
  /// The peer ended the stream (as opposed to this side giving up on it).
  bool peer_closed() const { return m_peer_closed; }
  /// Bytes queued in memory to send.
  std::size_t queued() const { return m_outbox.memory_bytes(); }

private:
  struct Watch final : Watcher {
    Connection* owner = nullptr;
    bool output = false;
    void on_ready(std::uint32_t) override { output ? owner->flush() : owner->read_ready(); }
  };

  void read_ready();
  void handle_frames();
  void flush();
  void flush_soon();
  void beat();
  void close(const std::string& why);

  Reactor& m_reactor;
  Fd m_in;
  Fd m_out;
  Handler& m_handler;
  FrameReader m_reader;
  Outbox m_outbox;
  Watch m_in_watch;
  Watch m_out_watch;
  bool m_out_polled = false;
  bool m_paused = false;
  bool m_closed = false;
  bool m_peer_closed = false;
  Reactor::TimerId m_flush_timer = 0;
  Reactor::TimerId m_beat_timer = 0;
  double m_interval = 0;
  double m_limit = 0;
  Clock::time_point m_last_in;
  Clock::time_point m_last_out;
  std::unique_ptr<char[]> m_read_buf; ///< Allocated at the first read, not zero-filled.
};

} // namespace parmap::agent
