// The feed's notification channels as the notifier sees them (notifier.h): a channel defined
// through the API (proto Channel: kind + target) plus the service's own configuration (the
// webhook signing secret, the SMTP relay, the SMS gateway), which comes from flags and secret
// files and is never stored with the channel, never returned by the API and never logged.
//
// StoreChannelDirectory looks channels up in the feed's store at every delivery attempt, so a
// changed configuration takes effect on the next retry. NotifierChannelTester implements
// TestChannel: it sends a test message directly (not through the outbox) and reports the
// outcome in plain language.
//
// Thread safety: thread-safe.
#ifndef SMARTBY_SERVICES_FEED_CHANNELS_H_
#define SMARTBY_SERVICES_FEED_CHANNELS_H_

#include <string>

#include "absl/status/statusor.h"
#include "services/feed/feed.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/runtime/clock.h"

namespace smartby::feed {

struct ChannelSettings {
  std::string webhook_secret;  // HMAC key for X-Smartby-Signature; empty: unsigned
  std::string webhook_ca_file;
  // E-mail: host empty means the feed has no SMTP relay and e-mail channels cannot deliver.
  // `to` is ignored (each channel's target is the recipient).
  SmtpConfig smtp;
  std::string sms_gateway_url;  // empty: SMS channels cannot deliver
  std::string sms_gateway_secret;
};

// The notifier's channel for an API channel. FAILED_PRECONDITION when the feed lacks the
// configuration that kind of channel needs (the message names the flag); INVALID_ARGUMENT when
// the result is not a valid channel.
absl::StatusOr<Channel> ToNotifierChannel(const v1::Channel& channel,
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
  NotifierChannelTester(const ChannelSettings* settings, ChannelSender* sender, const Clock* clock,
                        absl::Duration timeout = absl::Seconds(10))
      : settings_(settings), sender_(sender), clock_(clock), timeout_(timeout) {}
  // Always OK: delivered, or not with the reason in `detail`. Blocks up to the timeout (the
  // CallRunner runs it on its pool, never on a gRPC thread).
  absl::StatusOr<v1::TestChannelResponse> Test(const v1::Channel& channel) override;

 private:
  const ChannelSettings* settings_;
  ChannelSender* sender_;
  const Clock* clock_;
  const absl::Duration timeout_;
};

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_CHANNELS_H_
