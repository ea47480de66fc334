#include "services/ingestion/mqtt_bridge.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/runtime/log.h"

namespace smartby::ingestion {
namespace {

// How long one mosquitto_loop() call may wait for the socket: the delay with which the bridge's
// thread notices Stop() and the connect timeout.
constexpr int kLoopTickMs = 100;
// How long Stop() gives the queued acknowledgements and the DISCONNECT to leave.
constexpr absl::Duration kDisconnectGrace = absl::Seconds(2);

void InitLibraryOnce() {
  // mosquitto_lib_init is not thread-safe; mosquitto_lib_cleanup is never called (process
  // lifetime).
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// Writes to a socket that the bridge shut down or the broker closed must fail with EPIPE instead
// of killing the process. SIGPIPE goes to the thread that wrote, so blocking it on the bridge's
// own thread is enough and leaves the rest of the process alone.
void BlockSigpipeOnThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string ErrorText(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

bool ValidUtf8(const std::string& text) {
  return mosquitto_validate_utf8(text.data(), static_cast<int>(text.size())) == MOSQ_ERR_SUCCESS;
}

absl::Status Validate(const MqttBridgeOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError("mqtt host: must not be empty");
  if (o.port < 1 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("mqtt port: must be 1..65535, got ", o.port));
  }
  if (o.topics.empty()) {
    return absl::InvalidArgumentError("mqtt topics: at least one subscription filter is needed");
  }
  for (size_t i = 0; i < o.topics.size(); ++i) {
    const std::string& t = o.topics[i];
    if (t.empty() || t.size() > 65535 || !ValidUtf8(t) ||
        mosquitto_sub_topic_check(t.c_str()) != MOSQ_ERR_SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mqtt topics[", i, "] \"", t,
          "\": not a valid subscription filter (UTF-8; '+' and '#' only as whole levels, '#' "
          "only last)"));
    }
  }
  if (o.client_id.empty()) {
    return absl::InvalidArgumentError(
        "mqtt client_id: required, and stable across restarts, so that the broker keeps the "
        "session");
  }
  if (o.client_id.size() > 65535 || !ValidUtf8(o.client_id)) {
    return absl::InvalidArgumentError("mqtt client_id: must be UTF-8 of at most 65535 bytes");
  }
  if (!o.password.empty() && o.username.empty()) {
    return absl::InvalidArgumentError("mqtt password: needs a username (MQTT 3.1.1)");
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("mqtt cert_file and key_file: give both or neither");
  }
  if (!o.cert_file.empty() && o.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "mqtt cert_file: a client certificate needs TLS, i.e. ca_file as well");
  }
  if (o.keepalive_seconds < 5 || o.keepalive_seconds > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("mqtt keepalive_seconds: must be 5..65535, got ", o.keepalive_seconds));
  }
  if (o.reconnect_min <= absl::ZeroDuration() || o.reconnect_max < o.reconnect_min) {
    return absl::InvalidArgumentError(
        "mqtt reconnect_min/reconnect_max: need 0 < reconnect_min <= reconnect_max");
  }
  if (o.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("mqtt connect_timeout: must be positive");
  }
  if (o.max_payload_bytes == 0) {
    return absl::InvalidArgumentError("mqtt max_payload_bytes: must be positive");
  }
  return absl::OkStatus();
}

prometheus::Family<prometheus::Counter>& MessagesFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("smartby_ingestion_mqtt_messages_total")
      .Help("MQTT messages by outcome: handled (handler returned OK), retry (not acknowledged, "
            "delivered again later), oversize (payload too large, dropped), lost (QoS 0 message "
            "the handler failed on)")
      .Register(registry);
}

}  // namespace

MqttBridge::MqttBridge(MqttBridgeOptions options, MqttMessageHandler handler,
                       prometheus::Registry* registry)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      own_registry_(registry == nullptr ? std::make_shared<prometheus::Registry>() : nullptr),
      registry_(registry != nullptr ? *registry : *own_registry_),
      connected_gauge_(prometheus::BuildGauge()
                           .Name("smartby_ingestion_mqtt_connected")
                           .Help("1 while the MQTT bridge is connected to the broker, else 0")
                           .Register(registry_)
                           .Add({})),
      handled_(MessagesFamily(registry_).Add({{"outcome", "handled"}})),
      retried_(MessagesFamily(registry_).Add({{"outcome", "retry"}})),
      oversize_(MessagesFamily(registry_).Add({{"outcome", "oversize"}})),
      lost_(MessagesFamily(registry_).Add({{"outcome", "lost"}})),
      reconnects_(prometheus::BuildCounter()
                      .Name("smartby_ingestion_mqtt_reconnects_total")
                      .Help("Connections to the MQTT broker established after the first one")
                      .Register(registry_)
                      .Add({})) {}

