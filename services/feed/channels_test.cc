// Channels end to end inside the feed: CreateChannel validates and stores a channel's own
// signing key and never returns it; the notifier's directory and TestChannel sign with it, else
// with the service-wide key. Real store (SQLite and PostgreSQL), real HTTP receiver.
#include "services/feed/channels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "services/feed/feed.h"
#include "services/feed/notifier.h"
#include "services/feed/store.h"
#include "services/runtime/auth/test_callers.h"
#include "services/runtime/clock.h"
#include "services/runtime/storage/test_databases.h"
#include "tests/support/http_sink.h"

namespace smartby::feed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kServiceKey[] = "service-wide-key-0123456789abcdef";
constexpr char kSmsGatewayKey[] = "sms-gateway-key-0123456789abcdefg";
constexpr char kOwnKey[] = "this-channels-own-key-0123456789abcdef";

ChannelSettings Settings() {
  ChannelSettings settings;
  settings.webhook_secret = kServiceKey;
  settings.sms_gateway_url = "https://sms.example.no/send";
  settings.sms_gateway_secret = kSmsGatewayKey;
  return settings;
}

v1::Channel ApiChannel(v1::ChannelKind kind, const std::string& target) {
  v1::Channel c;
  c.set_id("channel-1");
  c.set_name("vakt");
  c.set_kind(kind);
  c.set_target(target);
  return c;
}

TEST(ChannelSigning, OwnKeyWinsOverTheServiceWideKey) {
  const ChannelSettings settings = Settings();
  const v1::Channel web = ApiChannel(v1::CHANNEL_KIND_WEBHOOK, "https://hooks.example.no/a");
  absl::StatusOr<Channel> own = ToNotifierChannel(web, kOwnKey, settings);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->webhook.secret, kOwnKey);
  absl::StatusOr<Channel> shared = ToNotifierChannel(web, "", settings);
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->webhook.secret, kServiceKey);

  const v1::Channel sms = ApiChannel(v1::CHANNEL_KIND_SMS, "+4791234567");
  EXPECT_EQ(ToNotifierChannel(sms, kOwnKey, settings)->sms.secret, kOwnKey);
  EXPECT_EQ(ToNotifierChannel(sms, "", settings)->sms.secret, kSmsGatewayKey);
}

TEST(ChannelValidation, SecretIsLongEnoughAndOnlyForSignedKinds) {
  v1::Channel web = ApiChannel(v1::CHANNEL_KIND_WEBHOOK, "https://hooks.example.no/a");
  web.set_secret("kort-hemmelig");
  const absl::Status short_key = ValidateChannel(web);
  EXPECT_EQ(short_key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_key.message()), HasSubstr("channel.secret"));
  EXPECT_THAT(std::string(short_key.message()), Not(HasSubstr("kort-hemmelig")))
      << "the key is never put in a message";
  web.set_secret(std::string(31, 'k'));
  EXPECT_EQ(ValidateChannel(web).code(), absl::StatusCode::kInvalidArgument);
  web.set_secret(std::string(32, 'k'));
  EXPECT_TRUE(ValidateChannel(web).ok());

  v1::Channel sms = ApiChannel(v1::CHANNEL_KIND_SMS, "+4791234567");
  sms.set_secret(kOwnKey);
  EXPECT_TRUE(ValidateChannel(sms).ok());

  v1::Channel mail = ApiChannel(v1::CHANNEL_KIND_EMAIL, "vakt@kommune.no");
  mail.set_secret(kOwnKey);
  const absl::Status on_email = ValidateChannel(mail);
  EXPECT_EQ(on_email.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(on_email.message()), HasSubstr("channel.secret"));
}

class ChannelStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto store = OpenSqlFeedStore(storage::testing::NewTestDatabase(GetParam()));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    directory_ = std::make_unique<StoreChannelDirectory>(store_.get(), &settings_);
    tester_ =
        std::make_unique<NotifierChannelTester>(&settings_, &sender_, &clock_, store_.get());
    FeedDeps deps;
    deps.store = store_.get();
    deps.clock = &clock_;
    deps.channel_tester = tester_.get();
    feed_ = std::make_unique<Feed>(deps);
  }

  v1::Channel Create(v1::ChannelKind kind, const std::string& target, const std::string& secret) {
    v1::Channel c;
    c.set_name("vakt");
    c.set_kind(kind);
    c.set_target(target);
    c.set_secret(secret);
    absl::StatusOr<v1::Channel> created = feed_->CreateChannel(auth::testing::AdminCaller(), c);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : v1::Channel();
  }

  SettableClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  ChannelSettings settings_ = Settings();
  NetworkSender sender_;
  std::unique_ptr<FeedStore> store_;
  std::unique_ptr<StoreChannelDirectory> directory_;
  std::unique_ptr<NotifierChannelTester> tester_;
  std::unique_ptr<Feed> feed_;
};

TEST_P(ChannelStoreTest, CreateChannelKeepsTheKeyAndAnswersOnlyThatThereIsOne) {
  const v1::Channel created =
      Create(v1::CHANNEL_KIND_WEBHOOK, "https://hooks.example.no/a", kOwnKey);
  EXPECT_TRUE(created.secret().empty());
  EXPECT_TRUE(created.has_secret());
  const v1::Channel plain = Create(v1::CHANNEL_KIND_WEBHOOK, "https://hooks.example.no/b", "");
  EXPECT_FALSE(plain.has_secret());

  absl::StatusOr<v1::ListChannelsResponse> listed =
      feed_->ListChannels(auth::testing::AdminCaller(), {});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->channels_size(), 2);
  for (const v1::Channel& c : listed->channels()) {
    EXPECT_TRUE(c.secret().empty()) << c.id();
    EXPECT_EQ(c.has_secret(), c.id() == created.id()) << c.id();
  }

  // The outbox's directory signs with the channel's own key, or the service-wide one.
  absl::StatusOr<Channel> own = directory_->Lookup(created.id());
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->webhook.secret, kOwnKey);
  absl::StatusOr<Channel> shared = directory_->Lookup(plain.id());
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->webhook.secret, kServiceKey);

  v1::Channel too_short;
  too_short.set_kind(v1::CHANNEL_KIND_WEBHOOK);
  too_short.set_target("https://hooks.example.no/c");
  too_short.set_secret("for-kort");
  EXPECT_EQ(feed_->CreateChannel(auth::testing::AdminCaller(), too_short).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(feed_->ListChannels(auth::testing::AdminCaller(), {})->channels_size(), 2)
      << "nothing stored";
}

TEST_P(ChannelStoreTest, TestChannelIsSignedWithTheChannelsOwnKey) {
  testing::HttpSink receiver;
  const v1::Channel created = Create(v1::CHANNEL_KIND_WEBHOOK, receiver.url("/own"), kOwnKey);
  absl::StatusOr<v1::TestChannelResponse> tested =
      feed_->TestChannel(auth::testing::AdminCaller(), created.id());
  ASSERT_TRUE(tested.ok()) << tested.status();
  EXPECT_TRUE(tested->delivered()) << tested->detail();
  ASSERT_TRUE(receiver.WaitForRequests(1, absl::Seconds(10)));
  const testing::HttpRequest request = receiver.requests()[0];
  EXPECT_EQ(request.headers.at("x-smartby-signature"), WebhookSignature(kOwnKey, request.body));
  EXPECT_NE(request.headers.at("x-smartby-signature"),
            WebhookSignature(kServiceKey, request.body));
}

INSTANTIATE_TEST_SUITE_P(Engines, ChannelStoreTest,
                         ::testing::ValuesIn(storage::testing::EnginesUnderTest()));

}  // namespace
}  // namespace smartby::feed
