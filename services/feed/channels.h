// The feed's notification channels as the notifier sees them (notifier.h): a channel defined
// through the API (proto Channel: kind, target and, for webhooks and SMS, optionally its own
// signing key) plus the service's own configuration (the service-wide signing keys, the SMTP
// relay, the SMS gateway), which comes from flags and secret files. Keys and passwords are never
// returned by the API and never logged; a channel's own key is stored apart from the channel
// (store.h, ChannelSecret).
//
// Signing: a webhook or SMS channel with its own key is signed with it; one without, with the
// service-wide key of its kind (--webhook_secret_file, --sms_gateway_secret_file).
//
// StoreChannelDirectory looks channels up in the feed's store at every delivery attempt, so a
// changed configuration takes effect on the next retry. NotifierChannelTester implements
// TestChannel: it resolves the channel the same way, sends a test message directly (not
// through the outbox) and reports the outcome in plain language.
//
// Thread safety: thread-safe.
#ifndef SMARTBY_SERVICES_FEED_CHANNELS_H_
#define SMARTBY_SERVICES_FEED_CHANNELS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/feed/feed.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/runtime/clock.h"

namespace smartby::feed {

struct ChannelSettings {
  // HMAC key for X-Smartby-Signature of webhook channels without their own; empty: unsigned.
  std::string webhook_secret;
  std::string webhook_ca_file;
  // E-mail: host empty means the feed has no SMTP relay and e-mail channels cannot deliver.
  // `to` is ignored (each channel's target is the recipient).
  SmtpConfig smtp;
  std::string sms_gateway_url;  // empty: SMS channels cannot deliver
  std::string sms_gateway_secret;  // for SMS channels without their own key; empty: unsigned
};

// The notifier's channel for an API channel whose own key (store.h, ChannelSecret) is
// `own_secret` ("" for none). FAILED_PRECONDITION when the feed lacks the configuration that
// kind of channel needs (the message names the flag); INVALID_ARGUMENT when the result is not a
// valid channel.
absl::StatusOr<Channel> ToNotifierChannel(const v1::Channel& channel,
                                          absl::string_view own_secret,
                                          const ChannelSettings& settings);

class StoreChannelDirectory : public ChannelDirectory {
 public:
  // `store` and `settings` must outlive the directory.
  StoreChannelDirectory(FeedStore* store, const ChannelSettings* settings)
      : store_(store), settings_(settings) {}
  absl::StatusOr<Channel> Lookup(const std::string& channel_id) override;

 private:
  FeedStore* store_;
  const ChannelSettings* settings_;
};

// The test message TestChannel sends.
Message TestMessage(const v1::Channel& channel, absl::Time now);

class NotifierChannelTester : public ChannelTester {
 public:
  // Resolves the channel as StoreChannelDirectory does, so a test message is signed and sent as
  // an alarm's would be; a channel's own key is read from `keys` (nullptr: a channel with
  // has_secret cannot be tested). Everything passed in must outlive the tester.
  NotifierChannelTester(const ChannelSettings* settings, ChannelSender* sender, const Clock* clock,
                        FeedStore* keys = nullptr, absl::Duration timeout = absl::Seconds(10))
      : settings_(settings), keys_(keys), sender_(sender), clock_(clock), timeout_(timeout) {}
  // Always OK: delivered, or not with the reason in `detail`. Blocks up to the timeout (the
  // CallRunner runs it on its pool, never on a gRPC thread).
  absl::StatusOr<v1::TestChannelResponse> Test(const v1::Channel& channel) override;

 private:
  const ChannelSettings* settings_;
  FeedStore* keys_;
  ChannelSender* sender_;
  const Clock* clock_;
  const absl::Duration timeout_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_CHANNELS_H_
