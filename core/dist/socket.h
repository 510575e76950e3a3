// Blocking TCP with deadlines, for the rendezvous store and the CPU collectives: every connect, accept,
// send and receive waits at most until an absolute deadline (steady_now() + timeout) and then throws
// "[dist] <what>: no answer within T s"; a closed or reset peer throws "[dist] <what>: the peer closed
// the connection". `what` names the peer rank and the operation (e.g. "all_reduce with rank 1").
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sra::dist {

double steady_now();  // seconds on a monotonic clock

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }
  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close();
  // `deadline` is absolute (steady_now() scale); `timeout_s` only words the error.
  void send_all(const void* data, size_t n, double deadline, const std::string& what) const;
  void recv_all(void* data, size_t n, double deadline, const std::string& what) const;
  void send_u64(uint64_t v, double deadline, const std::string& what) const;
  uint64_t recv_u64(double deadline, const std::string& what) const;
  void send_str(const std::string& s, double deadline, const std::string& what) const;
  std::string recv_str(double deadline, const std::string& what) const;

 private:
  int fd_ = -1;
};

// Connects to host:port, retrying refused connections (the server may not listen yet) until deadline.
Socket connect_to(const std::string& host, int port, double deadline, const std::string& what);

class Listener {
 public:
  explicit Listener(int port);  // 0: an ephemeral port; listens on every address
  int port() const { return port_; }
  Socket accept(double deadline, const std::string& what) const;
  int fd() const { return sock_.fd(); }

 private:
  Socket sock_;
  int port_ = 0;
};

}  // namespace sra::dist
