// parmap::run_agent: the hidden `parmap --agent` mode, the far end of a remote connection.
#pragma once

namespace parmap {

/// Serves one controller (a parmap running items over ssh) on stdin and stdout: runs the
/// commands it sends with the local executor and sends their results back, until stdin closes.
/// Then every item still running is killed. Returns the exit status.
int run_agent();

} // namespace parmap
