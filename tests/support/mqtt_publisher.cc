#include "tests/support/mqtt_publisher.h"

#include <mosquitto.h>
#include <unistd.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace smartby::testing {

MqttPublisher::MqttPublisher(int port, const std::string& ca_file) {
  static std::once_flag init;
  std::call_once(init, [] { mosquitto_lib_init(); });
  mosq_ = mosquitto_new(absl::StrCat("smartby-test-publisher-", getpid()).c_str(),
                        /*clean_session=*/true, this);
  mosquitto_connect_callback_set(mosq_, [](mosquitto*, void* self, int rc) {
    auto* p = static_cast<MqttPublisher*>(self);
    absl::MutexLock lock(&p->mu_);
    p->connected_ = rc == 0;
  });
  mosquitto_disconnect_callback_set(mosq_, [](mosquitto*, void* self, int) {
    auto* p = static_cast<MqttPublisher*>(self);
    absl::MutexLock lock(&p->mu_);
    p->connected_ = false;
  });
  mosquitto_publish_callback_set(mosq_, [](mosquitto*, void* self, int mid) {
    auto* p = static_cast<MqttPublisher*>(self);
    absl::MutexLock lock(&p->mu_);
    p->acknowledged_.insert(mid);
  });
  mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
  if (!ca_file.empty()) {
    mosquitto_tls_set(mosq_, ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
  }
  mosquitto_connect_async(mosq_, "127.0.0.1", port, 30);
  mosquitto_loop_start(mosq_);
}

MqttPublisher::~MqttPublisher() {
  mosquitto_disconnect(mosq_);
  mosquitto_loop_stop(mosq_, false);
  mosquitto_destroy(mosq_);
}

bool MqttPublisher::WaitConnected(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&connected_), timeout);
}

absl::Status MqttPublisher::Publish(const std::string& topic, const std::string& payload, int qos,
                                    absl::Duration timeout) {
  int mid = 0;
  const int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                   payload.data(), qos, /*retain=*/false);
  if (rc != MOSQ_ERR_SUCCESS) return absl::UnavailableError(mosquitto_strerror(rc));
  if (qos == 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  const auto acked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return acknowledged_.count(mid) > 0;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&acked), timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("no PUBACK for mid ", mid));
  }
  acknowledged_.erase(mid);
  return absl::OkStatus();
}

}  // namespace smartby::testing
