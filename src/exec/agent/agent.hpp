// Agent: `parmap --agent`, the far end of a remote connection. It greets, takes a Setup, then
// runs the commands the controller rendered (Run) with the local executor: own process groups,
// timeouts enforced here, output captured and sent back; it receives and returns files. When
// its input closes (the controller or the connection is gone) it kills every item's group,
// cleans up and exits.
#pragma once

namespace parmap::agent {

/// Serves one controller on descriptors `in` and `out` until it goes; returns the exit status.
int serve(int in, int out);

} // namespace parmap::agent
