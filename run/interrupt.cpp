// SIGINT / SIGTERM → a flag the training loops poll: see run/interrupt.h.
#include "run/interrupt.h"

#include <signal.h>
#include <unistd.h>

namespace sra {

namespace {

volatile sig_atomic_t g_requested = 0;
volatile sig_atomic_t g_signal = 0;
struct sigaction g_old_int, g_old_term;

extern "C" void on_signal(int sig) {
  if (g_requested) ::_exit(kInterruptedExit);  // the second signal: stop now
  g_signal = sig;
  g_requested = 1;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_requested = 0;
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking reads and writes resume; the loop sees the flag after the step
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

bool interrupt_requested() {
  return g_requested != 0;
}

void request_interrupt() {
  g_requested = 1;
}

int interrupt_signal() {
  return g_signal;
}

}  // namespace sra