absl::StatusOr<std::unique_ptr<MqttBridge>> MqttBridge::Start(MqttBridgeOptions options,
                                                              MqttMessageHandler handler,
                                                              prometheus::Registry* registry) {
  if (!handler) return absl::InvalidArgumentError("mqtt handler: required");
  if (absl::Status valid = Validate(options); !valid.ok()) return valid;
  InitLibraryOnce();
  std::unique_ptr<MqttBridge> bridge(
      new MqttBridge(std::move(options), std::move(handler), registry));
  if (absl::Status configured = bridge->Configure(); !configured.ok()) return configured;
  bridge->connected_gauge_.Set(0);
  bridge->thread_ = std::thread([b = bridge.get()] { b->Run(); });
  return bridge;
}

absl::Status MqttBridge::Configure() {
  // clean_session=false: the broker keeps the subscriptions and every unacknowledged QoS 1
  // message for this client id while the bridge is away.
  mosq_ = mosquitto_new(options_.client_id.c_str(), /*clean_session=*/false, this);
  if (mosq_ == nullptr) {
    return absl::InternalError(absl::StrCat("mqtt: cannot create client: ", std::strerror(errno)));
  }
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  // The ordering that makes ack-after-handler work; see the header comment.
  mosquitto_threaded_set(mosq_, true);
  if (!options_.username.empty()) {
    const int rc = mosquitto_username_pw_set(
        mosq_, options_.username.c_str(),
        options_.password.empty() ? nullptr : options_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("mqtt username/password: rejected by libmosquitto: ", ErrorText(rc)));
    }
  }
  if (!options_.ca_file.empty()) {
    int rc = mosquitto_tls_set(mosq_, options_.ca_file.c_str(), /*capath=*/nullptr,
                               options_.cert_file.empty() ? nullptr : options_.cert_file.c_str(),
                               options_.key_file.empty() ? nullptr : options_.key_file.c_str(),
                               /*pw_callback=*/nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mqtt ca_file/cert_file/key_file: cannot use them (", ErrorText(rc),
          "); are the files there and readable? ca_file=", options_.ca_file,
          " cert_file=", options_.cert_file, " key_file=", options_.key_file));
    }
    // 1 = SSL_VERIFY_PEER; "tlsv1.2" means TLS 1.2 or later in libmosquitto.
    rc = mosquitto_tls_opts_set(mosq_, 1, "tlsv1.2", /*ciphers=*/nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return absl::InternalError(absl::StrCat("mqtt: cannot set TLS options: ", ErrorText(rc)));
    }
    mosquitto_tls_insecure_set(mosq_, false);  // check the broker's host name
  }
  mosquitto_connect_with_flags_callback_set(mosq_, &MqttBridge::OnConnectThunk);
  mosquitto_disconnect_callback_set(mosq_, &MqttBridge::OnDisconnectThunk);
  mosquitto_subscribe_callback_set(mosq_, &MqttBridge::OnSubscribeThunk);
  mosquitto_message_callback_set(mosq_, &MqttBridge::OnMessageThunk);
  return absl::OkStatus();
}

MqttBridge::~MqttBridge() {
  Stop();
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
}

void MqttBridge::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

bool MqttBridge::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

