// `smartctl status`: asks every known service's gRPC health check whether it is serving.
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/smartctl/commands.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"
#include "cli/smartctl/services.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace smartby::smartctl {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

struct ServiceStatus {
  std::string service;
  std::string endpoint;
  std::string status;  // SERVING, NOT_SERVING, UNKNOWN, UNREACHABLE
  std::string detail;
};

ServiceStatus Check(ServiceClient& client, const ServiceInfo& service) {
  ServiceStatus result{service.name, "", "UNREACHABLE", ""};
  result.endpoint = client.endpoint().address;
  auto stub = Health::NewStub(client.channel());
  HealthCheckRequest request;
  request.set_service(service.grpc_service);
  // Health is public: no token, so an expired login does not get in the way of `status`.
  absl::StatusOr<HealthCheckResponse> response =
      client.Call(*stub, &Health::Stub::Check, request, CallOptions{.anonymous = true});
  if (!response.ok()) {
    if (ExitCodeOf(response.status()) == kExitUnreachable) {
      result.status = "UNREACHABLE";
    } else if (absl::IsNotFound(response.status())) {
      result.status = "UNKNOWN";  // reachable, but it does not know this service
    } else {
      result.status = "ERROR";
    }
    result.detail = std::string(response.status().message());
    return result;
  }
  result.status = HealthCheckResponse::ServingStatus_Name(response->status());
  return result;
}

absl::Status RunStatus(CommandContext& context) {
  // Resolve every endpoint first, so that a usage error (say, --insecure towards a remote host)
  // is reported as such before anything is called.
  // Every known service, or only those named on the command line.
  std::vector<const ServiceInfo*> services;
  for (const std::string& name : context.args()) {
    const ServiceInfo* service = FindService(name);
    if (service == nullptr) {
      std::string known;
      for (const auto& s : KnownServices()) absl::StrAppend(&known, known.empty() ? "" : ", ", s.name);
      return context.Usage(absl::StrCat("unknown service \"", name, "\"; known: ", known));
    }
    services.push_back(service);
  }
  if (services.empty()) {
    for (const auto& service : KnownServices()) services.push_back(&service);
  }
  std::vector<std::unique_ptr<ServiceClient>> clients;
  for (const ServiceInfo* service : services) {
    absl::StatusOr<std::unique_ptr<ServiceClient>> client = context.Connect(service->name);
    if (!client.ok()) return client.status();
    clients.push_back(std::move(*client));
  }
  std::vector<ServiceStatus> statuses;
  for (size_t i = 0; i < clients.size(); ++i) {
    statuses.push_back(Check(*clients[i], *services[i]));
  }

  if (context.output() == OutputFormat::kTable) {
    Table table({"SERVICE", "ENDPOINT", "STATUS"});
    for (const auto& s : statuses) table.AddRow({s.service, s.endpoint, s.status});
    table.Print(context.out());
  } else {
    YAML::Node list(YAML::NodeType::Sequence);
    for (const auto& s : statuses) {
      YAML::Node node;
      node["service"] = s.service;
      node["endpoint"] = s.endpoint;
      node["status"] = s.status;
      if (!s.detail.empty()) node["detail"] = s.detail;
      list.push_back(node);
    }
    YAML::Node root;
    root["services"] = list;
    if (context.output() == OutputFormat::kJson) {
      context.out() << YamlNodeToJson(root);
    } else {
      YAML::Emitter emitter;
      emitter << root;
      context.out() << emitter.c_str() << "\n";
    }
  }

  int unreachable = 0, unhealthy = 0;
  for (const auto& s : statuses) {
    if (s.status == "SERVING") continue;
    if (!s.detail.empty()) context.err() << s.service << ": " << s.detail << "\n";
    (s.status == "UNREACHABLE" ? unreachable : unhealthy)++;
  }
  if (unreachable > 0) {
    return UnreachableError(
        absl::StrCat(unreachable, " of ", statuses.size(), " services cannot be reached"));
  }
  if (unhealthy > 0) {
    return ServiceError(
        absl::StatusCode::kUnavailable,
        absl::StrCat(unhealthy, " of ", statuses.size(), " services are not serving"), "");
  }
  return absl::OkStatus();
}

}  // namespace

void AddStatusCommand(Registry& registry) {
  registry.nouns.push_back({"status", "whether each Smartby service is up and serving"});
  Command status;
  status.noun = "status";
  status.args = "[SERVICE...]";
  status.max_args = -1;
  status.summary = "check each service's health";
  status.description =
      "Asks each service's gRPC health check whether it is serving and shows one line per\n"
      "service: SERVING, NOT_SERVING, UNKNOWN (reachable, but the service is not registered\n"
      "there) or UNREACHABLE. Exits 3 when any service cannot be reached, 1 when any is not\n"
      "serving, 0 when all are. Name services to check only those.\n\n"
      "Examples:\n"
      "  smartctl status\n"
      "  smartctl --server 127.0.0.1:7001 --insecure status catalogue\n"
      "  smartctl --insecure status            # services on this machine without TLS\n"
      "  smartctl --context prod status -o json";
  status.run = RunStatus;
  registry.commands.push_back(std::move(status));
}

}  // namespace smartby::smartctl
