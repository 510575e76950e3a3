// TCP with deadlines: poll() before every read, write and accept (see core/dist/socket.h).
#include "core/dist/socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/check.h"

namespace sra::dist {

double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {

// Waits until fd is ready for `events` or the deadline passes (throws).
void wait_ready(int fd, short events, double deadline, const std::string& what) {
  for (;;) {
    const double left = deadline - steady_now();
    SRA_CHECK(left > 0, "[dist] ", what, ": no answer before the timeout (distributed.timeout_s)");
    pollfd p{fd, events, 0};
    int ms = int(std::min(left * 1000.0 + 1.0, 1e9));
    int r = ::poll(&p, 1, ms);
    if (r > 0) return;  // ready, or an error / hang-up the next call reports
    SRA_CHECK(r == 0 || errno == EINTR, "[dist] ", what, ": poll failed: ", std::strerror(errno));
  }
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Socket::send_all(const void* data, size_t n, double deadline, const std::string& what) const {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    wait_ready(fd_, POLLOUT, deadline, what);
    ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    SRA_CHECK(k > 0, "[dist] ", what, ": the peer closed the connection (",
              k < 0 ? std::strerror(errno) : "closed", ")");
    p += k;
    n -= size_t(k);
  }
}

void Socket::recv_all(void* data, size_t n, double deadline, const std::string& what) const {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    wait_ready(fd_, POLLIN, deadline, what);
    ssize_t k = ::recv(fd_, p, n, MSG_DONTWAIT);
    if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    SRA_CHECK(k > 0, "[dist] ", what, ": the peer closed the connection (",
              k < 0 ? std::strerror(errno) : "end of stream", ")");
    p += k;
    n -= size_t(k);
  }
}

void Socket::send_u64(uint64_t v, double deadline, const std::string& what) const {
  send_all(&v, sizeof(v), deadline, what);
}

uint64_t Socket::recv_u64(double deadline, const std::string& what) const {
  uint64_t v = 0;
  recv_all(&v, sizeof(v), deadline, what);
  return v;
}

void Socket::send_str(const std::string& s, double deadline, const std::string& what) const {
  send_u64(s.size(), deadline, what);
  send_all(s.data(), s.size(), deadline, what);
}

std::string Socket::recv_str(double deadline, const std::string& what) const {
  uint64_t n = recv_u64(deadline, what);
  SRA_CHECK(n < (uint64_t(1) << 40), "[dist] ", what, ": bad message length ", n);
  std::string s(n, '\0');
  recv_all(s.data(), n, deadline, what);
  return s;
}

Socket connect_to(const std::string& host, int port, double deadline, const std::string& what) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  SRA_CHECK(rc == 0 && res, "[dist] ", what, ": cannot resolve '", host, "': ", ::gai_strerror(rc));
  std::string last = "timed out";
  for (double pause = 0.01;; pause = std::min(pause * 2, 0.5)) {
    Socket s(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.valid() && ::connect(s.fd(), res->ai_addr, res->ai_addrlen) == 0) {
      ::freeaddrinfo(res);
      set_nodelay(s.fd());
      return s;
    }
    last = std::strerror(errno);
    if (steady_now() + pause > deadline) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }
  ::freeaddrinfo(res);
  throw Error(detail::concat("[dist] ", what, ": cannot connect to ", host, ":", port,
                             " before the timeout (distributed.timeout_s): ", last));
}

Listener::Listener(int port) : sock_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  SRA_CHECK(sock_.valid(), "[dist] socket: ", std::strerror(errno));
  int one = 1;
  ::setsockopt(sock_.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(uint16_t(port));
  SRA_CHECK(::bind(sock_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0,
            "[dist] cannot listen on port ", port, ": ", std::strerror(errno),
            " (another job on MASTER_PORT? set MASTER_PORT)");
  SRA_CHECK(::listen(sock_.fd(), 256) == 0, "[dist] listen: ", std::strerror(errno));
  socklen_t len = sizeof(a);
  ::getsockname(sock_.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

Socket Listener::accept(double deadline, const std::string& what) const {
  for (;;) {
    wait_ready(sock_.fd(), POLLIN, deadline, what);
    int fd = ::accept4(sock_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay(fd);
      return Socket(fd);
    }
    SRA_CHECK(errno == EINTR || errno == EAGAIN || errno == ECONNABORTED, "[dist] ", what,
              ": accept failed: ", std::strerror(errno));
  }
}

}  // namespace sra::dist
