#include "services/feed/channels.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace smartby::feed {

absl::StatusOr<Channel> ToNotifierChannel(const v1::Channel& channel,
                                          absl::string_view own_secret,
                                          const ChannelSettings& settings) {
  const auto key = [own_secret](const std::string& service_wide) {
    return own_secret.empty() ? service_wide : std::string(own_secret);
  };
  Channel out;
  out.id = channel.id();
  switch (channel.kind()) {
    case v1::CHANNEL_KIND_WEBHOOK:
      out.type = ChannelType::kWebhook;
      out.webhook.url = channel.target();
      out.webhook.secret = key(settings.webhook_secret);
      out.webhook.ca_file = settings.webhook_ca_file;
      break;
    case v1::CHANNEL_KIND_EMAIL:
      if (settings.smtp.host.empty()) {
        return absl::FailedPreconditionError(
            "e-mail channels need an SMTP relay: start the feed with --smtp_server and "
            "--smtp_from");
      }
      out.type = ChannelType::kEmail;
      out.email = settings.smtp;
      out.email.to = {channel.target()};
      break;
    case v1::CHANNEL_KIND_SMS:
      if (settings.sms_gateway_url.empty()) {
        return absl::FailedPreconditionError(
            "SMS channels need an SMS gateway: start the feed with --sms_gateway_url");
      }
      out.type = ChannelType::kSms;
      out.sms.gateway_url = settings.sms_gateway_url;
      out.sms.secret = key(settings.sms_gateway_secret);
      out.sms.to = channel.target();
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("channel ", channel.id(), ": unknown kind ", channel.kind()));
  }
  if (absl::Status valid = ValidateChannel(out); !valid.ok()) return valid;
  return out;
}

namespace {

// The notifier's channel for a stored channel, with its own key from `keys` when it has one.
absl::StatusOr<Channel> Resolve(const v1::Channel& channel, FeedStore* keys,
                                const ChannelSettings& settings) {
  std::string own_secret;
  if (channel.has_secret()) {
    if (keys != nullptr) {
      absl::StatusOr<std::string> secret = keys->ChannelSecret(channel.id());
      if (!secret.ok()) return secret.status();
      own_secret = *std::move(secret);
    }
    if (own_secret.empty()) {
      // Not the service-wide key instead: the receiver was given this channel's key and
      // would refuse a signature made with another.
      return absl::DataLossError(absl::StrCat(
          "channel ", channel.id(), " has its own signing key, but the key is missing"));
    }
  }
  return ToNotifierChannel(channel, own_secret, settings);
}

}  // namespace

absl::StatusOr<Channel> StoreChannelDirectory::Lookup(const std::string& channel_id) {
  absl::StatusOr<v1::Channel> channel = store_->GetChannel(channel_id);
  if (!channel.ok()) return channel.status();
  return Resolve(*channel, store_, *settings_);
}

Message TestMessage(const v1::Channel& channel, absl::Time now) {
  Message m;
  m.subject = "[Smartby] Test notification";
  m.text = absl::StrCat("This is a test of the notification channel \"",
                        channel.name().empty() ? channel.id() : channel.name(),
                        "\". Alarms of rules that use it will arrive like this.\n");
  nlohmann::json j = {
      {"type", "test"},
      {"channel_id", channel.id()},
      {"channel_name", channel.name()},
      {"time", absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone())},
  };
  m.json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return m;
}

absl::StatusOr<v1::TestChannelResponse> NotifierChannelTester::Test(const v1::Channel& channel) {
  v1::TestChannelResponse response;
  absl::StatusOr<Channel> resolved = Resolve(channel, keys_, *settings_);
  if (!resolved.ok()) {
    response.set_delivered(false);
    response.set_detail(absl::StrCat("Not sent: ", resolved.status().message()));
    return response;
  }
  const absl::Time now = clock_->Now();
  SendContext context;
  context.delivery_id = 0;
  context.attempt = 1;
  context.now = now;
  context.timeout = timeout_;
  const absl::Status sent = sender_->Send(*resolved, TestMessage(channel, now), context);
  response.set_delivered(sent.ok());
  if (sent.ok()) {
    response.set_detail(absl::StrCat("A test message was delivered to ", channel.target(), "."));
  } else {
    response.set_detail(absl::StrCat("The test message could not be delivered to ",
                                      channel.target(), ": ", sent.message()));
  }
  return response;
}

}  // namespace smartby::feed
