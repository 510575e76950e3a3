// Ctrl-C that saves: SIGINT and SIGTERM ask a training loop to stop at the next step boundary.
//
// InterruptGuard (one per run, in run_train / run_rl) installs handlers for SIGINT and SIGTERM and puts
// the previous ones back when it goes out of scope. The first signal only sets an async-signal-safe flag
// (volatile sig_atomic_t); the loops poll interrupt_requested() between steps, finish the step they are
// in, write a checkpoint and return kInterruptedExit (130, the shell's code for SIGINT), which the CLI
// exits with. A second signal while the flag is set calls _exit(130) at once (a stuck save, a user who
// means it). request_interrupt() sets the flag as a signal would (tests); a new guard clears it.
#pragma once

namespace sra {

inline constexpr int kInterruptedExit = 130;

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

bool interrupt_requested();
void request_interrupt();
// The signal number that set the flag (SIGINT, SIGTERM), 0 for request_interrupt or none.
int interrupt_signal();

}  // namespace sra
