// The TCP rendezvous store (see core/dist/store.h): rank 0's poll loop and every rank's client calls.
#include "core/dist/store.h"

#include <poll.h>

#include <map>
#include <vector>

#include "core/check.h"

namespace sra::dist {

Store::Store(const DistEnv& env, double timeout_s) : env_(env), timeout_s_(timeout_s) {
  if (env_.rank == 0) {
    listener_ = std::make_unique<Listener>(env_.master_port);
    server_ = std::thread([this] { serve(); });
  }
  const std::string what = "rank " + std::to_string(env_.rank) + ": connecting to the store (rank 0) at " +
                           env_.master_addr + ":" + std::to_string(env_.master_port);
  conn_ = connect_to(env_.master_addr, env_.master_port, steady_now() + timeout_s_, what);
}

Store::~Store() {
  conn_.close();
  if (server_.joinable()) {
    stop_ = true;
    server_.join();
  }
}

void Store::set(const std::string& key, const std::string& value) {
  const std::string what = "rank " + std::to_string(env_.rank) + ": store set '" + key + "'";
  const double deadline = steady_now() + timeout_s_;
  const char op = 'S';
  conn_.send_all(&op, 1, deadline, what);
  conn_.send_str(key, deadline, what);
  conn_.send_str(value, deadline, what);
}

std::string Store::get(const std::string& key) {
  const std::string what = "rank " + std::to_string(env_.rank) + ": store key '" + key +
                           "' (did every rank start? rank 0 serves the store on " + env_.master_addr + ":" +
                           std::to_string(env_.master_port) + ")";
  const double deadline = steady_now() + timeout_s_;
  const char op = 'G';
  conn_.send_all(&op, 1, deadline, what);
  conn_.send_str(key, deadline, what);
  return conn_.recv_str(deadline, what);
}

// One thread: accept clients, read their requests, answer gets once their key is set. A client that
// closes its connection (its rank ended) is dropped; the loop ends with rank 0's Store.
void Store::serve() {
  struct Client {
    Socket sock;
    std::vector<std::string> waiting;  // keys this client's pending gets wait for, in order
  };
  std::vector<Client> clients;
  std::map<std::string, std::string> kv;
  const double msg_timeout = 10.0;  // a request is sent whole: its bytes follow the first at once
  while (!stop_) {
    std::vector<pollfd> fds{{listener_->fd(), POLLIN, 0}};
    for (const Client& c : clients) fds.push_back({c.sock.fd(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      try {
        clients.push_back({listener_->accept(steady_now() + msg_timeout, "store accept"), {}});
      } catch (const Error&) {
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Client& c = clients[i - 1];
      try {
        char op = 0;
        c.sock.recv_all(&op, 1, steady_now() + msg_timeout, "store request");
        std::string key = c.sock.recv_str(steady_now() + msg_timeout, "store request");
        if (op == 'S') {
          kv[key] = c.sock.recv_str(steady_now() + msg_timeout, "store request");
        } else {
          c.waiting.push_back(key);
        }
      } catch (const Error&) {
        c.sock.close();  // the client's rank ended (or sent garbage): forget it
      }
    }
    // answer every pending get whose key exists (a client's gets in order)
    for (Client& c : clients) {
      while (c.sock.valid() && !c.waiting.empty() && kv.count(c.waiting.front())) {
        try {
          c.sock.send_str(kv[c.waiting.front()], steady_now() + msg_timeout, "store answer");
        } catch (const Error&) {
          c.sock.close();
        }
        c.waiting.erase(c.waiting.begin());
      }
    }
    std::erase_if(clients, [](const Client& c) { return !c.sock.valid(); });
  }
}

}  // namespace sra::dist
