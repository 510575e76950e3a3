// The rendezvous store: a key → bytes map served over TCP by rank 0 on MASTER_ADDR:MASTER_PORT (torchrun's
// TCPStore, reduced to what we need). Every rank, rank 0 included, is a client: set(key, value) stores,
// get(key) waits until some rank has set the key. Keys are never removed (a job uses a handful).
//
// Wire format (client → server): op byte 'S' | 'G', then key and value as u64 length + bytes ('G': key
// only); the server answers a 'G' with the value once the key exists. The server is one thread polling
// the listener and every client (rank 0's process); it stops when rank 0's Store is destroyed.
// Timeouts: connecting and every get wait at most timeout_s: "[dist] rank R: store key 'K' was not set
// within T s (did every rank start? rank 0 serves the store on ADDR:PORT)".
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/dist/env.h"
#include "core/dist/socket.h"

namespace sra::dist {

class Store {
 public:
  Store(const DistEnv& env, double timeout_s);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void set(const std::string& key, const std::string& value);
  std::string get(const std::string& key);
  const DistEnv& env() const { return env_; }
  double timeout_s() const { return timeout_s_; }

 private:
  void serve();  // rank 0's server thread
  DistEnv env_;
  double timeout_s_;
  std::unique_ptr<Listener> listener_;  // rank 0
  std::thread server_;
  std::atomic<bool> stop_{false};
  Socket conn_;  // this rank's client connection
};

}  // namespace sra::dist
