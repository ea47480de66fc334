#include "services/feed/handover.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/runtime/log.h"

namespace smartby::feed {

namespace iv1 = ::smartcity::ingestion::v1;

HandoverConsumer::HandoverConsumer(std::shared_ptr<grpc::Channel> ingestion,
                                   std::shared_ptr<TokenProvider> tokens, FeedStore* store,
                                   Hub* hub, prometheus::Registry* metrics,
                                   HandoverOptions options)
    : stub_(iv1::IngestionService::NewStub(std::move(ingestion))),
      tokens_(std::move(tokens)),
      store_(store),
      hub_(hub),
      options_(options) {
  reconnects_ = &prometheus::BuildCounter()
                     .Name("smartby_feed_handover_reconnects_total")
                     .Help("Times the WatchReadings stream from ingestion was reopened")
                     .Register(*metrics)
                     .Add({});
}

HandoverConsumer::~HandoverConsumer() { Stop(); }

absl::Status HandoverConsumer::Start() {
  absl::StatusOr<int64_t> position = store_->HandoverPosition();
  if (!position.ok()) return position.status();
  recorded_ = *position;
  hub_->Restore(recorded_);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void HandoverConsumer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  Checkpoint(true);
}

void HandoverConsumer::Checkpoint(bool force) {
  const int64_t position =
      options_.recordable_position ? options_.recordable_position() : hub_->position();
  if (position <= recorded_) return;
  const absl::Time now = absl::Now();
  if (!force && now - last_checkpoint_ < options_.checkpoint_interval) return;
  if (absl::Status saved = store_->SetHandoverPosition(position); !saved.ok()) {
    log::Warn("hand-over position not recorded", {{"error", std::string(saved.message())}});
    return;
  }
  recorded_ = position;
  last_checkpoint_ = now;
}

void HandoverConsumer::Run() {
  absl::Duration backoff = options_.min_backoff;
  bool first = true;
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      current_ = &context;
    }
    iv1::WatchReadingsRequest request;
    int64_t after = hub_->position();
    if (first) {
      after = std::max<int64_t>(0, after - options_.warmup);
      hub_->WarmFrom(after);
    }
    request.set_after_position(after);
    bool token_ok = true;
    if (tokens_ != nullptr) {
      absl::StatusOr<std::string> token = tokens_->Token();
      if (token.ok()) {
        context.AddMetadata("authorization", absl::StrCat("Bearer ", *token));
      } else {
        token_ok = false;
        log::Warn("no service token for ingestion's WatchReadings",
                  {{"error", std::string(token.status().message())}});
      }
    }
    grpc::Status status;
    bool got_any = false;
    if (token_ok) {
      std::unique_ptr<grpc::ClientReader<iv1::WatchReadingsResponse>> reader =
          stub_->WatchReadings(&context, request);
      iv1::WatchReadingsResponse response;
      while (reader->Read(&response)) {
        got_any = true;
        first = false;
        backoff = options_.min_backoff;
        std::vector<iv1::PositionedReading> batch(
            std::make_move_iterator(response.mutable_readings()->begin()),
            std::make_move_iterator(response.mutable_readings()->end()));
        hub_->Publish(batch);
        Checkpoint(false);
      }
      status = reader->Finish();
    }
    {
      absl::MutexLock lock(&mu_);
      current_ = nullptr;
      if (stopping_) return;
    }
    if (got_any) first = false;
    Checkpoint(true);
    reconnects_->Increment();
    log::Warn("WatchReadings from ingestion ended; reconnecting",
              {{"code", std::to_string(status.error_code())},
               {"error", status.error_message()},
               {"position", std::to_string(hub_->position())},
               {"backoff_ms", std::to_string(absl::ToInt64Milliseconds(backoff))}});
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
      if (stopping_) return;
    }
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
}

}  // namespace smartby::feed
