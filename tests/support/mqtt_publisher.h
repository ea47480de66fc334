// Test support: a sensor publishing over MQTT — a real libmosquitto client with its own network
// thread (mosquitto_loop_start), which reconnects by itself after the broker went away, as a
// field device would. Used against tests/support/mosquitto_broker.h.
//
// Thread safety: Publish and WaitConnected may be called from any one thread at a time.
#ifndef SMARTBY_TESTS_SUPPORT_MQTT_PUBLISHER_H_
#define SMARTBY_TESTS_SUPPORT_MQTT_PUBLISHER_H_

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct mosquitto;

namespace smartby::testing {

class MqttPublisher {
 public:
  // Connects to 127.0.0.1:`port` in the background; over TLS, verifying the broker against
  // `ca_file`, when one is given.
  explicit MqttPublisher(int port, const std::string& ca_file = "");
  ~MqttPublisher();

  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // True once the broker accepted the connection (CONNACK), false after `timeout`.
  bool WaitConnected(absl::Duration timeout = absl::Seconds(30));

  // Publishes and, for QoS 1, waits for the broker's PUBACK: OK means the broker took the
  // message over. DEADLINE_EXCEEDED when no PUBACK came within `timeout`.
  absl::Status Publish(const std::string& topic, const std::string& payload, int qos = 1,
                       absl::Duration timeout = absl::Seconds(10));

 private:
  mosquitto* mosq_ = nullptr;
  absl::Mutex mu_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  std::set<int> acknowledged_ ABSL_GUARDED_BY(mu_);
};

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_MQTT_PUBLISHER_H_