bool MqttBridge::WaitForSubscribed(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return connected_ && subscribed_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

bool MqttBridge::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void MqttBridge::WaitOrStop(absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  absl::MutexLock lock(&mu_);
  while (!stopping_ && !stop_cv_.WaitWithDeadline(&mu_, deadline)) {
  }
}

absl::Duration MqttBridge::ReconnectBackoff(int failures, const MqttBridgeOptions& options,
                                            absl::BitGenRef random) {
  absl::Duration wait = options.reconnect_min;
  for (int i = 1; i < failures && wait < options.reconnect_max; ++i) wait *= 2;
  wait = std::min(wait, options.reconnect_max);
  return wait * absl::Uniform(random, 0.5, 1.0);
}

void MqttBridge::Run() {
  BlockSigpipeOnThisThread();
  absl::BitGen random;
  bool first_attempt = true;
  std::string last_failure;
  log::Info("mqtt bridge connecting",
            {{"host", options_.host},
             {"port", int64_t{options_.port}},
             {"client_id", options_.client_id},
             {"tls", !options_.ca_file.empty()},
             {"topics", absl::StrJoin(options_.topics, ",")}});
  while (!stopping()) {
    connected_this_round_ = false;
    redelivery_requested_ = false;
    disconnect_reason_.clear();
    const int rc = first_attempt ? mosquitto_connect_async(mosq_, options_.host.c_str(),
                                                           options_.port,
                                                           options_.keepalive_seconds)
                                 : mosquitto_reconnect_async(mosq_);
    first_attempt = false;
    if (rc == MOSQ_ERR_SUCCESS) {
      RunConnection();
    } else {
      disconnect_reason_ = ErrorText(rc);
    }
    if (stopping()) break;
    {
      absl::MutexLock lock(&mu_);
      connected_ = false;
      subscribed_ = false;
    }
    connected_gauge_.Set(0);

    ++failures_;
    const absl::Duration wait = ReconnectBackoff(failures_, options_, random);
    const int64_t wait_ms = absl::ToInt64Milliseconds(wait);
    if (connected_this_round_) {
      if (redelivery_requested_) {
        log::Info("mqtt reconnecting so that unacknowledged messages come again",
                  {{"retry_in_ms", wait_ms}, {"attempt", int64_t{failures_}}});
      } else {
        log::Warn("mqtt connection lost",
                  {{"reason", disconnect_reason_}, {"retry_in_ms", wait_ms}});
      }
      last_failure.clear();
    } else {
      // Repeated identical failures while the broker is away are one state, logged once at
      // warning level; the attempts after it at debug level.
      const bool news = disconnect_reason_ != last_failure;
      log::Write(news ? log::Level::kWarn : log::Level::kDebug, "mqtt connect failed",
                 {{"host", options_.host},
                  {"port", int64_t{options_.port}},
                  {"reason", disconnect_reason_},
                  {"attempt", int64_t{failures_}},
                  {"retry_in_ms", wait_ms}});
      last_failure = disconnect_reason_;
    }
    WaitOrStop(wait);
  }
  Disconnect();
}

void MqttBridge::RunConnection() {
  const absl::Time connect_deadline = absl::Now() + options_.connect_timeout;
  while (!stopping()) {
    const int rc = mosquitto_loop(mosq_, kLoopTickMs, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (disconnect_reason_.empty()) disconnect_reason_ = ErrorText(rc);
      return;
    }
    if (!connected_this_round_ && absl::Now() > connect_deadline) {
      // The next mosquitto_reconnect_async() closes this socket.
      disconnect_reason_ = absl::StrCat("no CONNACK within ",
                                        absl::FormatDuration(options_.connect_timeout));
      return;
    }
  }
}

void MqttBridge::Disconnect() {
  // DISCONNECT is queued behind the acknowledgements of every message handled so far, so they
  // leave first. Not after a redelivery request: that socket is shut down on purpose.
  if (!redelivery_requested_ && mosquitto_socket(mosq_) >= 0) {
    if (mosquitto_disconnect(mosq_) == MOSQ_ERR_SUCCESS) {
      const absl::Time deadline = absl::Now() + kDisconnectGrace;
      while (absl::Now() < deadline && mosquitto_loop(mosq_, kLoopTickMs, 1) == MOSQ_ERR_SUCCESS &&
             mosquitto_socket(mosq_) >= 0) {
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    connected_ = false;
    subscribed_ = false;
  }
  connected_gauge_.Set(0);
  log::Info("mqtt bridge stopped", {{"client_id", options_.client_id}});
}

void MqttBridge::OnConnect(int rc, int flags) {
  if (rc != 0) {
    // The library closes the connection after this callback.
    disconnect_reason_ =
        absl::StrCat("broker refused the connection: ", mosquitto_connack_string(rc));
    return;
  }
  connected_this_round_ = true;
  {
    absl::MutexLock lock(&mu_);
    connected_ = true;
    subscribed_ = false;
  }
  connected_gauge_.Set(1);
  if (ever_connected_) reconnects_.Increment();
  ever_connected_ = true;
  const bool session_present = (flags & 1) != 0;
  // After a cut for redelivery the backoff goes on growing until the message that failed is
  // handled (see OnMessage); otherwise a database outage would mean a reconnect every
  // reconnect_min. Without the old session that message is gone, and so is the reason.
  if (!session_present) retry_pending_ = false;
  if (!retry_pending_) failures_ = 0;
  log::Info("mqtt connected", {{"host", options_.host},
                               {"port", int64_t{options_.port}},
                               {"client_id", options_.client_id},
                               {"session_present", session_present}});

  // Subscribe on every connect: the broker may have lost the session (no persistence, or an
  // expired session), and subscribing again to an existing subscription is harmless.
  std::vector<char*> filters;
  filters.reserve(options_.topics.size());
  for (const std::string& t : options_.topics) filters.push_back(const_cast<char*>(t.c_str()));
  int mid = 0;
  const int sub_rc = mosquitto_subscribe_multiple(mosq_, &mid, static_cast<int>(filters.size()),
                                                  filters.data(), /*qos=*/1, /*options=*/0,
                                                  /*properties=*/nullptr);
  if (sub_rc != MOSQ_ERR_SUCCESS) {
    log::Error("mqtt subscribe failed", {{"reason", ErrorText(sub_rc)}});
    disconnect_reason_ = absl::StrCat("subscribe failed: ", ErrorText(sub_rc));
    shutdown(mosquitto_socket(mosq_), SHUT_RDWR);
    return;
  }
  subscribe_mid_ = mid;
}

void MqttBridge::OnDisconnect(int rc) {
  if (disconnect_reason_.empty()) {
    disconnect_reason_ = rc == 0 ? "disconnected" : ErrorText(rc);
  }
  {
    absl::MutexLock lock(&mu_);
    connected_ = false;
    subscribed_ = false;
  }
  connected_gauge_.Set(0);
}

void MqttBridge::OnSubscribe(int mid, int qos_count, const int* granted_qos) {
  if (mid != subscribe_mid_) return;
  bool all_granted = true;
  for (int i = 0; i < qos_count && i < static_cast<int>(options_.topics.size()); ++i) {
    if (granted_qos[i] > 2) {  // 0x80: refused, e.g. by the broker's ACL
      all_granted = false;
      log::Error("mqtt broker refused a subscription", {{"topic", options_.topics[i]}});
    } else if (granted_qos[i] == 0) {
      log::Warn("mqtt broker granted only QoS 0 for a subscription: messages may be lost",
                {{"topic", options_.topics[i]}});
    }
  }
  if (!all_granted) return;
  {
    absl::MutexLock lock(&mu_);
    subscribed_ = true;
  }
  log::Info("mqtt subscribed", {{"topics", absl::StrJoin(options_.topics, ",")}});
}

void MqttBridge::OnMessage(const mosquitto_message& message) {
  const absl::string_view topic = message.topic != nullptr ? message.topic : "";
  const size_t size = message.payloadlen > 0 ? static_cast<size_t>(message.payloadlen) : 0;
  if (redelivery_requested_) {
    // Read after a failed one on a connection that is being cut: no acknowledgement can leave
    // any more, so the broker delivers it again; do not hand it over twice.
    (message.qos > 0 ? retried_ : lost_).Increment();
    return;
  }
  if (size > options_.max_payload_bytes) {
    oversize_.Increment();
    log::Warn("mqtt message dropped: payload too large",
              {{"topic", std::string(topic)},
               {"bytes", static_cast<int64_t>(size)},
               {"limit", static_cast<int64_t>(options_.max_payload_bytes)}});
    return;
  }
  const absl::string_view payload(static_cast<const char*>(message.payload), size);
  absl::Status status;
  // An exception must not unwind through libmosquitto's C frames; treat it as "not handled".
  try {
    status = handler_(topic, payload);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    status = absl::InternalError("handler threw");
  }
  if (status.ok()) {
    handled_.Increment();
    // Messages that were handled before the failed one but whose acknowledgements were cut off
    // with it come again and succeed again; only the failed message itself succeeding shows
    // that the handler recovered. The broker resends it under the same packet id.
    if (!retry_pending_ || (message.mid == retry_mid_ && topic == retry_topic_)) {
      retry_pending_ = false;
      failures_ = 0;
    }
    return;
  }
  if (message.qos == 0) {
    lost_.Increment();
    log::Error("mqtt QoS 0 message not handled; it cannot be delivered again",
               {{"topic", std::string(topic)},
                {"code", absl::StatusCodeToString(status.code())},
                {"error", std::string(status.message())}});
    return;
  }
  retried_.Increment();
  log::Warn("mqtt message not handled; it will be delivered again",
            {{"topic", std::string(topic)},
             {"code", absl::StatusCodeToString(status.code())},
             {"error", std::string(status.message())}});
  // Cut the connection before this message's queued PUBACK can be written (see the header).
  redelivery_requested_ = true;
  retry_pending_ = true;
  retry_mid_ = message.mid;
  retry_topic_ = std::string(topic);
  disconnect_reason_ = "handler asked for redelivery";
  shutdown(mosquitto_socket(mosq_), SHUT_RDWR);
}

void MqttBridge::OnConnectThunk(mosquitto*, void* self, int rc, int flags) {
  static_cast<MqttBridge*>(self)->OnConnect(rc, flags);
}
void MqttBridge::OnDisconnectThunk(mosquitto*, void* self, int rc) {
  static_cast<MqttBridge*>(self)->OnDisconnect(rc);
}
void MqttBridge::OnSubscribeThunk(mosquitto*, void* self, int mid, int qos_count,
                                  const int* granted_qos) {
  static_cast<MqttBridge*>(self)->OnSubscribe(mid, qos_count, granted_qos);
}
void MqttBridge::OnMessageThunk(mosquitto*, void* self, const mosquitto_message* message) {
  static_cast<MqttBridge*>(self)->OnMessage(*message);
}

}  // namespace smartby::ingestion
