// smartby-audit: wiring only — flags → runtime → database → store → log key → log → service.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/audit/audit_log.h"
#include "services/audit/audit_service.h"
#include "services/audit/audit_store.h"
#include "services/audit/checkpoint.h"
#include "services/runtime/log.h"
#include "services/runtime/server.h"
#include "services/runtime/startup.h"

ABSL_FLAG(std::string, log_origin, "smartby.example/audit",
          "the log's name: the origin line of its checkpoints and the name of its signing key");
ABSL_FLAG(std::string, checkpoint_key_file, "",
          "file holding the log's Ed25519 seed (32 bytes as 64 hex digits or base64); when "
          "empty, a seed is generated once and kept in the database");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Seconds(1),
          "sign a checkpoint at least this often while the log grows");
ABSL_FLAG(int64_t, checkpoint_entries, 4096,
          "sign a checkpoint at the latest after this many new entries");
ABSL_FLAG(int32_t, group_commit_max_entries, 512, "entries per group commit at most");
ABSL_FLAG(absl::Duration, group_commit_linger, absl::Milliseconds(2),
          "how long the sequencer waits for a fuller batch once an append has arrived");
ABSL_FLAG(int32_t, append_queue_entries, 50000,
          "entries waiting for the sequencer at most; beyond it Append answers "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, retention_min_index, 0,
          "entries below this index are no longer served (never rewritten; it never goes down)");
ABSL_FLAG(int32_t, tail_max_streams, 64, "concurrent TailEntries streams at most");
ABSL_FLAG(absl::Duration, tail_stall_timeout, absl::Seconds(30),
          "a tail stream whose reader has not taken a message for this long is ended");

namespace {

using smartby::FailStartup;

absl::StatusOr<std::string> ReadSeedFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint_key_file: cannot read ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text(absl::StripAsciiWhitespace(buffer.str()));
  std::string seed;
  if (text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    seed = absl::HexStringToBytes(text);
  } else if (!absl::Base64Unescape(text, &seed) || seed.size() != 32) {
    return absl::InvalidArgumentError(
        "--checkpoint_key_file: expected a 32-byte Ed25519 seed as 64 hex digits or base64");
  }
  return seed;
}

}  // namespace

int main(int argc, char** argv) {
  smartby::ServerRuntime runtime({.name = "audit", .grpc_port = 7005, .metrics_port = 9105},
                                 argc, argv);
  // An append is acknowledged only once durably committed: on SQLite that means synced to disk
  // on every commit (group commit keeps the syncs few), not only safe from a process crash.
  smartby::storage::DatabaseOptions database;
  database.sync_every_commit = true;
  auto db = runtime.OpenDatabase(database);
  if (!db.ok()) return FailStartup("cannot open database", db.status());
  auto store = smartby::audit::AuditStore::Open(*db);
  if (!store.ok()) return FailStartup("cannot prepare the audit schema", store.status());
  runtime.SetReadinessCheck([database = *db] { return database->Ping(); });

  const std::string origin = absl::GetFlag(FLAGS_log_origin);
  absl::StatusOr<smartby::audit::NoteSigner> signer = [&]()
      -> absl::StatusOr<smartby::audit::NoteSigner> {
    const std::string key_file = absl::GetFlag(FLAGS_checkpoint_key_file);
    if (!key_file.empty()) {
      auto seed = ReadSeedFile(key_file);
      if (!seed.ok()) return seed.status();
      return smartby::audit::NoteSigner::FromSeed(origin, *seed);
    }
    auto stored = (*store)->LoadLogKey(origin);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) return smartby::audit::NoteSigner::FromSeed(origin, **stored);
    auto fresh = smartby::audit::NoteSigner::Generate(origin);
    if (!fresh.ok()) return fresh.status();
    // Two replicas starting together agree on whichever seed was stored first.
    auto in_force = (*store)->StoreLogKey(origin, fresh->seed());
    if (!in_force.ok()) return in_force.status();
    smartby::log::Warn("generated the log's signing key and stored it in the database; use "
                       "--checkpoint_key_file in production",
                       {{"origin", origin}});
    return smartby::audit::NoteSigner::FromSeed(origin, *in_force);
  }();
  if (!signer.ok()) return FailStartup("cannot load the log's signing key", signer.status());

  smartby::audit::AuditLogOptions options;
  options.origin = origin;
  options.max_batch_entries = absl::GetFlag(FLAGS_group_commit_max_entries);
  options.linger = absl::GetFlag(FLAGS_group_commit_linger);
  options.max_queued_entries = absl::GetFlag(FLAGS_append_queue_entries);
  options.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  options.checkpoint_entries = absl::GetFlag(FLAGS_checkpoint_entries);
  options.retention_min_index = absl::GetFlag(FLAGS_retention_min_index);
  if (options.checkpoint_interval <= absl::ZeroDuration() || options.checkpoint_entries < 1) {
    return FailStartup("bad flags",
                       absl::InvalidArgumentError(
                           "--checkpoint_interval and --checkpoint_entries: must be positive"));
  }
  if (options.retention_min_index < 0) {
    return FailStartup("bad flags",
                       absl::InvalidArgumentError("--retention_min_index: must be 0 or more"));
  }

  smartby::SystemClock clock;
  smartby::audit::AuditLogMetrics metrics(*runtime.metrics());
  auto log = smartby::audit::AuditLog::Open(store->get(), *std::move(signer), &clock, options,
                                            &metrics);
  if (!log.ok()) return FailStartup("cannot open the audit log", log.status());

  smartby::audit::TailOptions tail;
  tail.max_streams = absl::GetFlag(FLAGS_tail_max_streams);
  tail.stall_timeout = absl::GetFlag(FLAGS_tail_stall_timeout);
  int code = 0;
  {
    smartby::CallRunner calls = runtime.NewCallRunner(&smartby::audit::AuditServicePolicy());
    smartby::audit::AuditService service(log->get(), std::move(calls), &runtime.pool(), tail);
    runtime.AddService(&service, &service.calls().policy());
    code = runtime.Run();
  }
  // Every call has finished: sequence what is still queued and sign a last checkpoint.
  (*log)->Stop();
  return code;
}
